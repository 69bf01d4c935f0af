//! basalt-embed: the local embedding engine. It owns a BERT-family sentence-transformers model
//! (candle, CPU) on a dedicated OS thread fed by a bounded queue; concurrent requests are
//! batched into one forward pass. It reads the model directory the way sentence-transformers
//! does (`modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`) so vectors match.
//!
//! It is a pure engine: it knows nothing of Bedrock or HTTP. The caller maps InvokeModel bodies
//! (Titan, Cohere) onto [`EmbedOptions`] and [`EmbedError`] variants onto Bedrock errors.

mod bert;
mod engine;
mod error;
mod model;
mod worker;

pub use engine::{
    EmbedOptions, Embedding, EmbeddingConfig, EmbeddingEngine, EmbeddingModelInfo, Truncate,
};
pub use error::EmbedError;
pub use model::Pooling;

/// For the tests and examples of crates that run the real model.
#[cfg(feature = "test-support")]
pub mod test_support {
    use std::path::PathBuf;

    /// `<BASALT_MODELS_DIR or /tmp/basalt-models>/<name>` when it holds the model. Missing, it
    /// fails the test under `BASALT_REQUIRE_MODELS=1` (make test) or when BASALT_MODELS_DIR is
    /// set (a broken setup), and is a counted skip otherwise.
    pub fn model_dir(name: &str) -> Option<PathBuf> {
        let (root, from_env) = match std::env::var_os("BASALT_MODELS_DIR") {
            Some(root) => (PathBuf::from(root), true),
            None => (PathBuf::from("/tmp/basalt-models"), false),
        };
        let dir = root.join(name);
        let weights = dir.join("model.safetensors");
        assert!(
            !from_env || weights.is_file(),
            "BASALT_MODELS_DIR is set but {} holds no model.safetensors",
            dir.display()
        );
        basalt_test_support::require_model(
            weights,
            "run `basalt models fetch` (or `make models`), or set BASALT_MODELS_DIR",
        )
        .map(|_| dir)
    }
}
