//! What knowledge bases need beyond the metadata store to ingest and answer: the model runtime
//! (embedding and generation), the object store data sources read, and one open index per
//! knowledge base under the index root.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use basalt_kb::{EmbeddedIndex, Embedder, KbError, TokenCounter, TokenizerJson, WordTokens};
use basalt_models::BedrockRuntime;
use basalt_pipeline::ModelPipeline;
use basalt_s3::S3Store;
use serde_json::Value;

use crate::ingestion::RunningJob;
use crate::KnowledgeBaseError;

/// Texts per embedding call: the local engine's batch, so one call fills one forward pass.
const EMBED_BATCH: usize = 32;

pub(crate) struct Engines {
    /// Generation (guarded as a request asks) and, through its runtime, embedding.
    pub pipeline: Arc<ModelPipeline>,
    pub objects: Arc<S3Store>,
    index_root: PathBuf,
    /// Open indexes by knowledge-base id: tantivy allows one writer per directory per process.
    indexes: Mutex<HashMap<String, EmbeddedIndex>>,
    /// Tokenizers by embedding-model ARN, loaded once.
    tokenizers: Mutex<HashMap<String, Arc<dyn TokenCounter>>>,
    /// The ingestion job running for each knowledge base, by knowledge-base id.
    running: Mutex<HashMap<String, RunningJob>>,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("index_root", &self.index_root)
            .finish_non_exhaustive()
    }
}

impl Engines {
    pub fn new(pipeline: Arc<ModelPipeline>, objects: Arc<S3Store>, index_root: PathBuf) -> Self {
        Engines {
            pipeline,
            objects,
            index_root,
            indexes: Mutex::new(HashMap::new()),
            tokenizers: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
        }
    }

    pub fn runtime(&self) -> &Arc<BedrockRuntime> {
        self.pipeline.runtime()
    }

    pub fn running(&self) -> MutexGuard<'_, HashMap<String, RunningJob>> {
        lock(&self.running)
    }

    /// The knowledge base's index, opened (and created) on first use.
    pub async fn index(
        &self,
        knowledge_base_id: &str,
    ) -> Result<EmbeddedIndex, KnowledgeBaseError> {
        if let Some(index) = lock(&self.indexes).get(knowledge_base_id) {
            return Ok(index.clone());
        }
        let dir = self.index_dir(knowledge_base_id);
        let opened = tokio::task::spawn_blocking(move || EmbeddedIndex::open(dir))
            .await
            .map_err(|e| KnowledgeBaseError::Internal(format!("opening the index: {e}")))?
            .map_err(KnowledgeBaseError::from)?;
        // Two first calls may race: keep whichever landed first so there is one writer.
        Ok(lock(&self.indexes)
            .entry(knowledge_base_id.to_string())
            .or_insert(opened)
            .clone())
    }

    /// Closes and deletes a knowledge base's index (the knowledge base is gone).
    pub async fn drop_index(&self, knowledge_base_id: &str) -> Result<(), KnowledgeBaseError> {
        lock(&self.indexes).remove(knowledge_base_id);
        let dir = self.index_dir(knowledge_base_id);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(KnowledgeBaseError::Internal(format!(
                "removing {}: {e}",
                dir.display()
            ))),
        }
    }

    fn index_dir(&self, knowledge_base_id: &str) -> PathBuf {
        self.index_root.join(knowledge_base_id)
    }

    /// The embedding model of a knowledge base (its stored document), behind basalt-kb's trait.
    pub fn embedder(&self, knowledge_base: &Value) -> Result<ModelEmbedder, KnowledgeBaseError> {
        let vector = knowledge_base
            .pointer("/knowledgeBaseConfiguration/vectorKnowledgeBaseConfiguration")
            .ok_or_else(|| {
                KnowledgeBaseError::Validation(
                    "The knowledge base is not a VECTOR knowledge base.".into(),
                )
            })?;
        let model_arn = vector
            .get("embeddingModelArn")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                KnowledgeBaseError::Validation(
                    "The knowledge base has no embeddingModelArn.".into(),
                )
            })?;
        let dimensions = vector
            .pointer("/embeddingModelConfiguration/bedrockEmbeddingModelConfiguration/dimensions")
            .and_then(Value::as_u64)
            .map(|d| d.min(u64::from(u32::MAX)) as u32);
        Ok(ModelEmbedder {
            runtime: self.runtime().clone(),
            model_arn: model_arn.to_string(),
            dimensions,
        })
    }

    /// The embedding model's tokenizer; models without one here (remote ones) are counted in
    /// word pieces, which is close to what subword tokenizers count for prose.
    pub fn token_counter(
        &self,
        model_arn: &str,
    ) -> Result<Arc<dyn TokenCounter>, KnowledgeBaseError> {
        if let Some(counter) = lock(&self.tokenizers).get(model_arn) {
            return Ok(counter.clone());
        }
        let counter: Arc<dyn TokenCounter> = match self.runtime().embedding_tokenizer(model_arn)? {
            Some(path) => Arc::new(TokenizerJson::from_file(&path)?),
            None => Arc::new(WordTokens),
        };
        lock(&self.tokenizers).insert(model_arn.to_string(), counter.clone());
        Ok(counter)
    }
}

/// A catalog embedding model as basalt-kb's [`Embedder`].
#[derive(Clone)]
pub(crate) struct ModelEmbedder {
    runtime: Arc<BedrockRuntime>,
    pub model_arn: String,
    dimensions: Option<u32>,
}

#[async_trait]
impl Embedder for ModelEmbedder {
    async fn embed(&self, texts: Vec<String>) -> basalt_kb::Result<Vec<Vec<f32>>> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(EMBED_BATCH) {
            let embedded = self
                .runtime
                .embed_when_ready(&self.model_arn, batch.to_vec(), self.dimensions)
                .await
                .map_err(|e| KbError::Embedding(e.to_string()))?;
            vectors.extend(embedded.vectors);
        }
        Ok(vectors)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these maps leaves them valid (inserts and removes only).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
