//! The local provider: a GGUF model on basalt's in-process llama.cpp engine.

use std::path::{Path, PathBuf};
use std::time::Instant;

use async_trait::async_trait;
use basalt_llama::{
    ChatTurn, EngineConfig, EngineError, FinishReason, GenerationEvent, GenerationRequest, Grammar,
    LlamaEngine, Sampling, ToolCall,
};
use basalt_types::{
    ContentBlock, ConverseRequest, Message, Metrics, Role, StopReason, StreamEvent, TokenUsage,
};
use futures::StreamExt;
use serde::Deserialize;

use crate::tools::{self, ToolChoice, ToolPlan};
use crate::{ChatProvider, EventStream, ModelError, ModelLimits};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalLlamaConfig {
    /// The GGUF file, relative to the models directory.
    pub file: PathBuf,
    /// A human name for listings.
    pub name: String,
    #[serde(default = "default_context_length")]
    pub context_length: u32,
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
    /// Threads for prefill and decode; 0 uses every core.
    #[serde(default)]
    pub threads: usize,
    /// Sequences the engine decodes together in one batch.
    #[serde(default = "default_max_sequences")]
    pub max_sequences: usize,
    /// Requests that may wait for the engine before new ones get ThrottlingException.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
    /// Sampling used when a request leaves temperature / topP unset.
    #[serde(default = "default_temperature")]
    pub default_temperature: f32,
    #[serde(default = "default_top_p")]
    pub default_top_p: f32,
    /// System prompt used when a request brings none, instead of the template's own default.
    /// SmolLM2's built-in default ("You are a helpful AI assistant named SmolLM...") makes the
    /// 135M model ramble; a plain assistant prompt keeps its answers on topic.
    #[serde(default)]
    pub default_system_prompt: Option<String>,
}

fn default_context_length() -> u32 {
    8192
}
fn default_max_output_tokens() -> u32 {
    4096
}
fn default_max_sequences() -> usize {
    1
}
fn default_queue_depth() -> usize {
    16
}
fn default_temperature() -> f32 {
    0.7
}
fn default_top_p() -> f32 {
    0.95
}

pub struct LocalLlamaProvider {
    name: String,
    engine: LlamaEngine,
    config: LocalLlamaConfig,
    limits: ModelLimits,
}

impl LocalLlamaProvider {
    /// Loads the model; fails with the command that fetches it when the file is missing.
    pub fn start(
        name: &str,
        config: &LocalLlamaConfig,
        models_dir: &Path,
    ) -> Result<Self, ModelError> {
        let model_path = models_dir.join(&config.file);
        if !model_path.is_file() {
            return Err(ModelError::Config(format!(
                "model file {} for served model `{name}` is missing; fetch it with `basalt models fetch --models-dir {}` (or `make models`)",
                model_path.display(),
                models_dir.display()
            )));
        }
        let engine = LlamaEngine::start(EngineConfig {
            model_path,
            threads: config.threads,
            context_length: config.context_length,
            queue_depth: config.queue_depth,
            max_sequences: config.max_sequences,
        })
        .map_err(|e| ModelError::Config(format!("loading served model `{name}`: {e}")))?;
        let context_length = engine.info().context_length;
        let limits = ModelLimits {
            context_length,
            max_output_tokens: config.max_output_tokens.min(context_length),
        };
        Ok(LocalLlamaProvider {
            name: name.to_string(),
            engine,
            config: config.clone(),
            limits,
        })
    }

    /// The prompt exactly as the model will read it, rendered with the model's own chat template;
    /// tools, when offered, in the documented format of [`crate::tools`].
    fn render_prompt(
        &self,
        request: &ConverseRequest,
        tools: Option<&ToolPlan>,
    ) -> Result<String, ModelError> {
        tools::check_tool_results(request)?;
        let mut turns = Vec::with_capacity(request.messages.len() + 1);
        let system: Vec<&str> = request.system.iter().filter_map(|b| b.as_text()).collect();
        let mut system = if !system.is_empty() {
            Some(system.join("\n"))
        } else {
            self.config.default_system_prompt.clone()
        };
        if let Some(plan) = tools {
            let instructions = plan.instructions();
            system = Some(match system {
                Some(text) => format!("{text}\n\n{instructions}"),
                None => instructions,
            });
        }
        if let Some(content) = system {
            turns.push(ChatTurn {
                role: "system".into(),
                content,
            });
        }
        for (i, message) in request.messages.iter().enumerate() {
            turns.push(ChatTurn {
                role: message.role.as_str().into(),
                content: message_text(request, message, i)?,
            });
        }
        // A trailing assistant message is a prefill: the answer continues it.
        let prefill = match turns.last() {
            Some(turn) if turn.role == "assistant" => turns.pop().map(|t| t.content),
            _ => None,
        };
        let mut prompt = self
            .engine
            .render_chat(&turns, true)
            .map_err(engine_error)?;
        if let Some(prefill) = prefill {
            prompt.push_str(&prefill);
        }
        Ok(prompt)
    }
}

