//! The model's own thread. It owns the one `LlamaContext` (reused across requests: building a
//! context costs far more than clearing a sequence's KV cache) and runs a loop: admit queued
//! requests into free sequence slots, prefill each new prompt, then decode one token for every
//! running sequence in a single batch. With `max_sequences` 1 this is plain serial generation;
//! above 1 it is continuous batching of the decode steps.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::vocab::LlamaVocab;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{Receiver, UnboundedSender};

use crate::text::{StopScanner, Utf8Stream};
use crate::{EngineError, Finish, FinishReason, GenerationEvent, Sampling};

/// Largest prompt chunk given to one `llama_decode` call.
const MAX_BATCH: u32 = 2048;
/// Largest physical batch; llama.cpp's default, a good fit for CPU matmuls.
const MAX_UBATCH: u32 = 512;

/// A checked, tokenized request waiting for a sequence slot.
pub(crate) struct Work {
    pub(crate) prompt: Vec<LlamaToken>,
    pub(crate) max_tokens: u32,
    pub(crate) sampling: Sampling,
    pub(crate) stop_sequences: Vec<String>,
    /// A parsed grammar sampler; it goes first in the sequence's chain.
    pub(crate) grammar: Option<LlamaSampler>,
    pub(crate) events: UnboundedSender<Result<GenerationEvent, EngineError>>,
}

pub(crate) struct WorkerConfig {
    pub(crate) threads: usize,
    /// Per sequence.
    pub(crate) context_length: NonZeroU32,
    pub(crate) max_sequences: usize,
}

