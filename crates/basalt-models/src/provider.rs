use std::pin::Pin;

use async_trait::async_trait;
use basalt_types::{ConverseOutput, ConverseRequest, StreamEvent};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use std::sync::Arc;

use crate::remote::RemoteConfig;
use crate::{ModelError, UpstreamFailure};

/// A streamed answer. Dropping it cancels the generation behind it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ModelError>> + Send>>;

/// What a served model accepts, for request checks done before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelLimits {
    pub context_length: u32,
    pub max_output_tokens: u32,
}

/// One served model, whatever runs it: the local engine today, remote servers later.
#[async_trait]
pub trait ChatProvider: Send + Sync {
    fn limits(&self) -> ModelLimits;

    /// Input tokens the request would use, counted by the model's own tokenizer and template.
    fn count_tokens(&self, request: &ConverseRequest) -> Result<u32, ModelError>;

    async fn converse_stream(&self, request: ConverseRequest) -> Result<EventStream, ModelError>;

    /// A whole answer: the stream, collected. Providers with a cheaper non-streamed path override it.
    async fn converse(&self, request: ConverseRequest) -> Result<ConverseOutput, ModelError> {
        let stream = self.converse_stream(request).await?;
        collect_stream(stream).await
    }

    /// Providers that take InvokeModel bodies themselves (Amazon Bedrock) get them as sent, so
    /// fields basalt's codecs do not model reach the model and come back unchanged.
    fn native_invoke(&self) -> Option<&dyn NativeInvoke> {
        None
    }
}

/// InvokeModel and InvokeModelWithResponseStream passed through to a server that speaks them.
#[async_trait]
pub trait NativeInvoke: Send + Sync {
    /// The response body and the token counts the server reported.
    async fn invoke(&self, body: Vec<u8>) -> Result<NativeAnswer, ModelError>;

    /// The response chunks (each one JSON document, as Bedrock's `chunk.bytes` carries it).
    async fn invoke_stream(&self, body: Vec<u8>) -> Result<crate::ChunkStream, ModelError>;
}

/// A passed-through InvokeModel answer.
#[derive(Debug, Clone)]
pub struct NativeAnswer {
    pub body: Vec<u8>,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// Folds a stream of events into the answer a non-streaming call returns.
pub async fn collect_stream(mut stream: EventStream) -> Result<ConverseOutput, ModelError> {
    use basalt_types::{
        ContentBlock, Message, Metrics, Role, StopReason, TokenUsage, ToolUseBlock,
    };

    /// A block being assembled, in the order its events arrived.
    enum Block {
        Text(String),
        ToolUse {
            tool_use_id: String,
            name: String,
            input: String,
        },
    }
    let mut blocks: Vec<(u32, Block)> = Vec::new();
    let mut role = Role::Assistant;
    let mut stop = (StopReason::EndTurn, None);
    let mut usage = TokenUsage::default();
    let mut metrics = Metrics::default();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::MessageStart { role: r } => role = r,
            StreamEvent::ContentBlockDelta { index, text: delta } => {
                match blocks.iter_mut().find(|(i, _)| *i == index) {
                    Some((_, Block::Text(text))) => text.push_str(&delta),
                    Some((_, Block::ToolUse { .. })) => {
                        return Err(ModelError::Generation(format!(
                            "text arrived for tool-use block {index}"
                        )))
                    }
                    None => blocks.push((index, Block::Text(delta))),
                }
            }
            StreamEvent::ToolUseStart {
                index,
                tool_use_id,
                name,
            } => blocks.push((
                index,
                Block::ToolUse {
                    tool_use_id,
                    name,
                    input: String::new(),
                },
            )),
            StreamEvent::ToolUseDelta {
                index,
                input: piece,
            } => match blocks.iter_mut().find(|(i, _)| *i == index) {
                Some((_, Block::ToolUse { input, .. })) => input.push_str(&piece),
                _ => {
                    return Err(ModelError::Generation(format!(
                        "tool input arrived for block {index}, which is not a tool call"
                    )))
                }
            },
            StreamEvent::ContentBlockStop { .. } => {}
            StreamEvent::MessageStop {
                stop_reason,
                stop_sequence,
            } => stop = (stop_reason, stop_sequence),
            StreamEvent::Metadata {
                usage: u,
                metrics: m,
            } => {
                usage = u;
                metrics = m;
            }
        }
    }
    let mut content = Vec::with_capacity(blocks.len().max(1));
    for (_, block) in blocks {
        content.push(match block {
            Block::Text(text) => ContentBlock::Text(text),
            Block::ToolUse {
                tool_use_id,
                name,
                input,
            } => {
                let input = if input.trim().is_empty() {
                    "{}"
                } else {
                    input.as_str()
                };
                let input = serde_json::from_str(input).map_err(|e| {
                    ModelError::Generation(format!(
                        "tool call {name} has input that is not JSON: {e}"
                    ))
                })?;
                ContentBlock::ToolUse(ToolUseBlock {
                    tool_use_id,
                    name,
                    input,
                })
            }
        });
    }
    if content.is_empty() {
        content.push(ContentBlock::Text(String::new()));
    }
    Ok(ConverseOutput {
        message: Message { role, content },
        stop_reason: stop.0,
        stop_sequence: stop.1,
        usage,
        metrics,
    })
}

