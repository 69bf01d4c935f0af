//! OpenAI-compatible servers (vLLM, llama.cpp server, Ollama, TGI, OpenAI): Converse mapped to
//! `POST {base_url}/chat/completions` (streamed as SSE) and embeddings to `POST {base_url}/embeddings`.

use std::borrow::Cow;
use std::time::Instant;

use async_trait::async_trait;
use basalt_codecs::Truncate;
use basalt_types::{
    ContentBlock, ConverseOutput, ConverseRequest, Message, Metrics, Role, StopReason, StreamEvent,
    SystemContentBlock, TokenUsage, ToolResultBlock, ToolUseBlock,
};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{sse, RemoteConfig, Reporter, Upstream};
use crate::embedding::{EmbeddingProvider, TextEmbedding};
use crate::{tools, ChatProvider, EventStream, ModelError, ModelLimits};

/// OpenAI's own API, when the catalog names no `base_url`.
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// A chat model on an OpenAI-compatible server.
pub struct OpenAiChatProvider {
    config: RemoteConfig,
    upstream: Upstream,
}

impl OpenAiChatProvider {
    pub fn start(served: &str, config: &RemoteConfig) -> Result<Self, ModelError> {
        Ok(OpenAiChatProvider {
            config: config.clone(),
            upstream: Upstream::new(served, config, OPENAI_BASE_URL)?,
        })
    }

    async fn post(&self, body: &ChatBody<'_>, whole: bool) -> Result<super::Answer, ModelError> {
        self.upstream
            .post_json("/chat/completions", body, whole, bearer)
            .await
    }
}

/// OpenAI-style auth: the key as a bearer token.
fn bearer(request: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
    match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

#[async_trait]
impl ChatProvider for OpenAiChatProvider {
    fn limits(&self) -> ModelLimits {
        self.config.limits()
    }

    fn count_tokens(&self, _request: &ConverseRequest) -> Result<u32, ModelError> {
        Err(remote_cannot_count(&self.upstream.served))
    }

    async fn converse_stream(&self, request: ConverseRequest) -> Result<EventStream, ModelError> {
        let started = Instant::now();
        let body = chat_body(&self.config.model, &request, true)?;
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
        let body = chat_body(&self.config.model, &request, false)?;
        let answer = self.post(&body, true).await?;
        let completion = self.upstream.bytes(answer).await?;
        let mut output = completion_output(&completion, &self.upstream.reporter())?;
        output.metrics.latency_ms = started.elapsed().as_millis() as u64;
        Ok(output)
    }
}

pub(crate) fn remote_cannot_count(served: &str) -> ModelError {
    ModelError::Validation(format!(
        "CountTokens is not available for this model: it is served by `{served}`, a remote model server that counts tokens only as it answers."
    ))
}

/// A `chat/completions` request as basalt sends it, serialized straight from the Converse
/// request it borrows from (no JSON tree: this is a gateway's hot path).
#[derive(Debug, Serialize)]
pub(crate) struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    /// Model-specific knobs (repetition_penalty, min_p, ...) the members above do not name.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Debug, Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    /// `None` is `content: null`, for an assistant turn that only calls tools.
    content: Option<MessageContent<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum MessageContent<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Value>),
}

