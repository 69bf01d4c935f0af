//! Bedrock Guardrails: the definition CreateGuardrail states, its DRAFT and immutable numbered
//! versions in the metadata store, and the policy engine ApplyGuardrail runs.
//!
//! Owns: checks beyond what the service model can say (name patterns, regexes that compile within
//! a size limit), the stored GetGuardrail shape, and the evaluation of each policy on text —
//! content filters by classifier heads over sentence vectors (`content`), custom words and the
//! managed PROFANITY list (`words`), PII entities and custom regexes (`pii`, `names`), denied
//! topics matched by embedding similarity (`topics`), contextual grounding and relevance of an
//! answer against the request's grounding source and query (`grounding`) — into ApplyGuardrail's
//! answer (`apply`). Knows nothing of HTTP; models come in through [`Embedder`].
//!
//! `inline` runs a guardrail around Converse and InvokeModel calls, and checks single texts for
//! callers that guard their own (RetrieveAndGenerate); `streaming` runs one over ConverseStream
//! and InvokeModelWithResponseStream answers as they are generated, batch by batch, in Bedrock's
//! `sync` or `async` processing mode.
//!
//! Contextual grounding scores with a small sentence embedder plus lexical evidence; its measured
//! accuracy (GROUNDING 52/54, RELEVANCE 50/54 on a held-out labelled set at threshold 0.5) and
//! its blind spots are in `grounding`'s docs.
//!
//! Not evaluated yet, and never reported as if it were: automated reasoning. A guardrail may
//! configure it (stored and returned by GetGuardrail), but ApplyGuardrail's assessments carry no
//! `automatedReasoningPolicy` entry and its usage units stay 0, so a caller can see that nothing
//! judged the text on those grounds.

mod apply;
mod content;
mod definition;
mod grounding;
mod inline;
mod input_tags;
mod names;
mod operations;
mod pii;
mod service;
mod streaming;
mod topics;
mod words;

pub use apply::{ApplyRequest, ContentSource, OutputScope, TextBlock};
pub use content::{Confidence, ContentClassifier, FILTER_TYPES};
pub use definition::Policies;
pub use grounding::{grounding_scores, GroundingFeatures, GroundingScores, SentenceFeatures};
pub use inline::{
    refuse_guard_content_without_guardrail, GuardedOutput, InlineGuardrail, TextVerdict,
};
pub use service::{Guardrails, Page};
pub use streaming::{GuardOutcome, GuardedChunks, GuardedEvent, GuardedStream, StreamMode};
pub use topics::{Embedder, RuntimeEmbedder, TOPIC_THRESHOLD};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum GuardrailError {
    /// The request breaks a rule of the service (AWS `ValidationException`).
    #[error("{0}")]
    Validation(String),
    /// No such guardrail or version (AWS `ResourceNotFoundException`).
    #[error("{0}")]
    NotFound(String),
    /// A name already taken (AWS `ConflictException`).
    #[error("{0}")]
    Conflict(String),
    /// More tags than a resource may carry (AWS `TooManyTagsException`).
    #[error("{0}")]
    TooManyTags(String),
    #[error(transparent)]
    Store(#[from] basalt_store::StoreError),
    /// The model a guarded call went to refused or failed.
    #[error(transparent)]
    Model(#[from] basalt_models::ModelError),
    /// The embedding model behind denied topics failed or is missing: not the caller's fault.
    #[error("{0}")]
    Embedding(String),
    /// Something on this server is broken (a stored document of the wrong shape).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = GuardrailError> = std::result::Result<T, E>;
