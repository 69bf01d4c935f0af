//! Anthropic's Messages API: Converse mapped to `POST {base_url}/v1/messages`, streamed as SSE.

use std::time::Instant;

use async_trait::async_trait;
use basalt_types::{
    ContentBlock, ConverseOutput, ConverseRequest, Message, Metrics, Role, StopReason, StreamEvent,
    SystemContentBlock, TokenUsage, ToolResultBlock, ToolUseBlock,
};
use futures::Stream;
use serde_json::{json, Map, Value};

use super::openai::remote_cannot_count;
use super::{sse, RemoteConfig, Reporter, Upstream};
use crate::{tools, ChatProvider, EventStream, ModelError, ModelLimits};

/// Anthropic's API, when the catalog names no `base_url`.
const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// The API version basalt speaks to Anthropic.
const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    config: RemoteConfig,
    upstream: Upstream,
}

impl AnthropicProvider {
    pub fn start(served: &str, config: &RemoteConfig) -> Result<Self, ModelError> {
        Ok(AnthropicProvider {
            config: config.clone(),
            upstream: Upstream::new(served, config, ANTHROPIC_BASE_URL)?,
        })
    }

    async fn post(&self, body: &Value, whole: bool) -> Result<super::Answer, ModelError> {
        self.upstream
            .post_json("/v1/messages", body, whole, |request, key| {
                let request = request.header("anthropic-version", ANTHROPIC_VERSION);
                match key {
                    Some(key) => request.header("x-api-key", key),
                    None => request,
                }
            })
            .await
    }
}

#[async_trait]
impl ChatProvider for AnthropicProvider {
    fn limits(&self) -> ModelLimits {
        self.config.limits()
    }

    fn count_tokens(&self, _request: &ConverseRequest) -> Result<u32, ModelError> {
        Err(remote_cannot_count(&self.upstream.served))
    }

    async fn converse_stream(&self, request: ConverseRequest) -> Result<EventStream, ModelError> {
        let started = Instant::now();
        let body = messages_body(&self.config, &request, true)?;
        let answer = self.post(&body, false).await?;
        let reporter = self.upstream.reporter();
        let events = sse::events(reporter.clone(), answer.response);
        Ok(Box::pin(super::hold_slot(
            answer.permit,
            stream_events(events, reporter, started),
        )))
    }

    async fn converse(&self, request: ConverseRequest) -> Result<ConverseOutput, ModelError> {
        let started = Instant::now();
        let body = messages_body(&self.config, &request, false)?;
        let answer = self.post(&body, true).await?;
        let message = self.upstream.json(answer).await?;
        let mut output = message_output(&message, &self.upstream.reporter())?;
        output.metrics.latency_ms = started.elapsed().as_millis() as u64;
        Ok(output)
    }
}