impl<'a> ChatMessage<'a> {
    fn new(role: &'static str, content: Option<MessageContent<'a>>) -> Self {
        ChatMessage {
            role,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// The chat-completions body for a Converse request.
pub(crate) fn chat_body<'a>(
    model: &'a str,
    request: &'a ConverseRequest,
    stream: bool,
) -> Result<ChatBody<'a>, ModelError> {
    let mut messages = Vec::new();
    let system: Vec<&str> = request
        .system
        .iter()
        .filter_map(SystemContentBlock::as_text)
        .collect();
    if !system.is_empty() {
        let system = match system.as_slice() {
            [only] => Cow::Borrowed(*only),
            _ => Cow::Owned(system.join("\n")),
        };
        messages.push(ChatMessage::new(
            "system",
            Some(MessageContent::Text(system)),
        ));
    }
    for (index, message) in request.messages.iter().enumerate() {
        match message.role {
            Role::User => user_messages(message, index, &mut messages)?,
            Role::Assistant => messages.push(assistant_message(message, index)?),
        }
    }
    let inference = &request.inference_config;
    let mut body = ChatBody {
        model,
        messages,
        max_tokens: inference.max_tokens,
        temperature: inference.temperature,
        top_p: inference.top_p,
        stop: &inference.stop_sequences,
        tools: None,
        tool_choice: None,
        parallel_tool_calls: None,
        response_format: None,
        top_k: inference.top_k.map(|k| json!(k)),
        stream: stream.then_some(true),
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
        extra: Map::new(),
    };
    if let Some(plan) = tools::ToolPlan::from_request(request)? {
        let functions: Vec<Value> = plan
            .tools
            .iter()
            .map(|t| {
                let mut function = json!({"name": t.name, "parameters": t.input_schema});
                if let Some(description) = &t.description {
                    function["description"] = json!(description);
                }
                json!({"type": "function", "function": function})
            })
            .collect();
        body.tools = Some(functions);
        body.tool_choice = Some(match &plan.choice {
            tools::ToolChoice::Auto => json!("auto"),
            tools::ToolChoice::Any => json!("required"),
            tools::ToolChoice::Tool(name) => {
                json!({"type": "function", "function": {"name": name}})
            }
        });
        if request.disable_parallel_tool_use {
            body.parallel_tool_calls = Some(false);
        }
    }
    if let Some(schema) = tools::output_schema(request)? {
        body.response_format = Some(
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}}),
        );
    }
    // Model-specific knobs (top_k, repetition_penalty, ...) go through as the server's own
    // fields, except where the Converse request already set that member; its own top_k wins.
    if let Some(Value::Object(extra)) = &request.additional_model_request_fields {
        if let Some(top_k) = extra.get("top_k") {
            body.top_k = Some(top_k.clone());
        }
        for (key, value) in extra {
            if !body.owns(key) {
                body.extra.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(body)
}

impl ChatBody<'_> {
    /// Whether `key` belongs to a named member (set, or owned by basalt), so that an extra field
    /// of that name must not be sent.
    fn owns(&self, key: &str) -> bool {
        match key {
            // basalt decides these: an extra `stream` would change the answer's shape.
            "model" | "messages" | "stream" | "stream_options" => true,
            "max_tokens" => self.max_tokens.is_some(),
            "temperature" => self.temperature.is_some(),
            "top_p" => self.top_p.is_some(),
            "stop" => !self.stop.is_empty(),
            "tools" => self.tools.is_some(),
            "tool_choice" => self.tool_choice.is_some(),
            "parallel_tool_calls" => self.parallel_tool_calls.is_some(),
            "response_format" => self.response_format.is_some(),
            "top_k" => self.top_k.is_some(),
            _ => false,
        }
    }
}

/// A Converse user turn: its tool results become `tool` messages (which must directly follow the
/// assistant's calls), the rest one `user` message.
fn user_messages<'a>(
    message: &'a Message,
    index: usize,
    out: &mut Vec<ChatMessage<'a>>,
) -> Result<(), ModelError> {
    // The common turn, one text block, goes as a plain string without copying it.
    if let [ContentBlock::Text(text)] = message.content.as_slice() {
        out.push(ChatMessage::new(
            "user",
            Some(MessageContent::Text(Cow::Borrowed(text))),
        ));
        return Ok(());
    }
    let mut parts = Vec::new();
    for (j, block) in message.content.iter().enumerate() {
        match block {
            ContentBlock::ToolResult(result) => out.push(ChatMessage {
                tool_call_id: Some(&result.tool_use_id),
                ..ChatMessage::new(
                    "tool",
                    Some(MessageContent::Text(Cow::Owned(tool_result_text(result)))),
                )
            }),
            ContentBlock::Text(text) => parts.push(json!({"type": "text", "text": text})),
            ContentBlock::Image(image) => parts.push(image_part(image, index, j)?),
            ContentBlock::Document(document) => parts.push(
                json!({"type": "text", "text": crate::local::document_text(document, index, j)?}),
            ),
            ContentBlock::CachePoint(_) => {}
            other => return Err(unsupported(other, index, j)),
        }
    }
    let content = match parts.as_slice() {
        [] => return Ok(()),
        [only] if only.get("type") == Some(&json!("text")) => {
            MessageContent::Text(Cow::Owned(only["text"].as_str().unwrap_or("").to_string()))
        }
        _ => MessageContent::Parts(parts),
    };
    out.push(ChatMessage::new("user", Some(content)));
    Ok(())
}

