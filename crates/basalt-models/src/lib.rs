//! Models: the catalog that maps Bedrock model ids to served models, the provider trait they
//! sit behind, the local llama.cpp and embedding providers, remote providers (OpenAI-compatible,
//! Anthropic), and the bedrock-runtime domain service on top.
//!
//! Owns Bedrock's runtime semantics (conversation rules, limits, body formats via
//! `basalt-codecs`); knows nothing about HTTP or AWS wire details.

pub mod catalog;
mod control_plane;
pub mod embedding;
mod error;
pub mod local;
mod provider;
pub mod remote;
pub mod runtime;
pub mod tools;

pub use catalog::{Catalog, FoundationModel, InvokeFormat};
pub use embedding::{EmbeddingProvider, TextEmbedding};
pub use error::{ModelError, UpstreamFailure};
pub use provider::{
    collect_stream, ChatProvider, EventStream, ModelLimits, NativeAnswer, NativeInvoke,
    ProviderConfig, WithFallback,
};
pub use runtime::{
    BedrockRuntime, ChunkStream, CountTokensInput, Embeddings, InvokeOutput, ServedModel,
};