/// The text the model reads for one message; blocks a text-only local model cannot read are refused.
fn message_text(
    request: &ConverseRequest,
    message: &Message,
    index: usize,
) -> Result<String, ModelError> {
    let mut text = String::new();
    for (j, block) in message.content.iter().enumerate() {
        match block {
            ContentBlock::Text(t) => text.push_str(t),
            ContentBlock::CachePoint(_) => {}
            ContentBlock::ToolUse(call) => text.push_str(&tools::render_tool_use(call)),
            ContentBlock::ToolResult(result) => {
                let name = tools::tool_name_for(request, &result.tool_use_id).unwrap_or("unknown");
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&tools::render_tool_result(result, name, tools::question_before(request, index)));
            }
            ContentBlock::Document(document) => {
                if message.role != Role::User {
                    return Err(ModelError::Validation(format!(
                        "messages.{index}.content.{j}: documents can only be included in user messages."
                    )));
                }
                text.push_str(&document_text(document, index, j)?);
            }
            ContentBlock::Image(_) | ContentBlock::Video(_) | ContentBlock::Audio(_) => {
                return Err(ModelError::Validation(format!(
                    "messages.{index}.content.{j}: this model doesn't support the {} content block; its input modalities are TEXT.",
                    block.kind()
                )))
            }
            other => {
                return Err(ModelError::Validation(format!(
                    "messages.{index}.content.{j}: the {} content block is not supported by this model yet.",
                    other.kind()
                )))
            }
        }
    }
    let has = |kind: &str| message.content.iter().any(|b| b.kind() == kind);
    if message.role == Role::User && has("toolUse")
        || message.role == Role::Assistant && has("toolResult")
    {
        return Err(ModelError::Validation(format!(
            "messages.{index}: toolUse blocks belong in assistant messages and toolResult blocks in user messages."
        )));
    }
    if has("document") && !has("text") {
        return Err(ModelError::Validation(format!(
            "messages.{index}: a message with a document must also include a text block that says what to do with it."
        )));
    }
    Ok(text)
}

/// A Converse `document` block as the model reads it: its name, then its text, fenced so the
/// model can tell the document from the question. Formats are read by `basalt-documents`.
pub(crate) fn document_text(
    document: &serde_json::Value,
    index: usize,
    j: usize,
) -> Result<String, ModelError> {
    use base64::Engine as _;
    let at = format!("messages.{index}.content.{j}.document");
    let field = |name: &str| document.get(name).and_then(serde_json::Value::as_str);
    let format = field("format")
        .ok_or_else(|| ModelError::Validation(format!("{at}.format is required.")))?;
    let name =
        field("name").ok_or_else(|| ModelError::Validation(format!("{at}.name is required.")))?;
    let source = document
        .get("source")
        .ok_or_else(|| ModelError::Validation(format!("{at}.source is required.")))?;
    let text = if let Some(bytes) = source.get("bytes").and_then(serde_json::Value::as_str) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(bytes)
            .map_err(|e| {
                ModelError::Validation(format!("{at}.source.bytes is not valid base64: {e}"))
            })?;
        basalt_documents::extract_text(format, &bytes)
            .map_err(|e| ModelError::Validation(format!("{at} ({name}): {e}")))?
    } else if let Some(text) = source.get("text").and_then(serde_json::Value::as_str) {
        text.to_string()
    } else {
        return Err(ModelError::Validation(format!(
            "{at}.source: only bytes and text sources are supported by this model; s3Location is not yet."
        )));
    };
    Ok(format!(
        "<document name=\"{name}\" format=\"{format}\">\n{}\n</document>\n",
        text.trim()
    ))
}

fn engine_error(error: EngineError) -> ModelError {
    match error {
        EngineError::QueueFull { depth } => ModelError::Throttled {
            model: "local model".into(),
            queue_depth: depth,
        },
        EngineError::ContextOverflow {
            prompt_tokens,
            max_tokens,
            context_length,
        } => ModelError::ContextWindowExceeded {
            prompt_tokens,
            max_tokens,
            context_length,
        },
        other => ModelError::Generation(other.to_string()),
    }
}