/// Starts the model thread and waits until its context exists, so load errors reach the caller.
pub(crate) fn spawn(
    model: Arc<LlamaModel>,
    backend: &'static LlamaBackend,
    config: WorkerConfig,
    queue: Receiver<Work>,
) -> Result<(), EngineError> {
    let (ready, started) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("basalt-llama".to_string())
        .spawn(move || {
            let sequences = u32::try_from(config.max_sequences).unwrap_or(u32::MAX);
            // Each sequence gets its own `context_length` of KV cache.
            let n_ctx = config
                .context_length
                .saturating_mul(NonZeroU32::new(sequences).unwrap_or(NonZeroU32::MIN));
            let n_batch = config.context_length.get().min(MAX_BATCH).max(sequences);
            let threads = i32::try_from(config.threads).unwrap_or(i32::MAX);
            let params = LlamaContextParams::default()
                .with_n_ctx(Some(n_ctx))
                .with_n_batch(n_batch)
                .with_n_ubatch(n_batch.min(MAX_UBATCH))
                .with_n_seq_max(sequences)
                .with_n_threads(threads)
                .with_n_threads_batch(threads);
            let context = match model.new_context(backend, params) {
                Ok(context) => context,
                Err(e) => {
                    let _ = ready.send(Err(EngineError::ModelLoad(format!("context: {e}"))));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            let n_batch = usize::try_from(n_batch).unwrap_or(usize::MAX);
            Worker {
                model: &model,
                context,
                batch: LlamaBatch::new(n_batch, 1),
                n_batch,
                free_slots: (0..i32::try_from(config.max_sequences).unwrap_or(i32::MAX))
                    .rev()
                    .collect(),
            }
            .run(queue);
            tracing::debug!("llama engine thread stopped");
        })
        .map_err(|e| EngineError::ModelLoad(format!("engine thread: {e}")))?;
    started
        .recv()
        .map_err(|_| EngineError::ModelLoad("engine thread exited while starting".to_string()))?
}

struct Worker<'m> {
    model: &'m LlamaModel,
    context: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    /// Sequence ids not in use; a sequence's id is its KV cache partition.
    free_slots: Vec<i32>,
}

impl Worker<'_> {
    fn run(mut self, mut queue: Receiver<Work>) {
        let mut running: Vec<Sequence> = Vec::new();
        let mut queue_open = true;
        loop {
            while queue_open && !self.free_slots.is_empty() {
                let work = if running.is_empty() {
                    // Idle: sleep until work arrives or every handle is gone.
                    match queue.blocking_recv() {
                        Some(work) => work,
                        None => {
                            queue_open = false;
                            break;
                        }
                    }
                } else {
                    match queue.try_recv() {
                        Ok(work) => work,
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            queue_open = false;
                            break;
                        }
                    }
                };
                if let Some(sequence) = self.start(work) {
                    running.push(sequence);
                }
            }
            if running.is_empty() {
                if queue_open {
                    continue;
                }
                return;
            }
            self.decode_step(&mut running);
        }
    }

    /// Takes a slot, reads the prompt and samples the first token. `None` when the sequence
    /// already ended (one-token answer, client gone, decode error).
    fn start(&mut self, work: Work) -> Option<Sequence> {
        let Some(seq_id) = self.free_slots.pop() else {
            let _ = work.events.send(Err(EngineError::Decode(
                "no free sequence slot".to_string(),
            )));
            return None;
        };
        let prompt_tokens = u32::try_from(work.prompt.len()).unwrap_or(u32::MAX);
        if work
            .events
            .send(Ok(GenerationEvent::Started { prompt_tokens }))
            .is_err()
        {
            self.release(seq_id);
            return None;
        }
        let started = Instant::now();
        let logits_index = match self.prefill(seq_id, &work.prompt) {
            Ok(index) => index,
            Err(error) => {
                let _ = work.events.send(Err(error));
                self.release(seq_id);
                return None;
            }
        };
        let mut sequence = Sequence {
            seq_id,
            position: i32::try_from(work.prompt.len()).unwrap_or(i32::MAX),
            last_token: LlamaToken::new(0),
            logits_index,
            sampler: sampler(&work.sampling),
            grammar: work.grammar,
            prompt_tokens,
            max_tokens: work.max_tokens,
            generated: 0,
            utf8: Utf8Stream::default(),
            stops: StopScanner::new(&work.stop_sequences),
            events: work.events,
            prefill: Duration::ZERO,
            decode_started: started,
        };
        let token = sequence.sample(&self.context, logits_index, &self.model.vocab());
        sequence.prefill = started.elapsed();
        sequence.decode_started = Instant::now();
        if sequence.accept(token, &self.model.vocab()) {
            Some(sequence)
        } else {
            self.release(seq_id);
            None
        }
    }

    /// Decodes the prompt in chunks of `n_batch`; returns the batch index holding the logits of
    /// its last token.
    fn prefill(&mut self, seq_id: i32, prompt: &[LlamaToken]) -> Result<i32, EngineError> {
        let last = prompt.len().saturating_sub(1);
        let mut logits_index = 0;
        for (chunk_number, chunk) in prompt.chunks(self.n_batch).enumerate() {
            self.batch.clear();
            for (offset, token) in chunk.iter().enumerate() {
                let at = chunk_number * self.n_batch + offset;
                let position = i32::try_from(at).map_err(|e| EngineError::Decode(e.to_string()))?;
                self.batch
                    .add(*token, position, &[seq_id], at == last)
                    .map_err(|e| EngineError::Decode(e.to_string()))?;
                if at == last {
                    logits_index =
                        i32::try_from(offset).map_err(|e| EngineError::Decode(e.to_string()))?;
                }
            }
            self.context
                .decode(&mut self.batch)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
        }
        Ok(logits_index)
    }

    /// One token for every running sequence, in one `llama_decode` call.
    fn decode_step(&mut self, running: &mut Vec<Sequence>) {
        // A client that went away costs no more compute.
        self.finish_where(running, |sequence| sequence.events.is_closed());
        if running.is_empty() {
            return;
        }
        self.batch.clear();
        let mut added = Ok(());
        for (index, sequence) in running.iter_mut().enumerate() {
            sequence.logits_index = i32::try_from(index).unwrap_or(i32::MAX);
            added = added.and_then(|()| {
                self.batch
                    .add(
                        sequence.last_token,
                        sequence.position,
                        &[sequence.seq_id],
                        true,
                    )
                    .map_err(|e| e.to_string())
            });
        }
        let decoded = added.and_then(|()| {
            self.context
                .decode(&mut self.batch)
                .map_err(|e| e.to_string())
        });
        if let Err(error) = decoded {
            tracing::warn!(%error, sequences = running.len(), "llama decode failed");
            for sequence in running.iter() {
                let _ = sequence
                    .events
                    .send(Err(EngineError::Decode(error.clone())));
            }
            self.finish_where(running, |_| true);
            return;
        }
        let vocab = self.model.vocab();
        let mut ended = Vec::new();
        for sequence in running.iter_mut() {
            sequence.position += 1;
            let token = sequence.sample(&self.context, sequence.logits_index, &vocab);
            if !sequence.accept(token, &vocab) {
                ended.push(sequence.seq_id);
            }
        }
        self.finish_where(running, |sequence| ended.contains(&sequence.seq_id));
    }

    /// Removes the matching sequences and frees their slots.
    fn finish_where(&mut self, running: &mut Vec<Sequence>, ended: impl Fn(&Sequence) -> bool) {
        let mut index = 0;
        while index < running.len() {
            if ended(&running[index]) {
                let sequence = running.swap_remove(index);
                self.release(sequence.seq_id);
            } else {
                index += 1;
            }
        }
    }

    fn release(&mut self, seq_id: i32) {
        let cleared = u32::try_from(seq_id)
            .map_err(|e| e.to_string())
            .and_then(|id| {
                self.context
                    .clear_kv_cache_seq(Some(id), None, None)
                    .map_err(|e| e.to_string())
            });
        if let Err(error) = cleared {
            // Stale cache entries would leak into the next request on this slot: start over.
            tracing::warn!(%error, seq_id, "clearing a sequence failed; clearing the whole KV cache");
            self.context.clear_kv_cache();
        }
        self.free_slots.push(seq_id);
    }
}

