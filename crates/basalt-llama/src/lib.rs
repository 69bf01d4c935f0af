//! basalt-llama: the local inference engine. It owns a llama.cpp model on a dedicated OS thread
//! fed by a bounded queue (the shape continuous batching needs), the model's chat template, the
//! sampling chain, stop sequences and streaming detokenization.
//!
//! It is a pure engine: it knows nothing of Bedrock, HTTP or basalt's domain types. The caller
//! maps Converse/InvokeModel shapes onto [`ChatTurn`] and [`GenerationRequest`], and
//! [`EngineError`] variants onto Bedrock errors.

mod chat;
mod engine;
mod error;
mod request;
mod text;
mod worker;

pub use chat::{ChatTurn, FALLBACK_CHATML_TEMPLATE};
pub use engine::{EngineConfig, LlamaEngine, ModelInfo, DEFAULT_CONTEXT_CAP};
pub use error::EngineError;
pub use request::{
    Completion, Finish, FinishReason, GenerationEvent, GenerationRequest, GenerationStream,
    Sampling,
};
