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

/// Knowledge-base indexes kept open at once (each holds a writer, its memory and file handles);
/// the least recently used one nobody is using is closed to make room.
const MAX_OPEN_INDEXES: usize = 64;

/// Texts per embedding call: the local engine's batch, so one call fills one forward pass.
const EMBED_BATCH: usize = 32;

pub(crate) struct Engines {
    /// Generation (guarded as a request asks) and, through its runtime, embedding.
    pub pipeline: Arc<ModelPipeline>,
    pub objects: Arc<S3Store>,
    index_root: PathBuf,
    /// Open indexes by knowledge-base id: tantivy allows one writer per directory per process.
    indexes: Mutex<OpenIndexes<EmbeddedIndex>>,
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
            indexes: Mutex::new(OpenIndexes::new(MAX_OPEN_INDEXES)),
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
            return Ok(index);
        }
        let dir = self.index_dir(knowledge_base_id);
        let opened = tokio::task::spawn_blocking(move || EmbeddedIndex::open(dir))
            .await
            .map_err(|e| KnowledgeBaseError::Internal(format!("opening the index: {e}")))?
            .map_err(KnowledgeBaseError::from)?;
        // Two first calls may race: keep whichever landed first so there is one writer.
        let (index, closed) = lock(&self.indexes).insert(knowledge_base_id, opened);
        if !closed.is_empty() {
            // Closing waits for the writers' merge threads: not on an async worker.
            tokio::task::spawn_blocking(move || drop(closed));
        }
        Ok(index)
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

/// A bounded map of open indexes, least recently used closed first, never one in use.
pub(crate) struct OpenIndexes<T> {
    capacity: usize,
    /// Each index with the tick it was last handed out at.
    open: HashMap<String, (T, u64)>,
    tick: u64,
}

/// What the cache needs to know of an index: whether someone else holds it.
pub(crate) trait Shared: Clone {
    fn is_shared(&self) -> bool;
}

impl Shared for EmbeddedIndex {
    fn is_shared(&self) -> bool {
        EmbeddedIndex::is_shared(self)
    }
}

impl<T: Shared> OpenIndexes<T> {
    pub fn new(capacity: usize) -> Self {
        OpenIndexes {
            capacity,
            open: HashMap::new(),
            tick: 0,
        }
    }

    pub fn get(&mut self, id: &str) -> Option<T> {
        self.tick += 1;
        let tick = self.tick;
        self.open.get_mut(id).map(|(index, used)| {
            *used = tick;
            index.clone()
        })
    }

    /// Keeps `opened` unless `id` is already open (then the open one wins). Returns the index to
    /// use and the ones closed to stay within capacity (drop them off the async workers).
    pub fn insert(&mut self, id: &str, opened: T) -> (T, Vec<T>) {
        if let Some(index) = self.get(id) {
            return (index, Vec::new());
        }
        let mut closed = Vec::new();
        while self.open.len() >= self.capacity {
            let idle = self
                .open
                .iter()
                .filter(|(_, (index, _))| !index.is_shared())
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| id.clone());
            // Every open index is in use: go over capacity rather than refuse the request.
            let Some(idle) = idle else { break };
            if let Some((index, _)) = self.open.remove(&idle) {
                closed.push(index);
            }
        }
        self.tick += 1;
        self.open
            .insert(id.to_string(), (opened.clone(), self.tick));
        (opened, closed)
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        self.open.remove(id).map(|(index, _)| index)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these maps leaves them valid (inserts and removes only).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Handle(Arc<String>);

    impl Shared for Handle {
        fn is_shared(&self) -> bool {
            Arc::strong_count(&self.0) > 1
        }
    }

    #[test]
    fn the_least_recently_used_idle_index_is_closed_first() {
        let mut open = OpenIndexes::new(2);
        let (a, closed) = open.insert("a", Handle(Arc::new("a".into())));
        assert!(closed.is_empty());
        drop(a);
        drop(open.insert("b", Handle(Arc::new("b".into()))));
        // "a" was used last, so "b" goes.
        drop(open.get("a"));
        let (_c, closed) = open.insert("c", Handle(Arc::new("c".into())));
        assert_eq!(
            closed.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(),
            vec!["b"]
        );
        assert!(open.get("b").is_none());
        // An index in use is never closed; with all in use the cache goes over capacity.
        let held_a = open.get("a").expect("a is open");
        let (_d, closed) = open.insert("d", Handle(Arc::new("d".into())));
        assert!(closed.iter().all(|h| h.0.as_str() != "a"), "a is in use");
        assert!(open.get("a").is_some());
        drop(held_a);
        // The same id inserted twice keeps the first one opened.
        let (first, _) = open.insert("e", Handle(Arc::new("first".into())));
        let (again, _) = open.insert("e", Handle(Arc::new("second".into())));
        assert_eq!((first.0.as_str(), again.0.as_str()), ("first", "first"));
    }
}