/// temperature 0 is greedy; otherwise top-k, then top-p, then temperature, then a seeded draw.
fn sampler(sampling: &Sampling) -> LlamaSampler {
    if sampling.temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    let mut chain = Vec::with_capacity(4);
    if sampling.top_k > 0 {
        chain.push(LlamaSampler::top_k(
            i32::try_from(sampling.top_k).unwrap_or(i32::MAX),
        ));
    }
    if sampling.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(sampling.top_p, 1));
    }
    chain.push(LlamaSampler::temp(sampling.temperature));
    chain.push(LlamaSampler::dist(sampling.seed));
    LlamaSampler::chain_simple(chain)
}

/// One generation in progress.
struct Sequence {
    seq_id: i32,
    /// Position the next fed token takes.
    position: i32,
    last_token: LlamaToken,
    logits_index: i32,
    sampler: LlamaSampler,
    /// Kept out of `sampler`'s chain: see [`Sequence::sample`].
    grammar: Option<LlamaSampler>,
    prompt_tokens: u32,
    max_tokens: u32,
    generated: u32,
    utf8: Utf8Stream,
    stops: StopScanner,
    events: UnboundedSender<Result<GenerationEvent, EngineError>>,
    prefill: Duration,
    decode_started: Instant,
}

impl Sequence {
    /// The next token. Under a grammar this is llama.cpp's own trick (`common_sampler_sample`):
    /// checking the grammar against all ~50k vocabulary entries costs far more than a decode
    /// step of a small model, so the unconstrained pick is tried first and the whole vocabulary
    /// is filtered only when the grammar rejects it. Either way the token is one the grammar
    /// allows, drawn from the constrained distribution whenever the free pick was not allowed.
    fn sample(
        &mut self,
        context: &LlamaContext<'_>,
        index: i32,
        vocab: &LlamaVocab<'_>,
    ) -> LlamaToken {
        let Some(grammar) = self.grammar.as_mut() else {
            return self.sampler.sample(context, index);
        };
        let mut candidates = context.token_data_array_ith(index);
        let mut free = candidates.clone();
        free.apply_sampler(&mut self.sampler);
        let allowed = |token: LlamaToken, grammar: &mut LlamaSampler| {
            let mut single =
                LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 0.0, 0.0)], false);
            single.apply_sampler(grammar);
            single.data.first().is_some_and(|d| d.logit().is_finite())
        };
        let token = match free.selected_token() {
            Some(token) if allowed(token, grammar) => token,
            _ => {
                candidates.apply_sampler(grammar);
                candidates.apply_sampler(&mut self.sampler);
                let picked = candidates
                    .selected
                    .and_then(|i| candidates.data.get(i))
                    .filter(|d| d.logit().is_finite())
                    .map(LlamaTokenData::id);
                match picked {
                    Some(token) => token,
                    // The grammar allows nothing (a dead end the vocabulary cannot spell):
                    // end the turn rather than feed the grammar a token it rejects, which
                    // llama.cpp answers by aborting the process.
                    None => return vocab.eos(),
                }
            }
        };
        // Once the value is complete, whitespace could only trail it: a small model that
        // would rather keep talking spends up to the grammar's whitespace bound on blanks.
        if allowed(vocab.eos(), grammar)
            && vocab
                .token_to_piece(token, false, None)
                .iter()
                .all(u8::is_ascii_whitespace)
        {
            return vocab.eos();
        }
        self.sampler.accept(token);
        // An end-of-generation token is only ever allowed once the grammar is complete, and it
        // ends the sequence: nothing to advance.
        if !vocab.is_eog(token) {
            grammar.accept(token);
        }
        token
    }

    /// Streams a sampled token's text; `false` when the sequence is over (finished or its
    /// client went away).
    fn accept(&mut self, token: LlamaToken, vocab: &LlamaVocab<'_>) -> bool {
        self.generated += 1;
        if vocab.is_eog(token) {
            return self.finish(FinishReason::EndOfTurn);
        }
        // Control tokens render as nothing: they are not part of the answer.
        let text = self.utf8.push(&vocab.token_to_piece(token, false, None));
        let scanned = self.stops.push(&text);
        if !self.send_text(scanned.text) {
            return false;
        }
        if let Some(stop) = scanned.stop {
            return self.finish(FinishReason::StopSequence(stop));
        }
        if self.generated >= self.max_tokens {
            return self.finish(FinishReason::MaxTokens);
        }
        self.last_token = token;
        true
    }

    /// Flushes held-back text and sends `Finished`. Always `false`: the sequence is over.
    fn finish(&mut self, mut reason: FinishReason) -> bool {
        let rest = self.utf8.finish();
        let scanned = self.stops.push(&rest);
        let mut text = scanned.text;
        match scanned.stop {
            Some(stop) => reason = FinishReason::StopSequence(stop),
            None => text.push_str(&self.stops.finish()),
        }
        if self.send_text(text) {
            let _ = self.events.send(Ok(GenerationEvent::Finished(Finish {
                reason,
                prompt_tokens: self.prompt_tokens,
                completion_tokens: self.generated,
                prefill: self.prefill,
                decode: self.decode_started.elapsed(),
            })));
        }
        false
    }

    /// `false` when the client dropped its stream.
    fn send_text(&self, text: String) -> bool {
        text.is_empty() || self.events.send(Ok(GenerationEvent::Text(text))).is_ok()
    }
}