fn assistant_message(message: &Message, index: usize) -> Result<ChatMessage<'_>, ModelError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in message.content.iter().enumerate() {
        match block {
            ContentBlock::Text(t) => text.push_str(t),
            ContentBlock::ToolUse(call) => calls.push(json!({
                "id": call.tool_use_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.input.to_string()},
            })),
            ContentBlock::CachePoint(_) | ContentBlock::ReasoningContent(_) => {}
            other => return Err(unsupported(other, index, j)),
        }
    }
    let content =
        (calls.is_empty() || !text.is_empty()).then_some(MessageContent::Text(Cow::Owned(text)));
    Ok(ChatMessage {
        tool_calls: calls,
        ..ChatMessage::new("assistant", content)
    })
}

/// A tool result's content as the text an OpenAI `tool` message carries.
fn tool_result_text(result: &ToolResultBlock) -> String {
    let mut text = String::new();
    if result.status.as_deref() == Some("error") {
        text.push_str("Error: ");
    }
    for piece in &result.content {
        if let Some(t) = piece.get("text").and_then(Value::as_str) {
            text.push_str(t);
        } else if let Some(j) = piece.get("json") {
            text.push_str(&j.to_string());
        }
    }
    text
}

fn image_part(image: &Value, index: usize, j: usize) -> Result<Value, ModelError> {
    let format = image.get("format").and_then(Value::as_str).unwrap_or("png");
    let bytes = image
        .pointer("/source/bytes")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ModelError::Validation(format!(
                "messages.{index}.content.{j}.image.source: only bytes sources can be sent to this model."
            ))
        })?;
    Ok(
        json!({"type": "image_url", "image_url": {"url": format!("data:image/{format};base64,{bytes}")}}),
    )
}

fn unsupported(block: &ContentBlock, index: usize, j: usize) -> ModelError {
    ModelError::Validation(format!(
        "messages.{index}.content.{j}: the {} content block is not supported by this model.",
        block.kind()
    ))
}

fn stop_reason(finish_reason: Option<&str>) -> StopReason {
    match finish_reason {
        Some("length") => StopReason::MaxTokens,
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        Some("content_filter") => StopReason::ContentFiltered,
        _ => StopReason::EndTurn,
    }
}

fn usage(value: Option<&Value>) -> TokenUsage {
    let count = |field: &str| {
        value
            .and_then(|u| u.get(field))
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32
    };
    TokenUsage::new(count("prompt_tokens"), count("completion_tokens"))
}

