//! The handle callers hold: it tokenizes and checks requests on the caller's thread, then hands
//! them to the model's thread through a bounded queue.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{send_logs_to_tracing, LogOptions};
use tokio::sync::mpsc;

use crate::chat::{ChatTemplate, FALLBACK_CHATML_TEMPLATE};
use crate::worker::{self, Work, WorkerConfig};
use crate::{ChatTurn, EngineError, GenerationRequest, GenerationStream, Grammar};

/// Context length used when the model's trained context is larger: KV cache memory grows with
/// it, and the models basalt serves locally rarely need more.
pub const DEFAULT_CONTEXT_CAP: u32 = 8192;

/// How to load and run a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// A GGUF file.
    pub model_path: PathBuf,
    /// CPU threads for prompt and token decoding; 0 means every available core.
    pub threads: usize,
    /// Tokens per sequence (prompt + completion); 0 means the model's trained context, capped
    /// at [`DEFAULT_CONTEXT_CAP`]. Never more than the trained context.
    pub context_length: u32,
    /// Requests that may wait for a free sequence slot; more are refused with `QueueFull`.
    pub queue_depth: usize,
    /// Sequences decoded together in one batch.
    pub max_sequences: usize,
}

impl EngineConfig {
    /// All cores, the model's context (capped), 64 queued requests, one sequence at a time.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        Self {
            model_path: model_path.into(),
            threads: 0,
            context_length: 0,
            queue_depth: 64,
            max_sequences: 1,
        }
    }
}

/// What was loaded, for model listings and request validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// `general.name` from the GGUF, else the file stem.
    pub name: String,
    /// Tokens available to one sequence (prompt + completion).
    pub context_length: u32,
    pub trained_context_length: u32,
    pub vocab_size: u32,
    /// The GGUF's `tokenizer.chat_template`; `None` means the ChatML fallback is used.
    pub chat_template: Option<String>,
    pub bos_token: String,
    pub eos_token: String,
}

/// A running engine. Cloning is cheap; the model thread lives until the last clone is dropped.
#[derive(Clone)]
pub struct LlamaEngine {
    inner: Arc<Inner>,
}

struct Inner {
    model: Arc<LlamaModel>,
    info: ModelInfo,
    template: ChatTemplate,
    queue: mpsc::Sender<Work>,
    queue_depth: usize,
    /// Set when the model wants a BOS token that the rendered prompt may not already carry.
    bos: Option<LlamaToken>,
}

impl std::fmt::Debug for LlamaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaEngine")
            .field("info", &self.inner.info)
            .field("queue_depth", &self.inner.queue_depth)
            .finish_non_exhaustive()
    }
}

impl LlamaEngine {
    /// Loads the model and starts its thread; returns once the thread is ready for work.
    pub fn start(config: EngineConfig) -> Result<Self, EngineError> {
        if config.queue_depth == 0 || config.max_sequences == 0 {
            return Err(EngineError::ModelLoad(
                "queue_depth and max_sequences must be at least 1".to_string(),
            ));
        }
        if !config.model_path.is_file() {
            return Err(EngineError::ModelLoad(format!(
                "no model file at {}",
                config.model_path.display()
            )));
        }
        let backend = backend()?;
        let model = LlamaModel::load_from_file(
            backend,
            &config.model_path,
            &LlamaModelParams::default(),
        )
        .map_err(|e| EngineError::ModelLoad(format!("{}: {e}", config.model_path.display())))?;
        let model = Arc::new(model);

        let trained = model.n_ctx_train();
        let wanted = if config.context_length == 0 {
            DEFAULT_CONTEXT_CAP
        } else {
            config.context_length
        };
        let context_length = wanted.min(trained).max(1);
        let threads = if config.threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            config.threads
        };