/// How to run a served model, as written in the catalog's `[served.NAME]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "provider", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProviderConfig {
    /// A GGUF model on the in-process llama.cpp engine.
    LocalLlama(crate::local::LocalLlamaConfig),
    /// A sentence-transformers model on the in-process embedding engine.
    LocalEmbedding(crate::embedding::LocalEmbeddingConfig),
    /// A chat model on an OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI).
    #[serde(rename = "openai")]
    OpenAi(RemoteConfig),
    /// An embedding model on an OpenAI-compatible server; `dimensions` is required.
    #[serde(rename = "openai-embedding")]
    OpenAiEmbedding(RemoteConfig),
    /// A chat model behind Anthropic's Messages API.
    Anthropic(RemoteConfig),
    /// A model on Amazon Bedrock itself (basalt as a gateway in front of AWS).
    Bedrock(RemoteConfig),
}

impl ProviderConfig {
    /// The human name of what runs, for listings.
    pub fn display_name(&self) -> String {
        match self {
            ProviderConfig::LocalLlama(config) => config.name.clone(),
            ProviderConfig::LocalEmbedding(config) => config.name.clone(),
            ProviderConfig::OpenAi(config)
            | ProviderConfig::OpenAiEmbedding(config)
            | ProviderConfig::Anthropic(config)
            | ProviderConfig::Bedrock(config) => config.display_name(),
        }
    }

    /// Whether it answers chat (Converse, text InvokeModel bodies) rather than embeddings.
    pub fn is_chat(&self) -> bool {
        match self {
            ProviderConfig::LocalLlama(_)
            | ProviderConfig::OpenAi(_)
            | ProviderConfig::Anthropic(_)
            | ProviderConfig::Bedrock(_) => true,
            ProviderConfig::LocalEmbedding(_) | ProviderConfig::OpenAiEmbedding(_) => false,
        }
    }

    /// The served model that answers when this one fails before it says anything.
    pub fn fallback(&self) -> Option<&str> {
        match self {
            ProviderConfig::OpenAi(config)
            | ProviderConfig::OpenAiEmbedding(config)
            | ProviderConfig::Anthropic(config)
            | ProviderConfig::Bedrock(config) => config.fallback.as_deref(),
            ProviderConfig::LocalLlama(_) | ProviderConfig::LocalEmbedding(_) => None,
        }
    }
}

/// A chat model that hands a request to another served model when it fails in a way another
/// model can fix — throttled, unreachable, not ready, timed out — before any output was sent.
pub struct WithFallback {
    pub primary: Arc<dyn ChatProvider>,
    pub fallback: Arc<dyn ChatProvider>,
    /// The fallback's served name, for the log line.
    pub fallback_name: String,
}