/// The members of a `chat.completion` basalt reads, deserialized in one pass (no JSON tree:
/// this is a gateway's hot path); everything else is skipped unread.
#[derive(Deserialize)]
struct ChatCompletion {
    #[serde(default)]
    choices: Vec<CompletionChoice>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    #[serde(default)]
    message: Option<CompletionMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CompletionMessage {
    /// A string, or null beside tool calls; anything else carries no text basalt can use.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct CompletionUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// A whole `chat.completion` as a Converse answer.
pub(crate) fn completion_output(
    completion: &[u8],
    reporter: &Reporter,
) -> Result<ConverseOutput, ModelError> {
    let completion: ChatCompletion = serde_json::from_slice(completion)
        .map_err(|e| reporter.bad_answer(format!("not a chat completion ({e})")))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| reporter.bad_answer("no choices in the completion"))?;
    let message = choice
        .message
        .ok_or_else(|| reporter.bad_answer("no message in the completion"))?;
    let mut content = Vec::new();
    if let Some(Value::String(text)) = message.content {
        if !text.is_empty() {
            content.push(ContentBlock::Text(text));
        }
    }
    for call in message.tool_calls.iter().flatten() {
        content.push(ContentBlock::ToolUse(tool_use(call, reporter)?));
    }
    if content.is_empty() {
        content.push(ContentBlock::Text(String::new()));
    }
    let usage = completion.usage.map_or_else(TokenUsage::default, |u| {
        TokenUsage::new(
            u.prompt_tokens.unwrap_or(0) as u32,
            u.completion_tokens.unwrap_or(0) as u32,
        )
    });
    Ok(ConverseOutput {
        message: Message {
            role: Role::Assistant,
            content,
        },
        stop_reason: stop_reason(choice.finish_reason.as_deref()),
        stop_sequence: None,
        usage,
        metrics: Metrics::default(),
    })
}

fn tool_use(call: &Value, reporter: &Reporter) -> Result<ToolUseBlock, ModelError> {
    let name = call
        .pointer("/function/name")
        .and_then(Value::as_str)
        .ok_or_else(|| reporter.bad_answer("a tool call without a function name"))?;
    let arguments = call
        .pointer("/function/arguments")
        .and_then(Value::as_str)
        .unwrap_or("{}");
    let input = parse_arguments(arguments, name, reporter)?;
    Ok(ToolUseBlock {
        tool_use_id: call
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(crate::local::new_tool_use_id),
        name: name.to_string(),
        input,
    })
}

fn parse_arguments(arguments: &str, name: &str, reporter: &Reporter) -> Result<Value, ModelError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(arguments).map_err(|e| {
        reporter.bad_answer(format!(
            "the arguments of tool call {name} are not JSON ({e})"
        ))
    })
}

/// Folds `chat.completion.chunk`s into Converse stream events: text deltas into one text block,
/// each tool call into its own block (OpenAI streams a call's id and name first, then argument
/// pieces), and the usage chunk into `Metadata`. A stream that ends before `[DONE]` is an error.
fn stream_events(
    events: impl Stream<Item = Result<sse::SseEvent, ModelError>> + Send + 'static,
    reporter: Reporter,
    started: Instant,
) -> impl Stream<Item = Result<StreamEvent, ModelError>> + Send {
    let mut state = ChunkFolder::default();
    let cut = reporter.clone();
    super::fold_stream(
        events,
        move |event| {
            if event.data.trim() == "[DONE]" {
                return Ok((state.finish(started), true));
            }
            let chunk: Value = serde_json::from_str(&event.data)
                .map_err(|e| reporter.bad_answer(format!("a chunk that is not JSON ({e})")))?;
            Ok((state.chunk(&chunk, &reporter)?, false))
        },
        move || cut.bad_answer("the stream ended before [DONE]"),
    )
}

/// Where a streamed answer is: which blocks are open, how it stopped, what it used.
#[derive(Default)]
struct ChunkFolder {
    started: bool,
    /// The open text block's index.
    text_block: Option<u32>,
    /// (OpenAI tool-call index, our block index) of the calls seen so far.
    calls: Vec<(u64, u32)>,
    next_block: u32,
    open_block: Option<u32>,
    stop: Option<StopReason>,
    usage: TokenUsage,
}

