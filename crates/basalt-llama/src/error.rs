//! The engine's one error type. Variants carry plain data so the caller can map each onto a
//! Bedrock error (`ValidationException`, `ThrottlingException`, ...) without string matching.

/// Everything that can go wrong between loading a model and streaming its last token.
///
/// `Clone` because one failed batched decode has to be reported to every sequence in the batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The model file could not be read or llama.cpp refused it, or no context could be made.
    #[error("model could not be loaded: {0}")]
    ModelLoad(String),
    /// The request queue holds `depth` requests already; the caller should throttle.
    #[error("the engine's request queue is full ({depth} waiting)")]
    QueueFull { depth: usize },
    /// The prompt plus the requested completion does not fit the context window.
    #[error(
        "prompt of {prompt_tokens} tokens plus max_tokens {max_tokens} exceeds the context length of {context_length}"
    )]
    ContextOverflow {
        prompt_tokens: u32,
        max_tokens: u32,
        context_length: u32,
    },
    /// The chat template failed to render (syntax error, or the template called `raise_exception`).
    #[error("chat template error: {0}")]
    Template(String),
    /// The request is malformed (empty prompt, zero max_tokens, sampling out of range).
    #[error("invalid generation request: {0}")]
    InvalidRequest(String),
    /// llama.cpp failed while decoding a batch.
    #[error("decode failed: {0}")]
    Decode(String),
    /// The engine thread is gone (it panicked, or every handle was dropped while work was queued).
    #[error("the engine has stopped")]
    Stopped,
}