/// The Messages API body for a Converse request.
pub(crate) fn messages_body(
    config: &RemoteConfig,
    request: &ConverseRequest,
    stream: bool,
) -> Result<Value, ModelError> {
    if request.output_config.is_some() {
        return Err(ModelError::Validation(
            "outputConfig: structured output is not supported by this model's provider (Anthropic Messages API)."
                .into(),
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(config.model));
    let inference = &request.inference_config;
    // Anthropic requires max_tokens; Bedrock's Converse does not.
    body.insert(
        "max_tokens".into(),
        json!(inference
            .max_tokens
            .unwrap_or(i64::from(config.max_output_tokens))),
    );
    let system: Vec<&str> = request
        .system
        .iter()
        .filter_map(SystemContentBlock::as_text)
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n")));
    }
    let mut messages = Vec::with_capacity(request.messages.len());
    for (index, message) in request.messages.iter().enumerate() {
        let mut content = Vec::with_capacity(message.content.len());
        for (j, block) in message.content.iter().enumerate() {
            if let Some(block) = content_block(block, index, j)? {
                content.push(block);
            }
        }
        messages.push(json!({"role": message.role.as_str(), "content": content}));
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = inference.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = inference.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = inference.top_k {
        body.insert("top_k".into(), json!(k));
    }
    if !inference.stop_sequences.is_empty() {
        body.insert("stop_sequences".into(), json!(inference.stop_sequences));
    }
    if let Some(plan) = tools::ToolPlan::from_request(request)? {
        let specs: Vec<Value> = plan
            .tools
            .iter()
            .map(|t| {
                let mut spec = json!({"name": t.name, "input_schema": t.input_schema});
                if let Some(description) = &t.description {
                    spec["description"] = json!(description);
                }
                spec
            })
            .collect();
        body.insert("tools".into(), Value::Array(specs));
        let mut choice = match &plan.choice {
            tools::ToolChoice::Auto => json!({"type": "auto"}),
            tools::ToolChoice::Any => json!({"type": "any"}),
            tools::ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        };
        if request.disable_parallel_tool_use {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tool_choice".into(), choice);
    }
    if let Some(Value::Object(extra)) = &request.additional_model_request_fields {
        // `stream` is basalt's to decide: it changes the answer's shape.
        for (key, value) in extra.iter().filter(|(key, _)| key.as_str() != "stream") {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

fn content_block(
    block: &ContentBlock,
    index: usize,
    j: usize,
) -> Result<Option<Value>, ModelError> {
    Ok(Some(match block {
        ContentBlock::Text(text) => json!({"type": "text", "text": text}),
        ContentBlock::Image(image) => {
            let format = image.get("format").and_then(Value::as_str).unwrap_or("png");
            let data = image.pointer("/source/bytes").and_then(Value::as_str).ok_or_else(|| {
                ModelError::Validation(format!(
                    "messages.{index}.content.{j}.image.source: only bytes sources can be sent to this model."
                ))
            })?;
            json!({"type": "image", "source": {"type": "base64", "media_type": format!("image/{format}"), "data": data}})
        }
        ContentBlock::Document(document) => json!({
            "type": "text",
            "text": crate::local::document_text(document, index, j)?,
        }),
        ContentBlock::ToolUse(call) => json!({
            "type": "tool_use", "id": call.tool_use_id, "name": call.name, "input": call.input,
        }),
        ContentBlock::ToolResult(result) => tool_result(result),
        ContentBlock::CachePoint(_) => return Ok(None),
        other => {
            return Err(ModelError::Validation(format!(
            "messages.{index}.content.{j}: the {} content block is not supported by this model.",
            other.kind()
        )))
        }
    }))
}

fn tool_result(result: &ToolResultBlock) -> Value {
    let content: Vec<Value> = result
        .content
        .iter()
        .filter_map(|piece| {
            if let Some(text) = piece.get("text").and_then(Value::as_str) {
                Some(json!({"type": "text", "text": text}))
            } else {
                piece
                    .get("json")
                    .map(|j| json!({"type": "text", "text": j.to_string()}))
            }
        })
        .collect();
    let mut out =
        json!({"type": "tool_result", "tool_use_id": result.tool_use_id, "content": content});
    if result.status.as_deref() == Some("error") {
        out["is_error"] = json!(true);
    }
    out
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("tool_use") => StopReason::ToolUse,
        Some("refusal") => StopReason::ContentFiltered,
        Some("model_context_window_exceeded") => StopReason::ModelContextWindowExceeded,
        _ => StopReason::EndTurn,
    }
}

fn count(usage: Option<&Value>, field: &str) -> u32 {
    usage
        .and_then(|u| u.get(field))
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32
}

/// A whole Messages API answer as a Converse answer.
pub(crate) fn message_output(
    message: &Value,
    reporter: &Reporter,
) -> Result<ConverseOutput, ModelError> {
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| reporter.bad_answer("no content in the message"))?;
    let mut content = Vec::with_capacity(blocks.len());
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => content.push(ContentBlock::Text(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )),
            Some("tool_use") => content.push(ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: block
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                name: block
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| reporter.bad_answer("a tool_use block without a name"))?
                    .to_string(),
                input: block.get("input").cloned().unwrap_or_else(|| json!({})),
            })),
            // Thinking and server-tool blocks have no Converse counterpart here.
            _ => {}
        }
    }
    if content.is_empty() {
        content.push(ContentBlock::Text(String::new()));
    }
    let usage = message.get("usage");
    Ok(ConverseOutput {
        message: Message {
            role: Role::Assistant,
            content,
        },
        stop_reason: stop_reason(message.get("stop_reason").and_then(Value::as_str)),
        stop_sequence: message
            .get("stop_sequence")
            .and_then(Value::as_str)
            .map(str::to_string),
        usage: TokenUsage::new(count(usage, "input_tokens"), count(usage, "output_tokens")),
        metrics: Metrics::default(),
    })
}

