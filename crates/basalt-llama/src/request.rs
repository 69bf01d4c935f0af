//! What a caller asks the engine for and what it gets back, token by token.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::EngineError;

/// One completion to generate from an already rendered prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// The full prompt text; special tokens such as `<|im_start|>` are parsed as tokens.
    pub prompt: String,
    /// Upper bound on generated tokens; at least 1.
    pub max_tokens: u32,
    pub sampling: Sampling,
    /// Generation ends as soon as the output contains one of these; it is not part of the text.
    pub stop_sequences: Vec<String>,
}

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 means greedy: always the most likely token, fully deterministic.
    pub temperature: f32,
    /// Nucleus sampling; 1.0 turns it off.
    pub top_p: f32,
    /// Keep only the k most likely tokens; 0 turns it off.
    pub top_k: u32,
    /// Seed of the random draw, so sampled output is reproducible. `u32::MAX` is llama.cpp's
    /// "pick a random seed".
    pub seed: u32,
}

impl Sampling {
    /// Deterministic decoding.
    pub const GREEDY: Sampling = Sampling {
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        seed: 0,
    };
}

impl Default for Sampling {
    fn default() -> Self {
        Self::GREEDY
    }
}

/// One step of a generation, in order: `Started`, any number of `Text`, then `Finished`.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    /// The engine took the request off the queue and is reading the prompt.
    Started {
        prompt_tokens: u32,
    },
    /// Newly generated text: valid UTF-8, never containing (part of) a stop sequence.
    Text(String),
    Finished(Finish),
}

/// Why a generation ended, with its token counts and timings.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub reason: FinishReason,
    pub prompt_tokens: u32,
    /// Tokens sampled, including an end-of-turn token when that is what ended the generation.
    pub completion_tokens: u32,
    /// Time spent reading the prompt, up to and including sampling the first token.
    pub prefill: Duration,
    /// Time from the first token to the end of the generation.
    pub decode: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// The model produced an end-of-generation token (EOS, `<|im_end|>`, ...).
    EndOfTurn,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The output contained this stop sequence.
    StopSequence(String),
}

/// A whole generation, gathered from its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub finish: Finish,
}

/// The events of one generation. Dropping it cancels the generation: the engine notices at
/// its next token and frees the sequence's slot.
#[derive(Debug)]
pub struct GenerationStream {
    events: UnboundedReceiver<Result<GenerationEvent, EngineError>>,
}

impl GenerationStream {
    pub(crate) fn new(events: UnboundedReceiver<Result<GenerationEvent, EngineError>>) -> Self {
        Self { events }
    }

    /// The next event; `None` after `Finished` or an error.
    pub async fn recv(&mut self) -> Option<Result<GenerationEvent, EngineError>> {
        self.events.recv().await
    }

    /// The next event, for callers outside an async runtime.
    pub fn blocking_recv(&mut self) -> Option<Result<GenerationEvent, EngineError>> {
        self.events.blocking_recv()
    }

    /// The underlying channel, e.g. to wrap in a `Stream` adapter.
    pub fn into_inner(self) -> UnboundedReceiver<Result<GenerationEvent, EngineError>> {
        self.events
    }

    /// Waits for the whole generation and returns its text and finish.
    pub async fn collect(mut self) -> Result<Completion, EngineError> {
        let mut text = String::new();
        while let Some(event) = self.recv().await {
            match event? {
                GenerationEvent::Started { .. } => {}
                GenerationEvent::Text(piece) => text.push_str(&piece),
                GenerationEvent::Finished(finish) => return Ok(Completion { text, finish }),
            }
        }
        Err(EngineError::Stopped)
    }
}