        let vocab = model.vocab();
        let bos_token =
            String::from_utf8_lossy(&vocab.token_to_piece(vocab.bos(), true, None)).into_owned();
        let eos_token =
            String::from_utf8_lossy(&vocab.token_to_piece(vocab.eos(), true, None)).into_owned();
        let bos = vocab.should_add_bos().then(|| vocab.bos());
        let chat_template = model
            .chat_template(None)
            .ok()
            .and_then(|t| t.to_string().ok())
            .filter(|t| !t.trim().is_empty());
        let template = ChatTemplate::new(
            chat_template.as_deref().unwrap_or(FALLBACK_CHATML_TEMPLATE),
            &bos_token,
            &eos_token,
        )?;
        let name = model
            .meta_val_str("general.name")
            .ok()
            .filter(|n| !n.is_empty())
            .or_else(|| {
                config
                    .model_path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_default();
        let info = ModelInfo {
            name,
            context_length,
            trained_context_length: trained,
            vocab_size: u32::try_from(model.n_vocab()).unwrap_or(0),
            chat_template,
            bos_token,
            eos_token,
        };

        let (queue, work) = mpsc::channel(config.queue_depth);
        worker::spawn(
            Arc::clone(&model),
            backend,
            WorkerConfig {
                threads,
                context_length: NonZeroU32::new(context_length)
                    .ok_or_else(|| EngineError::ModelLoad("context length is 0".to_string()))?,
                max_sequences: config.max_sequences,
            },
            work,
        )?;
        tracing::info!(
            model = %info.name,
            context_length,
            threads,
            max_sequences = config.max_sequences,
            "llama engine started"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                model,
                info,
                template,
                queue,
                queue_depth: config.queue_depth,
                bos,
            }),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    /// Renders a conversation with the model's chat template into prompt text.
    pub fn render_chat(
        &self,
        turns: &[ChatTurn],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        self.inner.template.render(turns, add_generation_prompt)
    }

    /// Tokens `text` takes as a prompt (special tokens parsed, BOS added if the model wants one).
    pub fn count_tokens(&self, text: &str) -> Result<u32, EngineError> {
        Ok(token_count(&self.tokenize(text)))
    }

    /// Checks and queues a request; its events arrive on the returned stream.
    pub fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, EngineError> {
        self.queue(request, None)
    }

    /// Like [`generate`](Self::generate), but every sampled token must keep the output inside
    /// `grammar`: the output is a prefix of a sentence of the grammar, a whole one unless
    /// `max_tokens` or a stop sequence cut it short. Once the grammar is complete, an
    /// end-of-generation token or any whitespace-only token ends the generation with
    /// `EndOfTurn`. A grammar llama.cpp cannot parse is refused here with `InvalidRequest`.
    pub fn generate_with_grammar(
        &self,
        request: GenerationRequest,
        grammar: &Grammar,
    ) -> Result<GenerationStream, EngineError> {
        if grammar.gbnf.trim().is_empty() || grammar.root.is_empty() {
            // llama.cpp treats an empty grammar as "no grammar": refuse rather than run free.
            return Err(EngineError::InvalidRequest(
                "the grammar or its root rule is empty".to_string(),
            ));
        }
        // Parsed on the caller's thread so a bad grammar is an error of this call.
        let sampler = LlamaSampler::grammar(&self.inner.model, &grammar.gbnf, &grammar.root)
            .map_err(|e| {
                EngineError::InvalidRequest(format!(
                    "llama.cpp refused the grammar (root `{}`): {e}",
                    grammar.root
                ))
            })?;
        self.queue(request, Some(sampler))
    }

    fn queue(
        &self,
        request: GenerationRequest,
        grammar: Option<LlamaSampler>,
    ) -> Result<GenerationStream, EngineError> {
        validate(&request)?;
        let prompt = self.tokenize(&request.prompt);
        if prompt.is_empty() {
            return Err(EngineError::InvalidRequest(
                "the prompt is empty".to_string(),
            ));
        }
        let prompt_tokens = token_count(&prompt);
        let context_length = self.inner.info.context_length;
        if u64::from(prompt_tokens) + u64::from(request.max_tokens) > u64::from(context_length) {
            return Err(EngineError::ContextOverflow {
                prompt_tokens,
                max_tokens: request.max_tokens,
                context_length,
            });
        }
        let (events, stream) = mpsc::unbounded_channel();
        let work = Work {
            prompt,
            max_tokens: request.max_tokens,
            sampling: request.sampling,
            stop_sequences: request.stop_sequences,
            grammar,
            events,
        };
        match self.inner.queue.try_send(work) {
            Ok(()) => Ok(GenerationStream::new(stream)),
            Err(mpsc::error::TrySendError::Full(_)) => Err(EngineError::QueueFull {
                depth: self.inner.queue_depth,
            }),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(EngineError::Stopped),
        }
    }

    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        // Special tokens are parsed so a rendered chat prompt's `<|im_start|>` is one token; BOS is
        // added by hand only when the template did not already write it.
        let mut tokens = self
            .inner
            .model
            .vocab()
            .tokenize(text.as_bytes(), false, true);
        if let Some(bos) = self.inner.bos {
            if tokens.first() != Some(&bos) {
                tokens.insert(0, bos);
            }
        }
        tokens
    }
}

fn token_count(tokens: &[LlamaToken]) -> u32 {
    u32::try_from(tokens.len()).unwrap_or(u32::MAX)
}

fn validate(request: &GenerationRequest) -> Result<(), EngineError> {
    let sampling = &request.sampling;
    if request.max_tokens == 0 {
        return Err(EngineError::InvalidRequest(
            "max_tokens must be at least 1".to_string(),
        ));
    }
    if !(sampling.temperature.is_finite() && sampling.temperature >= 0.0) {
        return Err(EngineError::InvalidRequest(format!(
            "temperature must be 0 or more, got {}",
            sampling.temperature
        )));
    }
    if !(0.0..=1.0).contains(&sampling.top_p) {
        return Err(EngineError::InvalidRequest(format!(
            "top_p must be between 0 and 1, got {}",
            sampling.top_p
        )));
    }
    Ok(())
}

/// llama.cpp's backend is process-wide and may be initialised once; every engine shares it.
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs every load step at INFO; pass them on only when someone is
            // listening at DEBUG, otherwise they would flood the server's log.
            let enabled = tracing::enabled!(tracing::Level::DEBUG);
            send_logs_to_tracing(LogOptions::default().with_logs_enabled(enabled));
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::ModelLoad(format!("llama.cpp backend: {e}")))
}