impl ChunkFolder {
    fn chunk(
        &mut self,
        chunk: &Value,
        reporter: &Reporter,
    ) -> Result<Vec<StreamEvent>, ModelError> {
        if let Some(message) = chunk.pointer("/error/message").and_then(Value::as_str) {
            return Err(reporter.bad_answer(format!("an error mid-stream: {message}")));
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                role: Role::Assistant,
            });
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = usage(Some(u));
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return Ok(out);
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                let index = match self.text_block {
                    Some(index) if self.open_block == Some(index) => index,
                    _ => {
                        let index = self.open(&mut out);
                        self.text_block = Some(index);
                        index
                    }
                };
                out.push(StreamEvent::ContentBlockDelta {
                    index,
                    text: text.to_string(),
                });
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let openai_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let block = match self.calls.iter().find(|(i, _)| *i == openai_index) {
                Some(&(_, block)) => block,
                None => {
                    let name = call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| reporter.bad_answer("a tool call began without a name"))?;
                    let block = self.open(&mut out);
                    self.calls.push((openai_index, block));
                    out.push(StreamEvent::ToolUseStart {
                        index: block,
                        tool_use_id: call
                            .get("id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .unwrap_or_else(crate::local::new_tool_use_id),
                        name: name.to_string(),
                    });
                    block
                }
            };
            if let Some(piece) = call.pointer("/function/arguments").and_then(Value::as_str) {
                if !piece.is_empty() {
                    out.push(StreamEvent::ToolUseDelta {
                        index: block,
                        input: piece.to_string(),
                    });
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop = Some(stop_reason(Some(reason)));
        }
        Ok(out)
    }

    /// Closes the open block (blocks never interleave in Converse) and opens the next.
    fn open(&mut self, out: &mut Vec<StreamEvent>) -> u32 {
        if let Some(index) = self.open_block.take() {
            out.push(StreamEvent::ContentBlockStop { index });
        }
        let index = self.next_block;
        self.next_block += 1;
        self.open_block = Some(index);
        index
    }

    fn finish(&mut self, started: Instant) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if !self.started {
            out.push(StreamEvent::MessageStart {
                role: Role::Assistant,
            });
        }
        if let Some(index) = self.open_block.take() {
            out.push(StreamEvent::ContentBlockStop { index });
        }
        out.push(StreamEvent::MessageStop {
            stop_reason: self.stop.unwrap_or(StopReason::EndTurn),
            stop_sequence: None,
        });
        out.push(StreamEvent::Metadata {
            usage: self.usage,
            metrics: Metrics {
                latency_ms: started.elapsed().as_millis() as u64,
            },
        });
        out
    }
}

/// An embedding model on an OpenAI-compatible server.
pub struct OpenAiEmbeddingProvider {
    config: RemoteConfig,
    upstream: Upstream,
    dimensions: u32,
}

impl OpenAiEmbeddingProvider {
    pub fn start(served: &str, config: &RemoteConfig, dimensions: u32) -> Result<Self, ModelError> {
        Ok(OpenAiEmbeddingProvider {
            config: config.clone(),
            upstream: Upstream::new(served, config, OPENAI_BASE_URL)?,
            dimensions,
        })
    }
}

#[async_trait]
impl EmbeddingProvider for OpenAiEmbeddingProvider {
    fn native_dimensions(&self) -> u32 {
        self.dimensions
    }

    async fn embed(
        &self,
        texts: Vec<String>,
        _truncate: Truncate,
    ) -> Result<Vec<TextEmbedding>, ModelError> {
        let count = texts.len();
        let body = json!({"model": self.config.model, "input": texts});
        let answer = self
            .upstream
            .post_json("/embeddings", &body, true, bearer)
            .await?;
        let reporter = self.upstream.reporter();
        let answer = self.upstream.json(answer).await?;
        embeddings_output(&answer, count, self.dimensions, &reporter)
    }
}