/// Anthropic's stream events as Converse stream events. Block indexes carry over; a stream that
/// ends before `message_stop` is an error.
fn stream_events(
    events: impl Stream<Item = Result<sse::SseEvent, ModelError>> + Send + 'static,
    reporter: Reporter,
    started: Instant,
) -> impl Stream<Item = Result<StreamEvent, ModelError>> + Send {
    let mut folder = EventFolder::default();
    let cut = reporter.clone();
    super::fold_stream(
        events,
        move |event| folder.event(&event, &reporter, started),
        move || cut.bad_answer("the stream ended before message_stop"),
    )
}

#[derive(Default)]
struct EventFolder {
    input_tokens: u32,
    output_tokens: u32,
    stop: Option<(StopReason, Option<String>)>,
    /// Which block indexes are tool calls (their deltas are JSON pieces).
    tool_blocks: Vec<u32>,
}

impl EventFolder {
    /// The events one SSE event makes, and whether the answer is complete.
    fn event(
        &mut self,
        event: &sse::SseEvent,
        reporter: &Reporter,
        started: Instant,
    ) -> Result<(Vec<StreamEvent>, bool), ModelError> {
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|e| reporter.bad_answer(format!("an event that is not JSON ({e})")))?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(&event.event);
        let index = || data.get("index").and_then(Value::as_u64).unwrap_or(0) as u32;
        let events = match kind {
            "message_start" => {
                let usage = data.pointer("/message/usage");
                self.input_tokens = count(usage, "input_tokens");
                self.output_tokens = count(usage, "output_tokens");
                vec![StreamEvent::MessageStart {
                    role: Role::Assistant,
                }]
            }
            "content_block_start" => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        self.tool_blocks.push(index());
                        vec![StreamEvent::ToolUseStart {
                            index: index(),
                            tool_use_id: block
                                .get("id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            name: block
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        }]
                    }
                    _ => Vec::new(),
                }
            }
            "content_block_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => vec![StreamEvent::ContentBlockDelta {
                        index: index(),
                        text: delta
                            .get("text")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    }],
                    Some("input_json_delta") if self.tool_blocks.contains(&index()) => {
                        vec![StreamEvent::ToolUseDelta {
                            index: index(),
                            input: delta
                                .get("partial_json")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        }]
                    }
                    _ => Vec::new(),
                }
            }
            "content_block_stop" => vec![StreamEvent::ContentBlockStop { index: index() }],
            "message_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                self.stop = Some((
                    stop_reason(delta.get("stop_reason").and_then(Value::as_str)),
                    delta
                        .get("stop_sequence")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                ));
                let usage = data.get("usage");
                self.output_tokens = self.output_tokens.max(count(usage, "output_tokens"));
                self.input_tokens = self.input_tokens.max(count(usage, "input_tokens"));
                Vec::new()
            }
            "message_stop" => {
                let (stop_reason, stop_sequence) =
                    self.stop.take().unwrap_or((StopReason::EndTurn, None));
                return Ok((
                    vec![
                        StreamEvent::MessageStop {
                            stop_reason,
                            stop_sequence,
                        },
                        StreamEvent::Metadata {
                            usage: TokenUsage::new(self.input_tokens, self.output_tokens),
                            metrics: Metrics {
                                latency_ms: started.elapsed().as_millis() as u64,
                            },
                        },
                    ],
                    true,
                ));
            }
            "error" => {
                let message = data
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no details");
                let overloaded =
                    data.pointer("/error/type").and_then(Value::as_str) == Some("overloaded_error");
                return Err(if overloaded {
                    ModelError::Upstream {
                        failure: crate::UpstreamFailure::Unavailable,
                        message: format!("The model server is overloaded: {message}"),
                    }
                } else {
                    reporter.bad_answer(format!("an error mid-stream: {message}"))
                });
            }
            // ping and future event types
            _ => Vec::new(),
        };
        Ok((events, false))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures::StreamExt;
    use std::time::Duration;

    fn config() -> RemoteConfig {
        toml::from_str(
            "base_url = \"http://127.0.0.1:1\"\nmodel = \"claude-x\"\nmax_output_tokens = 1024\n",
        )
        .unwrap()
    }

    fn reporter() -> Reporter {
        Reporter {
            served: "claude".into(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn converse_maps_to_the_messages_api() {
        let request: ConverseRequest = serde_json::from_value(json!({
            "system": [{"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"text": "Weather in Paris?"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "18C"}], "status": "error"}}]}
            ],
            "toolConfig": {"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": {"type": "object"}}}}],
                           "toolChoice": {"tool": {"name": "w"}}}
        }))
        .unwrap();
        let body = messages_body(&config(), &request, true).unwrap();
        assert_eq!(body["max_tokens"], 1024);
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(
            body["messages"][1]["content"][0],
            json!({"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "Paris"}})
        );
        assert_eq!(body["messages"][2]["content"][0]["is_error"], true);
        assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "w"}));
        assert_eq!(body["stream"], true);
    }

    #[test]
    fn extra_fields_cannot_turn_a_whole_call_into_a_stream() {
        let request: ConverseRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "additionalModelRequestFields": {"stream": true, "top_k": 4}
        }))
        .unwrap();
        let body = messages_body(&config(), &request, false).unwrap();
        assert!(body.get("stream").is_none(), "{body}");
        assert_eq!(body["top_k"], 4);
    }

    #[tokio::test]
    async fn the_event_stream_folds_into_converse_events() {
        let raw = [
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":21,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"w","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Oslo\"}"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":15}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ];
        let owned = |slice: &[(&str, &str)]| -> Vec<Result<sse::SseEvent, ModelError>> {
            slice
                .iter()
                .map(|(event, data)| {
                    Ok(sse::SseEvent {
                        event: event.to_string(),
                        data: data.to_string(),
                    })
                })
                .collect()
        };
        let events = futures::stream::iter(owned(&raw));
        let events: Vec<_> = stream_events(events, reporter(), Instant::now())
            .collect()
            .await;
        let output = crate::collect_stream(Box::pin(futures::stream::iter(events)))
            .await
            .unwrap();
        assert_eq!(output.stop_reason, StopReason::ToolUse);
        assert_eq!(output.usage, TokenUsage::new(21, 15));
        assert_eq!(
            output.message.content[0],
            ContentBlock::Text("Checking.".into())
        );
        let ContentBlock::ToolUse(call) = &output.message.content[1] else {
            panic!()
        };
        assert_eq!(call.input, json!({"city": "Oslo"}));

        let cut = futures::stream::iter(owned(&raw[..4]));
        let events: Vec<_> = stream_events(cut, reporter(), Instant::now())
            .collect()
            .await;
        assert!(matches!(
            events.last(),
            Some(Err(ModelError::Upstream { .. }))
        ));
    }

    #[test]
    fn a_whole_message_becomes_a_converse_answer() {
        let message = json!({"content": [{"type": "text", "text": "Hi"}], "stop_reason": "stop_sequence",
                             "stop_sequence": "END", "usage": {"input_tokens": 3, "output_tokens": 2}});
        let output = message_output(&message, &reporter()).unwrap();
        assert_eq!(output.stop_reason, StopReason::StopSequence);
        assert_eq!(output.stop_sequence.as_deref(), Some("END"));
        assert!(message_output(&json!({"id": "x"}), &reporter()).is_err());
    }
}
