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

    /// `<BASALT_MODELS_DIR or /tmp/basalt-models>/<name>` when it holds the model. `None` (the
    /// caller skips, saying so) only when BASALT_MODELS_DIR is unset: a set one that lacks the
    /// model is a broken setup, and panics.
    pub fn model_dir(name: &str) -> Option<PathBuf> {
        let (root, from_env) = match std::env::var_os("BASALT_MODELS_DIR") {
            Some(root) => (PathBuf::from(root), true),
            None => (PathBuf::from("/tmp/basalt-models"), false),
        };
        let dir = root.join(name);
        if dir.join("model.safetensors").is_file() {
            return Some(dir);
        }
        assert!(
            !from_env,
            "BASALT_MODELS_DIR is set but {} holds no model.safetensors",
            dir.display()
        );
        eprintln!(
            "SKIPPED: no embedding model at {}; run `basalt models fetch` or set BASALT_MODELS_DIR",
            dir.display()
        );
        None
    }
}
