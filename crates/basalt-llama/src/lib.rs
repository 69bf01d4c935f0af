//! basalt-llama: the local inference engine. It owns a llama.cpp model on a dedicated OS thread
//! fed by a bounded queue (the shape continuous batching needs), the model's chat template, the
//! sampling chain, stop sequences, streaming detokenization, and constrained decoding (JSON
//! Schema → GBNF grammar, so tool inputs and structured outputs are valid by construction).
//!
//! It is a pure engine: it knows nothing of Bedrock, HTTP or basalt's domain types. The caller
//! maps Converse/InvokeModel shapes onto [`ChatTurn`] and [`GenerationRequest`], and
//! [`EngineError`] variants onto Bedrock errors.

mod chat;
mod engine;
mod error;
mod grammar;
mod request;
mod text;
mod worker;

pub use chat::{ChatTurn, FALLBACK_CHATML_TEMPLATE};
pub use engine::{EngineConfig, LlamaEngine, ModelInfo, DEFAULT_CONTEXT_CAP};
pub use error::EngineError;
pub use grammar::{json_schema_to_gbnf, tool_call_gbnf, tool_calls_gbnf, Grammar, ToolCall};
pub use request::{
    Completion, Finish, FinishReason, GenerationEvent, GenerationRequest, GenerationStream,
    Sampling,
};