#[async_trait]
impl ChatProvider for LocalLlamaProvider {
    fn limits(&self) -> ModelLimits {
        self.limits
    }

    fn count_tokens(&self, request: &ConverseRequest) -> Result<u32, ModelError> {
        let plan = ToolPlan::from_request(request)?;
        let prompt = self.render_prompt(request, plan.as_ref())?;
        self.engine.count_tokens(&prompt).map_err(engine_error)
    }

    async fn converse_stream(&self, request: ConverseRequest) -> Result<EventStream, ModelError> {
        let started = Instant::now();
        let plan = ToolPlan::from_request(&request)?;
        // Documents are extracted and the template rendered here: CPU work, off the worker.
        let prompt = crate::cpu_bound(|| self.render_prompt(&request, plan.as_ref()))?;
        let inference = &request.inference_config;
        let max_tokens = match inference.max_tokens {
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
            None => {
                // Bedrock's default is the model's maximum; never more than the context leaves room for.
                let prompt_tokens = self.engine.count_tokens(&prompt).map_err(engine_error)?;
                self.limits
                    .max_output_tokens
                    .min(self.limits.context_length.saturating_sub(prompt_tokens))
                    .max(1)
            }
        };
        let sampling = Sampling {
            temperature: inference
                .temperature
                .unwrap_or(self.config.default_temperature),
            top_p: inference.top_p.unwrap_or(self.config.default_top_p),
            top_k: inference
                .top_k
                .and_then(|k| u32::try_from(k).ok())
                .unwrap_or(0),
            seed: rand_seed(),
        };
        let generation_request = GenerationRequest {
            prompt,
            max_tokens,
            sampling,
            stop_sequences: inference.stop_sequences.clone(),
        };
        let throttled_as_self = |e| match engine_error(e) {
            ModelError::Throttled { queue_depth, .. } => ModelError::Throttled {
                model: self.name.clone(),
                queue_depth,
            },
            other => other,
        };
        // With `auto`, the turn after tool results is answered in text: a 135M model given the
        // choice calls the same tool again instead of reading the result.
        let plan = plan.filter(|plan| {
            !(plan.choice == ToolChoice::Auto && tools::answers_tool_results(&request))
        });
        let Some(plan) = plan else {
            // Structured output: the text answer is decoded under the schema's grammar.
            let generation = match tools::output_schema(&request)? {
                Some(schema) => {
                    let grammar = Grammar::json_schema(&schema).map_err(|e| match e {
                        EngineError::InvalidRequest(message) => {
                            ModelError::Validation(format!("outputConfig.textFormat: {message}"))
                        }
                        other => engine_error(other),
                    })?;
                    self.engine
                        .generate_with_grammar(generation_request, &grammar)
                }
                None => self.engine.generate(generation_request),
            }
            .map_err(throttled_as_self)?;
            return Ok(Box::pin(events_from_generation(generation, started)));
        };
        let grammar = tool_grammar(&plan)?;
        let generation = self
            .engine
            .generate_with_grammar(generation_request, &grammar)
            .map_err(throttled_as_self)?;
        Ok(Box::pin(tool_events(generation, started)))
    }
}

/// The grammar the answer is decoded under when tools are offered: a tool call for `any` and
/// `tool`; for `auto`, a tool call or plain text that does not open with `{`.
fn tool_grammar(plan: &ToolPlan) -> Result<Grammar, ModelError> {
    let callable = plan.callable();
    let tools: Vec<(&str, &serde_json::Value)> = callable
        .iter()
        .map(|(name, schema)| (*name, schema))
        .collect();
    let call = Grammar::tool_calls(&tools, plan.max_calls).map_err(|e| match e {
        EngineError::InvalidRequest(message) => {
            ModelError::Validation(format!("toolConfig: {message}"))
        }
        other => engine_error(other),
    })?;
    Ok(match plan.choice {
        ToolChoice::Any | ToolChoice::Tool(_) => call,
        ToolChoice::Auto => Grammar {
            gbnf: format!(
                "{}\nbasalt-answer ::= {} | basalt-text\nbasalt-text ::= [^{{ \\t\\n] [^\\x00]*\n",
                call.gbnf, call.root
            ),
            root: "basalt-answer".to_string(),
        },
    })
}