impl WithFallback {
    fn falls_back(&self, error: &ModelError) -> bool {
        let retryable = match error {
            ModelError::Throttled { .. } => true,
            ModelError::Upstream { failure, .. } => matches!(
                failure,
                UpstreamFailure::Throttled
                    | UpstreamFailure::Timeout
                    | UpstreamFailure::NotReady
                    | UpstreamFailure::Unavailable
            ),
            _ => false,
        };
        if retryable {
            tracing::warn!(fallback = %self.fallback_name, error = %error, "falling back");
        }
        retryable
    }
}

#[async_trait]
impl ChatProvider for WithFallback {
    fn limits(&self) -> ModelLimits {
        self.primary.limits()
    }

    fn count_tokens(&self, request: &ConverseRequest) -> Result<u32, ModelError> {
        self.primary.count_tokens(request)
    }

    async fn converse_stream(&self, request: ConverseRequest) -> Result<EventStream, ModelError> {
        match self.primary.converse_stream(request.clone()).await {
            Err(error) if self.falls_back(&error) => self.fallback.converse_stream(request).await,
            other => other,
        }
    }

    async fn converse(&self, request: ConverseRequest) -> Result<ConverseOutput, ModelError> {
        match self.primary.converse(request.clone()).await {
            Err(error) if self.falls_back(&error) => self.fallback.converse(request).await,
            other => other,
        }
    }

    // Raw bodies cannot move to a fallback that may not speak them: no fallback on this path.
    fn native_invoke(&self) -> Option<&dyn NativeInvoke> {
        self.primary.native_invoke()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_types::{ContentBlock, Metrics, Role, StopReason, TokenUsage};
    use serde_json::json;

    fn stream(events: Vec<StreamEvent>) -> EventStream {
        Box::pin(futures::stream::iter(events.into_iter().map(Ok)))
    }

    #[tokio::test]
    async fn collects_text_and_tool_calls_in_block_order() {
        let output = collect_stream(stream(vec![
            StreamEvent::MessageStart {
                role: Role::Assistant,
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "Let me ".into(),
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "check.".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::ToolUseStart {
                index: 1,
                tool_use_id: "tooluse_1".into(),
                name: "weather".into(),
            },
            StreamEvent::ToolUseDelta {
                index: 1,
                input: "{\"city\": ".into(),
            },
            StreamEvent::ToolUseDelta {
                index: 1,
                input: "\"Paris\"}".into(),
            },
            StreamEvent::ContentBlockStop { index: 1 },
            StreamEvent::MessageStop {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
            },
            StreamEvent::Metadata {
                usage: TokenUsage::new(10, 7),
                metrics: Metrics { latency_ms: 3 },
            },
        ]))
        .await
        .expect("collects");
        assert_eq!(output.stop_reason, StopReason::ToolUse);
        assert_eq!(
            output.message.content[0],
            ContentBlock::Text("Let me check.".into())
        );
        let ContentBlock::ToolUse(call) = &output.message.content[1] else {
            panic!("tool use expected")
        };
        assert_eq!(
            (call.tool_use_id.as_str(), call.name.as_str()),
            ("tooluse_1", "weather")
        );
        assert_eq!(call.input, json!({"city": "Paris"}));
        assert_eq!(output.usage.total_tokens, 17);
    }

    #[tokio::test]
    async fn tool_input_that_is_not_json_is_an_error() {
        let result = collect_stream(stream(vec![
            StreamEvent::ToolUseStart {
                index: 0,
                tool_use_id: "t".into(),
                name: "f".into(),
            },
            StreamEvent::ToolUseDelta {
                index: 0,
                input: "{not json".into(),
            },
        ]))
        .await;
        assert!(matches!(result, Err(ModelError::Generation(_))));
    }
}
