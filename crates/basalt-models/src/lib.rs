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

/// Runs CPU-heavy work (prompt rendering, document extraction, tokenizing, regex passes) without
/// stalling the async worker it is called on: on the multi-threaded runtime the worker first
/// hands its other tasks to the rest of the pool (`block_in_place`); elsewhere (a
/// single-threaded test runtime) it simply runs.
pub fn cpu_bound<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod cpu_bound_tests {
    use super::cpu_bound;

    #[test]
    fn runs_outside_a_runtime() {
        assert_eq!(cpu_bound(|| 2 + 2), 4);
    }

    #[tokio::test]
    async fn runs_on_a_single_threaded_runtime() {
        assert_eq!(cpu_bound(|| 2 + 2), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hands_the_worker_off_on_the_multi_threaded_runtime() {
        // Borrowing works (no 'static): the work runs in place.
        let text = String::from("abc");
        assert_eq!(cpu_bound(|| text.len()), 3);
    }
}
