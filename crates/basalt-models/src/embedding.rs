//! Embedding models: the provider trait they sit behind and the local sentence-transformers one.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use basalt_codecs::Truncate;
use basalt_embed::{EmbedError, EmbedOptions, EmbeddingConfig, EmbeddingEngine};
use serde::Deserialize;

use crate::ModelError;

/// One text's vector at the model's native size, and the tokens it took.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEmbedding {
    pub vector: Vec<f32>,
    pub tokens: u32,
}

#[async_trait]
pub trait EmbeddingProvider: Send + Sync {
    /// Length of the vectors the model itself produces.
    fn native_dimensions(&self) -> u32;

    /// The model's Hugging Face `tokenizer.json`, when it has one here (local models): knowledge
    /// bases size chunks in the embedding model's own tokens.
    fn tokenizer_path(&self) -> Option<PathBuf> {
        None
    }

    async fn embed(
        &self,
        texts: Vec<String>,
        truncate: Truncate,
    ) -> Result<Vec<TextEmbedding>, ModelError>;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalEmbeddingConfig {
    /// The sentence-transformers model directory, relative to the models directory.
    pub dir: PathBuf,
    pub name: String,
    /// 0 uses every core.
    #[serde(default)]
    pub threads: usize,
    /// Texts embedded together in one forward pass, across concurrent requests.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
}

fn default_max_batch() -> usize {
    32
}
fn default_queue_depth() -> usize {
    64
}

pub struct LocalEmbeddingProvider {
    name: String,
    model_dir: PathBuf,
    engine: EmbeddingEngine,
}

impl LocalEmbeddingProvider {
    pub fn start(
        name: &str,
        config: &LocalEmbeddingConfig,
        models_dir: &Path,
    ) -> Result<Self, ModelError> {
        let model_dir = models_dir.join(&config.dir);
        if !model_dir.join("model.safetensors").is_file() {
            return Err(ModelError::Config(format!(
                "embedding model {} for served model `{name}` is missing; fetch it with `basalt models fetch --models-dir {}` (or `make models`)",
                model_dir.display(),
                models_dir.display()
            )));
        }
        let engine = EmbeddingEngine::start(EmbeddingConfig {
            model_dir: model_dir.clone(),
            threads: config.threads,
            max_batch: config.max_batch,
            queue_depth: config.queue_depth,
        })
        .map_err(|e| ModelError::Config(format!("loading served model `{name}`: {e}")))?;
        Ok(LocalEmbeddingProvider {
            name: name.to_string(),
            model_dir,
            engine,
        })
    }
}

#[async_trait]
impl EmbeddingProvider for LocalEmbeddingProvider {
    fn native_dimensions(&self) -> u32 {
        self.engine.info().dimensions
    }

    fn tokenizer_path(&self) -> Option<PathBuf> {
        Some(self.model_dir.join("tokenizer.json")).filter(|path| path.is_file())
    }

    async fn embed(
        &self,
        texts: Vec<String>,
        truncate: Truncate,
    ) -> Result<Vec<TextEmbedding>, ModelError> {
        let options = EmbedOptions {
            truncate: match truncate {
                Truncate::None => basalt_embed::Truncate::None,
                Truncate::Start => basalt_embed::Truncate::Start,
                Truncate::End => basalt_embed::Truncate::End,
            },
            ..EmbedOptions::for_model(self.engine.info())
        };
        let embeddings = self.engine.embed(texts, options).await.map_err(|e| match e {
            EmbedError::QueueFull { depth } => ModelError::Throttled { model: self.name.clone(), queue_depth: depth },
            EmbedError::InputTooLong { index, tokens, max_tokens } => ModelError::Validation(format!(
                "Input text {index} is {tokens} tokens, more than the model's limit of {max_tokens} tokens. Shorten it{}.",
                match truncate {
                    Truncate::None => " or ask for truncation",
                    _ => "",
                }
            )),
            EmbedError::InvalidRequest(message) => ModelError::Validation(message),
            other => ModelError::Generation(other.to_string()),
        })?;
        Ok(embeddings
            .into_iter()
            .map(|e| TextEmbedding {
                vector: e.vector,
                tokens: e.tokens,
            })
            .collect())
    }
}