fn embeddings_output(
    answer: &Value,
    count: usize,
    dimensions: u32,
    reporter: &Reporter,
) -> Result<Vec<TextEmbedding>, ModelError> {
    let data = answer
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| reporter.bad_answer("no data in the embeddings answer"))?;
    if data.len() != count {
        return Err(reporter.bad_answer(format!("{} vectors for {count} texts", data.len())));
    }
    // The server reports tokens for the whole call only; spread them over the texts.
    let total = usage(answer.get("usage")).input_tokens;
    let mut out: Vec<Option<TextEmbedding>> = vec![None; count];
    for (position, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .map_or(position, |i| i as usize);
        let vector: Vec<f32> = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| reporter.bad_answer("an embedding that is not a list of numbers"))?
            .iter()
            .map(|x| x.as_f64().map(|x| x as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| reporter.bad_answer("an embedding that is not a list of numbers"))?;
        if vector.len() != dimensions as usize {
            return Err(reporter.bad_answer(format!(
                "a vector of {} dimensions; the catalog says {dimensions}",
                vector.len()
            )));
        }
        let slot = out
            .get_mut(index)
            .ok_or_else(|| reporter.bad_answer(format!("vector index {index} out of range")))?;
        *slot = Some(TextEmbedding {
            vector,
            tokens: total / count as u32,
        });
    }
    out.into_iter()
        .map(|v| v.ok_or_else(|| reporter.bad_answer("a text got no vector")))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures::StreamExt;
    use std::time::Duration;

    fn reporter() -> Reporter {
        Reporter {
            served: "remote".into(),
            timeout: Duration::from_secs(1),
        }
    }

    fn conversation() -> ConverseRequest {
        serde_json::from_value(json!({
            "system": [{"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"text": "Weather in Paris?"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"json": {"c": 18}}]}}, {"text": "Thanks"}]}
            ],
            "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "stopSequences": ["END"]},
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}],
                           "toolChoice": {"any": {}}},
            "additionalModelRequestFields": {"top_k": 5}
        }))
        .unwrap()
    }

    #[test]
    fn extra_fields_pass_through_without_overriding_what_basalt_sets() {
        let mut request: ConverseRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {"maxTokens": 50},
            "additionalModelRequestFields": {
                "min_p": 0.1, "top_k": 7, "max_tokens": 9, "temperature": 0.3,
                "stream": true, "stream_options": {"include_usage": false}, "model": "other"
            }
        }))
        .unwrap();
        request.inference_config.top_k = Some(3);
        let body = json!(chat_body("served-model", &request, false).unwrap());
        assert_eq!(body["model"], "served-model");
        assert_eq!(body["min_p"], 0.1);
        assert_eq!(body["top_k"], 7, "the server's own top_k field wins");
        assert_eq!(body["max_tokens"], 50);
        assert_eq!(
            body["temperature"], 0.3,
            "unset members take the extra field"
        );
        assert!(body.get("stream").is_none() && body.get("stream_options").is_none());
        let streamed = json!(chat_body("served-model", &request, true).unwrap());
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn converse_maps_to_chat_completions() {
        let body = json!(chat_body("served-model", &conversation(), true).unwrap());
        assert_eq!(body["model"], "served-model");
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"c\":18}"},
                {"role": "user", "content": "Thanks"}
            ])
        );
        assert_eq!(body["max_tokens"], 50);
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["tool_choice"], "required");
        assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(body["top_k"], 5);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert!(body.get("parallel_tool_calls").is_none());
    }

    #[test]
    fn a_completion_becomes_a_converse_answer() {
        let completion = json!({"choices": [{"message": {"content": null, "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
            "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 12, "completion_tokens": 7}});
        let output = completion_output(completion.to_string().as_bytes(), &reporter()).unwrap();
        assert_eq!(output.stop_reason, StopReason::ToolUse);
        assert_eq!(output.usage, TokenUsage::new(12, 7));
        let ContentBlock::ToolUse(call) = &output.message.content[0] else {
            panic!("{output:?}")
        };
        assert_eq!(
            (call.tool_use_id.as_str(), &call.input),
            ("call_9", &json!({"city": "Oslo"}))
        );

        let broken = json!({"choices": [{"message": {"tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": "{\"city\": "}}]}}]});
        let err = completion_output(broken.to_string().as_bytes(), &reporter()).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::Upstream {
                    failure: crate::UpstreamFailure::BadAnswer,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            completion_output(json!({"choices": []}).to_string().as_bytes(), &reporter()).is_err()
        );
    }

    fn sse_of(
        chunks: &[&str],
    ) -> impl Stream<Item = Result<sse::SseEvent, ModelError>> + Send + 'static {
        let events: Vec<_> = chunks
            .iter()
            .map(|data| {
                Ok(sse::SseEvent {
                    event: "message".into(),
                    data: data.to_string(),
                })
            })
            .collect();
        futures::stream::iter(events)
    }

    #[tokio::test]
    async fn streamed_chunks_fold_into_blocks() {
        let chunks = [
            r#"{"choices": [{"delta": {"role": "assistant", "content": "Let me check."}}]}"#,
            r#"{"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}}]}"#,
            r#"{"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}}]}"#,
            r#"{"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": " \"Rome\"}"}}]}}]}"#,
            r#"{"choices": [{"delta": {"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "get_weather", "arguments": "{}"}}]}}]}"#,
            r#"{"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}"#,
            r#"{"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 9}}"#,
            "[DONE]",
        ];
        let events: Vec<_> = stream_events(sse_of(&chunks), reporter(), Instant::now())
            .collect()
            .await;
        let events: Vec<StreamEvent> = events.into_iter().map(Result::unwrap).collect();
        let output = crate::collect_stream(Box::pin(futures::stream::iter(
            events.clone().into_iter().map(Ok),
        )))
        .await
        .unwrap();
        assert_eq!(output.stop_reason, StopReason::ToolUse);
        assert_eq!(output.usage, TokenUsage::new(30, 9));
        assert_eq!(output.message.content.len(), 3);
        assert_eq!(
            output.message.content[0],
            ContentBlock::Text("Let me check.".into())
        );
        let ContentBlock::ToolUse(call) = &output.message.content[1] else {
            panic!()
        };
        assert_eq!(call.input, json!({"city": "Rome"}));
        let stops = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::ContentBlockStop { .. }))
            .count();
        assert_eq!(stops, 3);
    }

    #[tokio::test]
    async fn a_cut_or_garbled_stream_is_a_model_error() {
        for chunks in [
            vec![r#"{"choices": [{"delta": {"content": "Hel"}}]}"#],
            vec![
                r#"{"choices": [{"delta": {"content": "Hel"}}]}"#,
                "{not json",
            ],
        ] {
            let events: Vec<_> = stream_events(sse_of(&chunks), reporter(), Instant::now())
                .collect()
                .await;
            let last = events.last().unwrap();
            assert!(
                matches!(
                    last,
                    Err(ModelError::Upstream {
                        failure: crate::UpstreamFailure::BadAnswer,
                        ..
                    })
                ),
                "{last:?}"
            );
        }
    }

    #[test]
    fn embeddings_come_back_in_text_order() {
        let answer = json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0]},
            {"index": 0, "embedding": [1.0, 0.0]}],
            "usage": {"prompt_tokens": 8}});
        let out = embeddings_output(&answer, 2, 2, &reporter()).unwrap();
        assert_eq!(out[0].vector, vec![1.0, 0.0]);
        assert_eq!(out[1].tokens, 4);
        assert!(embeddings_output(&answer, 3, 2, &reporter()).is_err());
        assert!(embeddings_output(&answer, 2, 3, &reporter()).is_err());
    }
}
