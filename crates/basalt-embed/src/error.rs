//! The engine's one error type. Variants carry plain data so the caller can map each onto a
//! Bedrock error (`ValidationException`, `ThrottlingException`, ...) without string matching.

/// Everything that can go wrong between loading a model and returning a vector.
///
/// `Clone` because one failed batched forward pass has to be reported to every request in it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmbedError {
    /// The model directory is incomplete, a file in it is malformed, or candle refused the weights.
    #[error("model could not be loaded: {0}")]
    ModelLoad(String),
    /// The request queue holds `depth` requests already; the caller should throttle.
    #[error("the embedding queue is full ({depth} waiting)")]
    QueueFull { depth: usize },
    /// A text is longer than the model takes and truncation was not asked for.
    #[error(
        "input text {index} is {tokens} tokens long, more than the model's limit of {max_tokens}"
    )]
    InputTooLong {
        /// Position of the text in the request.
        index: usize,
        tokens: u32,
        max_tokens: u32,
    },
    /// The request is malformed (for example, no texts).
    #[error("invalid embedding request: {0}")]
    InvalidRequest(String),
    /// The tokenizer failed on a text.
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    /// candle failed during the forward pass.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The engine thread is gone (it panicked, or every handle was dropped while work was queued).
    #[error("the embedding engine has stopped")]
    Stopped,
}
