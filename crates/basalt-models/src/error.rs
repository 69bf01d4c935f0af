use basalt_codecs::CodecError;
use thiserror::Error;

/// Everything that can go wrong between a model id and a model's answer.
/// The server maps each variant to one AWS error; messages follow Bedrock's wording.
#[derive(Debug, Error)]
pub enum ModelError {
    /// Startup problems: a bad catalog, a model file that is not there.
    #[error("{0}")]
    Config(String),
    #[error("The provided model identifier is invalid.")]
    UnknownModel(String),
    /// A catalog resource that is not a model (an inference profile) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The id exists in Bedrock's catalog but nothing in basalt serves it.
    #[error("The model {model_id} is not served by this basalt: {reason}")]
    NotServed { model_id: String, reason: String },
    #[error("{0}")]
    Validation(String),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(
        "Input is too long for requested model: the prompt is {prompt_tokens} tokens and the response may use up to \
         {max_tokens} more, over the model's context window of {context_length} tokens. Shorten the input or lower maxTokens."
    )]
    ContextWindowExceeded {
        prompt_tokens: u32,
        max_tokens: u32,
        context_length: u32,
    },
    #[error("Too many requests are waiting for {model}; the queue holds {queue_depth}. Wait and try again.")]
    Throttled { model: String, queue_depth: usize },
    /// The model failed while it was generating.
    #[error("The model failed while generating: {0}")]
    Generation(String),
    /// A remote model server (OpenAI-compatible, Anthropic, Bedrock) failed after retries and
    /// fallbacks; `failure` says how, which decides the AWS error.
    #[error("{message}")]
    Upstream {
        failure: UpstreamFailure,
        message: String,
    },
}

/// How a remote model server failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// It answered 429 (rate limited) on every attempt.
    Throttled,
    /// It did not answer within the served model's timeout.
    Timeout,
    /// It is up but its model is still loading (503 while starting).
    NotReady,
    /// It could not be reached, or answered 5xx on every attempt.
    Unavailable,
    /// It answered something that is not a valid answer: malformed JSON, a cut stream.
    BadAnswer,
    /// It refused the request as invalid (400, 404, 422): the client's request, passed on.
    Rejected,
    /// It refused basalt's own credentials (401, 403): a configuration problem of this server.
    Unauthorized,
}
