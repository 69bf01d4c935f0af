//! Bedrock's four services as Rust types: one module per service with every input and output
//! shape its operations use, a trait with one method per operation, and `dispatch`, which
//! decodes a bound input, calls the method and encodes the answer.
//!
//! The modules under `generated/` are written by `basalt-service-models`' code generator from
//! the botocore models it embeds (`tests/generated.rs` fails when they are out of date;
//! `cargo run -p basalt-service-models --example generate_api` rewrites them). This crate owns only the
//! support types the generated code names; it knows nothing of HTTP or of what the operations
//! mean.

mod support;

pub use support::{
    Blob, DateTime, Dispatch, Document, EpochSeconds, NotImplemented, RequestContext,
};

// Generated files are compared byte for byte with the generator's output: rustfmt keeps off.
#[rustfmt::skip]
#[path = "generated/bedrock.rs"]
pub mod bedrock;
#[rustfmt::skip]
#[path = "generated/bedrock_agent.rs"]
pub mod bedrock_agent;
#[rustfmt::skip]
#[path = "generated/bedrock_agent_runtime.rs"]
pub mod bedrock_agent_runtime;
#[rustfmt::skip]
#[path = "generated/bedrock_runtime.rs"]
pub mod bedrock_runtime;
