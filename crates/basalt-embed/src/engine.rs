//! The handle callers hold: it tokenizes and checks texts on the caller's thread, then hands
//! them to the model's thread through a bounded queue and awaits the vectors.

use std::path::PathBuf;
use std::sync::Arc;

use tokenizers::Tokenizer;
use tokio::sync::{mpsc, oneshot};

use crate::model::{self, ModelLayout, SentenceModel};
use crate::worker::{self, Work};
use crate::{EmbedError, Pooling};

/// How to load and run an embedding model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingConfig {
    /// A sentence-transformers directory: `config.json`, `model.safetensors`, `tokenizer.json`,
    /// and optionally `modules.json`, the pooling config and `sentence_bert_config.json`.
    pub model_dir: PathBuf,
    /// CPU threads for the forward pass's matrix products; 0 means every available core.
    /// candle sizes its element-wise pool once per process from `CANDLE_NUM_THREADS` (else
    /// `RAYON_NUM_THREADS`, else the core count), so a process that wants fewer cores sets that too.
    pub threads: usize,
    /// Texts run together in one forward pass; requests queued together are merged up to it.
    pub max_batch: usize,
    /// Requests that may wait for the model; more are refused with `QueueFull`.
    pub queue_depth: usize,
}

impl EmbeddingConfig {
    /// All cores, batches of 32 texts, 64 queued requests.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            threads: 0,
            max_batch: 32,
            queue_depth: 64,
        }
    }
}

/// What was loaded, for model listings and request validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingModelInfo {
    /// The model directory's name, e.g. `all-MiniLM-L6-v2`.
    pub name: String,
    /// Length of every vector.
    pub dimensions: u32,
    /// Most tokens one text may take, `[CLS]` and `[SEP]` included.
    pub max_tokens: u32,
    pub pooling: Pooling,
    /// The model ends in a `Normalize` module: its vectors are meant to be unit length.
    pub normalize: bool,
}

/// What to do with a text longer than [`EmbeddingModelInfo::max_tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncate {
    /// Refuse it with [`EmbedError::InputTooLong`].
    #[default]
    None,
    /// Keep the start, drop the end (what sentence-transformers does).
    End,
    /// Keep the end, drop the start (Cohere's `truncate: START`).
    Start,
}

/// Per-request choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbedOptions {
    /// Scale each vector to unit length.
    pub normalize: bool,
    pub truncate: Truncate,
}

impl EmbedOptions {
    /// What sentence-transformers would do with this model, except that long texts are refused.
    pub fn for_model(info: &EmbeddingModelInfo) -> Self {
        Self {
            normalize: info.normalize,
            truncate: Truncate::None,
        }
    }
}

/// One text's vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub vector: Vec<f32>,
    /// Tokens the model read for this text, special tokens included, after truncation.
    pub tokens: u32,
}

/// A running engine. Cloning is cheap; the model thread lives until the last clone is dropped.
#[derive(Clone)]
pub struct EmbeddingEngine {
    inner: Arc<Inner>,
}

struct Inner {
    info: EmbeddingModelInfo,
    tokenizer: Tokenizer,
    lowercase: bool,
    queue: mpsc::Sender<Work>,
    queue_depth: usize,
}

impl std::fmt::Debug for EmbeddingEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingEngine")
            .field("info", &self.inner.info)
            .field("queue_depth", &self.inner.queue_depth)
            .finish_non_exhaustive()
    }
}