/// A tool-enabled answer: generated whole under the grammar, then told as ConverseStream events —
/// one `toolUse` block per call when it is a call (several for parallel tool use), else one
/// text block.
fn tool_events(
    generation: basalt_llama::GenerationStream,
    started: Instant,
) -> impl futures::Stream<Item = Result<StreamEvent, ModelError>> + Send {
    futures::stream::once(async move {
        let completion = generation.collect().await.map_err(engine_error)?;
        let finish = completion.finish;
        let usage = TokenUsage::new(finish.prompt_tokens, finish.completion_tokens);
        let mut events = vec![StreamEvent::MessageStart {
            role: Role::Assistant,
        }];
        let calls = completion
            .text
            .trim_start()
            .starts_with('{')
            .then(|| ToolCall::parse_all(&completion.text).ok())
            .flatten();
        let stop_reason = match calls {
            Some(calls) => {
                for (index, call) in (0u32..).zip(calls) {
                    events.push(StreamEvent::ToolUseStart {
                        index,
                        tool_use_id: new_tool_use_id(),
                        name: call.name,
                    });
                    events.push(StreamEvent::ToolUseDelta {
                        index,
                        input: call.input.to_string(),
                    });
                    events.push(StreamEvent::ContentBlockStop { index });
                }
                StopReason::ToolUse
            }
            // Plain text, or calls cut short by maxTokens: never a toolUse whose input is incomplete.
            None => {
                events.push(StreamEvent::ContentBlockDelta {
                    index: 0,
                    text: completion.text,
                });
                events.push(StreamEvent::ContentBlockStop { index: 0 });
                match finish.reason {
                    FinishReason::EndOfTurn => StopReason::EndTurn,
                    FinishReason::MaxTokens => StopReason::MaxTokens,
                    FinishReason::StopSequence(_) => StopReason::StopSequence,
                }
            }
        };
        let stop_sequence = match finish.reason {
            FinishReason::StopSequence(s) if stop_reason == StopReason::StopSequence => Some(s),
            _ => None,
        };
        events.push(StreamEvent::MessageStop {
            stop_reason,
            stop_sequence,
        });
        events.push(StreamEvent::Metadata {
            usage,
            metrics: Metrics {
                latency_ms: started.elapsed().as_millis() as u64,
            },
        });
        Ok::<_, ModelError>(events)
    })
    .flat_map(|batch| {
        futures::stream::iter(match batch {
            Ok(events) => events.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    })
}

/// Bedrock-style tool use ids: `tooluse_` and 22 random URL-safe characters.
pub(crate) fn new_tool_use_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let state = RandomState::new();
    let id: String = (0..22u64)
        .map(|i| {
            ALPHABET[(state.hash_one((i, Instant::now())) % ALPHABET.len() as u64) as usize] as char
        })
        .collect();
    format!("tooluse_{id}")
}

fn rand_seed() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u32
}

/// Maps the engine's events onto ConverseStream's: one text block, then stop and metadata.
fn events_from_generation(
    generation: basalt_llama::GenerationStream,
    started: Instant,
) -> impl futures::Stream<Item = Result<StreamEvent, ModelError>> + Send {
    let batches = futures::stream::unfold(Some(generation), move |state| async move {
        let mut generation = state?;
        match generation.recv().await {
            None => Some((
                Err(ModelError::Generation(
                    "the engine stopped before the answer ended".into(),
                )),
                None,
            )),
            Some(Err(e)) => Some((Err(engine_error(e)), None)),
            Some(Ok(GenerationEvent::Started { .. })) => Some((
                Ok(vec![StreamEvent::MessageStart {
                    role: Role::Assistant,
                }]),
                Some(generation),
            )),
            Some(Ok(GenerationEvent::Text(text))) => Some((
                Ok(vec![StreamEvent::ContentBlockDelta { index: 0, text }]),
                Some(generation),
            )),
            Some(Ok(GenerationEvent::Finished(finish))) => {
                let (stop_reason, stop_sequence) = match finish.reason {
                    FinishReason::EndOfTurn => (StopReason::EndTurn, None),
                    FinishReason::MaxTokens => (StopReason::MaxTokens, None),
                    FinishReason::StopSequence(s) => (StopReason::StopSequence, Some(s)),
                };
                let events = vec![
                    StreamEvent::ContentBlockStop { index: 0 },
                    StreamEvent::MessageStop {
                        stop_reason,
                        stop_sequence,
                    },
                    StreamEvent::Metadata {
                        usage: TokenUsage::new(finish.prompt_tokens, finish.completion_tokens),
                        metrics: Metrics {
                            latency_ms: started.elapsed().as_millis() as u64,
                        },
                    },
                ];
                Some((Ok(events), None))
            }
        }
    });
    batches.flat_map(|batch: Result<Vec<StreamEvent>, ModelError>| {
        futures::stream::iter(match batch {
            Ok(events) => events.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    })
}