impl EmbeddingEngine {
    /// Loads the tokenizer and weights and starts the model's thread.
    pub fn start(config: EmbeddingConfig) -> Result<Self, EmbedError> {
        if config.queue_depth == 0 || config.max_batch == 0 {
            return Err(EmbedError::ModelLoad(
                "queue_depth and max_batch must be at least 1".to_string(),
            ));
        }
        let dir = &config.model_dir;
        if !dir.is_dir() {
            return Err(EmbedError::ModelLoad(format!(
                "no model directory at {}",
                dir.display()
            )));
        }
        let layout = ModelLayout::read(dir)?;
        let tokenizer = load_tokenizer(dir)?;
        let model = SentenceModel::load(dir, &layout)?;
        let threads = if config.threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            config.threads
        };
        let info = EmbeddingModelInfo {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dimensions: layout.dimensions,
            max_tokens: layout.max_tokens,
            pooling: layout.pooling,
            normalize: layout.normalize,
        };
        let (queue, work) = mpsc::channel(config.queue_depth);
        worker::spawn(model, threads, config.max_batch, work)?;
        tracing::info!(
            model = %info.name,
            dimensions = info.dimensions,
            max_tokens = info.max_tokens,
            threads,
            max_batch = config.max_batch,
            "embedding engine started"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                info,
                tokenizer,
                lowercase: layout.lowercase,
                queue,
                queue_depth: config.queue_depth,
            }),
        })
    }

    pub fn info(&self) -> &EmbeddingModelInfo {
        &self.inner.info
    }

    /// Tokens `text` takes before any truncation, `[CLS]` and `[SEP]` included.
    pub fn count_tokens(&self, text: &str) -> Result<u32, EmbedError> {
        Ok(token_count(&self.tokenize(text)?.ids))
    }

    /// Embeds `texts`, one vector each, in order. Texts from concurrent calls share forward passes.
    pub async fn embed(
        &self,
        texts: Vec<String>,
        options: EmbedOptions,
    ) -> Result<Vec<Embedding>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let max_tokens = self.inner.info.max_tokens;
        let sequences = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let tokens = self.tokenize(text)?;
                let count = token_count(&tokens.ids);
                if count <= max_tokens {
                    return Ok(tokens.ids);
                }
                match options.truncate {
                    Truncate::None => Err(EmbedError::InputTooLong {
                        index,
                        tokens: count,
                        max_tokens,
                    }),
                    Truncate::End | Truncate::Start => {
                        Ok(tokens.truncate(max_tokens as usize, options.truncate))
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, vectors) = oneshot::channel();
        let work = Work { sequences, reply };
        match self.inner.queue.try_send(work) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Err(EmbedError::QueueFull {
                    depth: self.inner.queue_depth,
                })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(EmbedError::Stopped),
        }
        let (sequences, vectors) = vectors.await.map_err(|_| EmbedError::Stopped)??;
        Ok(sequences
            .iter()
            .zip(vectors)
            .map(|(ids, mut vector)| {
                if options.normalize {
                    model::normalize(&mut vector);
                }
                Embedding {
                    vector,
                    tokens: token_count(ids),
                }
            })
            .collect())
    }

    /// Unit-length vectors for `texts`, long texts cut at the end: what similarity search and
    /// the classifiers over these vectors read.
    pub async fn embed_unit_vectors(
        &self,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let options = EmbedOptions {
            normalize: true,
            truncate: Truncate::End,
        };
        let embeddings = self.embed(texts, options).await?;
        Ok(embeddings.into_iter().map(|e| e.vector).collect())
    }

    fn tokenize(&self, text: &str) -> Result<Tokens, EmbedError> {
        let lowered;
        let text = if self.inner.lowercase {
            lowered = text.to_lowercase();
            &lowered
        } else {
            text
        };
        let encoding = self
            .inner
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let special = encoding.get_special_tokens_mask();
        let prefix = special.iter().take_while(|&&s| s == 1).count();
        let suffix = special[prefix..]
            .iter()
            .rev()
            .take_while(|&&s| s == 1)
            .count();
        Ok(Tokens {
            ids: encoding.get_ids().to_vec(),
            prefix,
            suffix,
        })
    }
}

/// A text's ids and how many special tokens the post-processor put around it.
struct Tokens {
    ids: Vec<u32>,
    prefix: usize,
    suffix: usize,
}

impl Tokens {
    /// Cuts the text, never the special tokens around it, down to `max` ids in all.
    fn truncate(self, max: usize, from: Truncate) -> Vec<u32> {
        let Tokens {
            ids,
            prefix,
            suffix,
        } = self;
        if ids.len() <= max {
            return ids;
        }
        let keep = max.saturating_sub(prefix + suffix);
        let body = &ids[prefix..ids.len() - suffix];
        let body = match from {
            Truncate::Start => &body[body.len() - keep..],
            Truncate::None | Truncate::End => &body[..keep],
        };
        let mut out = Vec::with_capacity(max);
        out.extend_from_slice(&ids[..prefix]);
        out.extend_from_slice(body);
        out.extend_from_slice(&ids[ids.len() - suffix..]);
        out
    }
}

fn token_count(ids: &[u32]) -> u32 {
    u32::try_from(ids.len()).unwrap_or(u32::MAX)
}

/// The model's own tokenizer, with the padding and truncation its `tokenizer.json` may carry
/// turned off: the engine pads per batch and truncates by `max_seq_length` itself.
fn load_tokenizer(dir: &std::path::Path) -> Result<Tokenizer, EmbedError> {
    let path = dir.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&path)
        .map_err(|e| EmbedError::ModelLoad(format!("{}: {e}", path.display())))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| EmbedError::ModelLoad(format!("{}: {e}", path.display())))?;
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        // [CLS] a b c d [SEP]
        Tokens {
            ids: vec![101, 1, 2, 3, 4, 102],
            prefix: 1,
            suffix: 1,
        }
    }

    #[test]
    fn truncation_keeps_the_special_tokens() {
        assert_eq!(tokens().truncate(4, Truncate::End), vec![101, 1, 2, 102]);
        assert_eq!(tokens().truncate(4, Truncate::Start), vec![101, 3, 4, 102]);
        assert_eq!(
            tokens().truncate(6, Truncate::End),
            vec![101, 1, 2, 3, 4, 102]
        );
        assert_eq!(tokens().truncate(2, Truncate::End), vec![101, 102]);
    }
}
