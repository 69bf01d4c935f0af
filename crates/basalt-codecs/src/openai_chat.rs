//! OpenAI Chat Completions ⇄ Converse, a body format like the others here. A `chat.completion`
//! request becomes a [`ConverseRequest`]; a [`ConverseOutput`] becomes a `chat.completion`, and
//! each [`StreamEvent`] a `chat.completion.chunk`. No HTTP here: basalt-server's `/v1` handlers
//! wire these to the model pipeline and turn [`ChatRequestError`] into OpenAI's error body.

use basalt_types::{
    ContentBlock, ConverseOutput, ConverseRequest, InferenceConfig, Message, Role, StopReason,
    StreamEvent, SystemContentBlock, TokenUsage, ToolResultBlock, ToolUseBlock,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A chat request OpenAI would refuse with 400 `invalid_request_error`; `param` names the
/// offending member when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequestError {
    pub message: String,
    pub param: Option<String>,
}

impl ChatRequestError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ChatRequestError {
            message: message.into(),
            param: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }
}

impl std::fmt::Display for ChatRequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ChatRequestError {}

/// The members of a chat request basalt reads; others (`user`, `seed`, `store`, penalties, ...)
/// have no effect on a local model and are accepted and ignored, as OpenAI-compatible servers do.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    messages: Vec<Value>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<i64>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    /// Not OpenAI's, but vLLM's and llama.cpp's servers take it; Converse passes it as `top_k`.
    #[serde(default)]
    top_k: Option<i64>,
    #[serde(default)]
    stop: Option<Value>,
    #[serde(default)]
    n: Option<i64>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    response_format: Option<Value>,
    #[serde(default)]
    logprobs: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ToolCall {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: FunctionCall,
}

#[derive(Debug, Deserialize)]
struct FunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct Tool {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    function: Option<FunctionDefinition>,
}

#[derive(Debug, Deserialize)]
struct FunctionDefinition {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

impl ChatRequest {
    /// Reads a request body, with OpenAI's messages for bodies that are not JSON or lack
    /// `model` / `messages`.
    pub fn parse(body: &[u8]) -> Result<Self, ChatRequestError> {
        // One pass for a well-formed request; the slower look below only words the error.
        match serde_json::from_slice::<ChatRequest>(body) {
            Ok(request) if !request.model.is_empty() => return Ok(request),
            _ => {}
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ChatRequestError::invalid(format!(
                "We could not parse the JSON body of your request: {e}. The OpenAI API expects a JSON payload."
            ))
        })?;
        if !value.is_object() {
            return Err(ChatRequestError::invalid(
                "The request body must be a JSON object.",
            ));
        }
        match value.get("model") {
            Some(Value::String(model)) if !model.is_empty() => {}
            _ => {
                return Err(
                    ChatRequestError::invalid("You must provide a model parameter.")
                        .with_param("model"),
                )
            }
        }
        if !value.get("messages").is_some_and(Value::is_array) {
            return Err(
                ChatRequestError::invalid("Missing required parameter: 'messages'.")
                    .with_param("messages"),
            );
        }
        serde_json::from_value(value)
            .map_err(|e| ChatRequestError::invalid(format!("Invalid request body: {e}.")))
    }

    pub fn stream(&self) -> bool {
        self.stream == Some(true)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The Converse request this chat request asks for.
    pub fn to_converse(&self) -> Result<ConverseRequest, ChatRequestError> {
        if let Some(n) = self.n.filter(|&n| n != 1) {
            return Err(ChatRequestError::invalid(format!(
                "n = {n} is not supported: basalt returns exactly one choice. Leave n unset or set it to 1."
            ))
            .with_param("n"));
        }
        if self.logprobs == Some(true) {
            return Err(ChatRequestError::invalid(
                "logprobs are not supported by basalt's models; leave logprobs unset.",
            )
            .with_param("logprobs"));
        }
        if let Some(t) = self.temperature.filter(|t| !(0.0..=1.0).contains(t)) {
            // Converse's range; OpenAI's goes to 2, which has no equivalent here.
            return Err(ChatRequestError::invalid(format!(
                "temperature must be between 0 and 1 for basalt's models; got {t}."
            ))
            .with_param("temperature"));
        }
        for (param, value) in [
            ("max_completion_tokens", self.max_completion_tokens),
            ("max_tokens", self.max_tokens),
        ] {
            if let Some(n) = value.filter(|&n| n < 1) {
                return Err(ChatRequestError::invalid(format!(
                    "{param} must be at least 1; got {n}."
                ))
                .with_param(param));
            }
        }
        let (system, messages) = conversation(&self.messages)?;
        let stop_sequences = match &self.stop {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(list)) if list.iter().all(Value::is_string) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(_) => {
                return Err(ChatRequestError::invalid(
                    "stop must be a string or a list of strings.",
                )
                .with_param("stop"))
            }
        };
        let tool_config = tool_config(self.tools.as_deref(), self.tool_choice.as_ref())?;
        let output_config = match &self.response_format {
            Some(format) => output_config(format)?,
            None => None,
        };
        Ok(ConverseRequest {
            messages,
            system,
            inference_config: InferenceConfig {
                max_tokens: self.max_completion_tokens.or(self.max_tokens),
                temperature: self.temperature,
                top_p: self.top_p,
                top_k: None,
                stop_sequences,
            },
            additional_model_request_fields: self.top_k.map(|k| json!({ "top_k": k })),
            tool_config,
            output_config,
            disable_parallel_tool_use: self.parallel_tool_calls == Some(false),
            ..ConverseRequest::default()
        })
    }
}

/// OpenAI messages → Converse's system blocks and alternating messages. System and developer
/// messages join `system`; `tool` messages become toolResult blocks of a user turn; consecutive
/// turns of one role are merged, since Converse requires user and assistant to alternate.
fn conversation(
    raw: &[Value],
) -> Result<(Vec<SystemContentBlock>, Vec<Message>), ChatRequestError> {
    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    // Ids of the assistant's tool calls so far: a `tool` message must answer one of them.
    let mut called: Vec<String> = Vec::new();
    for (i, value) in raw.iter().enumerate() {
        let at = format!("messages[{i}]");
        let message: ChatMessage = serde_json::from_value(value.clone()).map_err(|e| {
            ChatRequestError::invalid(format!("Invalid {at}: {e}.")).with_param(&at)
        })?;
        let content = message.content.as_ref().filter(|c| !c.is_null());
        let (role, blocks) = match message.role.as_str() {
            "system" | "developer" => {
                let text = text_only(content, &at)?;
                if !text.is_empty() {
                    system.push(SystemContentBlock::Text(text));
                }
                continue;
            }
            "user" => (Role::User, content_blocks(content, &at, true)?),
            "assistant" => {
                let mut blocks = content_blocks(content, &at, false)?;
                for (j, call) in message.tool_calls.iter().flatten().enumerate() {
                    blocks.push(tool_use(call, &format!("{at}.tool_calls[{j}]"))?);
                    called.push(call.id.clone());
                }
                (Role::Assistant, blocks)
            }
            "tool" => {
                let id = message
                    .tool_call_id
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| {
                        ChatRequestError::invalid(format!(
                            "Missing required parameter: '{at}.tool_call_id'."
                        ))
                        .with_param(format!("{at}.tool_call_id"))
                    })?;
                if !called.contains(&id) {
                    return Err(ChatRequestError::invalid(format!(
                        "Invalid '{at}.tool_call_id': '{id}' does not answer any tool_calls of an earlier assistant message."
                    ))
                    .with_param(format!("{at}.tool_call_id")));
                }
                let text = text_only(content, &at)?;
                let block = ContentBlock::ToolResult(ToolResultBlock {
                    tool_use_id: id,
                    content: vec![json!({ "text": text })],
                    status: None,
                });
                (Role::User, vec![block])
            }
            "function" => {
                return Err(ChatRequestError::invalid(format!(
                    "{at}.role: the deprecated 'function' role is not supported; send tool results as 'tool' messages."
                ))
                .with_param(format!("{at}.role")))
            }
            other => {
                return Err(ChatRequestError::invalid(format!(
                    "Invalid value for '{at}.role': '{other}'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'."
                ))
                .with_param(format!("{at}.role")))
            }
        };
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    Ok((system, messages))
}

/// A message's content as Converse blocks: a string, or an array of `text` (and, for users,
/// `image_url`) parts. Empty text is dropped (assistant turns with only tool calls send "").
fn content_blocks(
    content: Option<&Value>,
    at: &str,
    images: bool,
) -> Result<Vec<ContentBlock>, ChatRequestError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => return Ok(Vec::new()),
        Some(Value::String(text)) => return Ok(vec![ContentBlock::Text(text.clone())]),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(ChatRequestError::invalid(format!(
                "{at}.content must be a string or an array of content parts."
            ))
            .with_param(format!("{at}.content")))
        }
    };
    let mut blocks = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let here = format!("{at}.content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("text") => match part.get("text").and_then(Value::as_str) {
                Some("") => {}
                Some(text) => blocks.push(ContentBlock::Text(text.to_string())),
                None => return Err(missing(&format!("{here}.text"))),
            },
            // An assistant's earlier refusal is part of the conversation as text.
            Some("refusal") if !images => {
                if let Some(text) = part.get("refusal").and_then(Value::as_str) {
                    blocks.push(ContentBlock::Text(text.to_string()));
                }
            }
            Some("image_url") if images => blocks.push(image(part, &here)?),
            Some(kind) => {
                return Err(ChatRequestError::invalid(format!(
                    "{here}: content parts of type '{kind}' are not supported here; basalt reads 'text'{} parts.",
                    if images { " and 'image_url'" } else { "" }
                ))
                .with_param(format!("{here}.type")))
            }
            None => return Err(missing(&format!("{here}.type"))),
        }
    }
    Ok(blocks)
}

/// System, developer and tool messages carry text only: a string or `text` parts, joined.
fn text_only(content: Option<&Value>, at: &str) -> Result<String, ChatRequestError> {
    let blocks = content_blocks(content, at, false)?;
    Ok(blocks
        .iter()
        .filter_map(ContentBlock::as_text)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// An `image_url` part as Converse's image block. Only `data:` URLs: basalt fetches nothing.
fn image(part: &Value, at: &str) -> Result<ContentBlock, ChatRequestError> {
    let url = part
        .get("image_url")
        .and_then(|i| i.get("url").or(Some(i)))
        .and_then(Value::as_str)
        .ok_or_else(|| missing(&format!("{at}.image_url.url")))?;
    let param = format!("{at}.image_url.url");
    let Some((header, data)) = url.strip_prefix("data:").and_then(|u| u.split_once(',')) else {
        return Err(ChatRequestError::invalid(format!(
            "{param}: basalt does not fetch images from URLs; send the image inline as a data URL (data:image/png;base64,...)."
        ))
        .with_param(param));
    };
    let format = match header.strip_suffix(";base64") {
        Some("image/png") => "png",
        Some("image/jpeg" | "image/jpg") => "jpeg",
        Some("image/gif") => "gif",
        Some("image/webp") => "webp",
        _ => {
            return Err(ChatRequestError::invalid(format!(
                "{param}: the data URL must be base64 png, jpeg, gif or webp (data:image/png;base64,...)."
            ))
            .with_param(param))
        }
    };
    Ok(ContentBlock::Image(
        json!({ "format": format, "source": { "bytes": data } }),
    ))
}

/// A past tool call of the assistant as Converse's toolUse block, its id kept.
fn tool_use(call: &ToolCall, at: &str) -> Result<ContentBlock, ChatRequestError> {
    if call.kind.as_deref().is_some_and(|k| k != "function") {
        return Err(ChatRequestError::invalid(format!(
            "{at}.type: only 'function' tool calls are supported."
        ))
        .with_param(format!("{at}.type")));
    }
    let arguments = call.function.arguments.trim();
    let input = if arguments.is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).map_err(|e| {
            ChatRequestError::invalid(format!("{at}.function.arguments is not valid JSON: {e}."))
                .with_param(format!("{at}.function.arguments"))
        })?
    };
    Ok(ContentBlock::ToolUse(ToolUseBlock {
        tool_use_id: call.id.clone(),
        name: call.function.name.clone(),
        input,
    }))
}

/// `tools` + `tool_choice` → Converse's `toolConfig`. `tool_choice: "none"` offers no tools.
fn tool_config(
    tools: Option<&[Value]>,
    choice: Option<&Value>,
) -> Result<Option<Value>, ChatRequestError> {
    let tools = tools.unwrap_or_default();
    let choice = match choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "none" => return Ok(None),
        Some(Value::String(s)) if s == "auto" => Some(json!({ "auto": {} })),
        Some(Value::String(s)) if s == "required" => Some(json!({ "any": {} })),
        Some(c) if c.get("type").and_then(Value::as_str) == Some("function") => {
            let name = c
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("tool_choice.function.name"))?;
            Some(json!({ "tool": { "name": name } }))
        }
        Some(other) => {
            return Err(ChatRequestError::invalid(format!(
                "Invalid tool_choice {other}: use 'none', 'auto', 'required' or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}."
            ))
            .with_param("tool_choice"))
        }
    };
    if tools.is_empty() {
        return match choice {
            None => Ok(None),
            Some(_) => Err(ChatRequestError::invalid(
                "tool_choice is only allowed when tools are specified.",
            )
            .with_param("tool_choice")),
        };
    }
    let mut specs = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("tools[{i}]");
        let tool: Tool = serde_json::from_value(tool.clone()).map_err(|e| {
            ChatRequestError::invalid(format!("Invalid {at}: {e}.")).with_param(&at)
        })?;
        let function = match (tool.kind.as_str(), tool.function) {
            ("function", Some(function)) => function,
            ("function", None) => return Err(missing(&format!("{at}.function"))),
            (kind, _) => {
                return Err(ChatRequestError::invalid(format!(
                    "{at}.type: tools of type '{kind}' are not supported; basalt serves 'function' tools."
                ))
                .with_param(format!("{at}.type")))
            }
        };
        // OpenAI lets `parameters` be left out for a function without arguments.
        let schema = function
            .parameters
            .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
        let mut spec = json!({ "name": function.name, "inputSchema": { "json": schema } });
        if let Some(description) = function.description {
            spec["description"] = Value::from(description);
        }
        specs.push(json!({ "toolSpec": spec }));
    }
    if let Some(name) = choice
        .as_ref()
        .and_then(|c| c.pointer("/tool/name"))
        .and_then(Value::as_str)
    {
        if !specs.iter().any(|s| s["toolSpec"]["name"] == name) {
            return Err(ChatRequestError::invalid(format!(
                "Invalid tool_choice: the function '{name}' is not one of the tools."
            ))
            .with_param("tool_choice"));
        }
    }
    let mut config = json!({ "tools": specs });
    if let Some(choice) = choice {
        config["toolChoice"] = choice;
    }
    Ok(Some(config))
}

/// `response_format` → Converse's `outputConfig.textFormat` (the schema travels as a string).
fn output_config(format: &Value) -> Result<Option<Value>, ChatRequestError> {
    let (name, description, schema) = match format.get("type").and_then(Value::as_str) {
        Some("text") => return Ok(None),
        Some("json_object") => ("json_object".to_string(), None, json!({ "type": "object" })),
        Some("json_schema") => {
            let spec = format
                .get("json_schema")
                .ok_or_else(|| missing("response_format.json_schema"))?;
            let schema = spec
                .get("schema")
                .filter(|s| s.is_object())
                .cloned()
                .ok_or_else(|| {
                    ChatRequestError::invalid(
                        "response_format.json_schema.schema must be a JSON Schema object.",
                    )
                    .with_param("response_format.json_schema.schema")
                })?;
            let name = spec
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("response")
                .to_string();
            (name, spec.get("description").cloned(), schema)
        }
        _ => {
            return Err(ChatRequestError::invalid(
                "response_format.type must be one of 'text', 'json_object' or 'json_schema'.",
            )
            .with_param("response_format.type"))
        }
    };
    let mut json_schema = json!({ "name": name, "schema": schema.to_string() });
    if let Some(description) = description.filter(Value::is_string) {
        json_schema["description"] = description;
    }
    Ok(Some(json!({
        "textFormat": { "type": "json_schema", "structure": { "jsonSchema": json_schema } }
    })))
}

fn missing(param: &str) -> ChatRequestError {
    ChatRequestError::invalid(format!("Missing required parameter: '{param}'.")).with_param(param)
}

/// Why the answer ended, in OpenAI's words.
pub fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::GuardrailIntervened | StopReason::ContentFiltered => "content_filter",
    }
}

fn usage(usage: &TokenUsage) -> Value {
    json!(Usage::of(usage))
}

/// Who answers, and when: the members every completion and chunk repeat.
/// Seconds since the Unix epoch, for `created`.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, Clone)]
pub struct Completion {
    pub id: String,
    pub model: String,
    pub created: u64,
}

impl Completion {
    pub fn new(model: &str) -> Self {
        Completion {
            // 128 random bits in hex, as OpenAI's ids carry.
            id: format!("chatcmpl-{:032x}", rand::random::<u128>()),
            model: model.to_string(),
            created: unix_now(),
        }
    }

    /// A finished answer as a `chat.completion`.
    pub fn body<'a>(&'a self, output: &'a ConverseOutput) -> ChatCompletion<'a> {
        let text = output.text();
        let tool_calls: Vec<ToolCallOut<'a>> = output
            .message
            .content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::ToolUse(call) => Some(ToolCallOut {
                    id: &call.tool_use_id,
                    kind: "function",
                    function: FunctionOut {
                        name: &call.name,
                        arguments: call.input.to_string(),
                    },
                }),
                _ => None,
            })
            .collect();
        // OpenAI sends `content: null` beside tool calls when the model said nothing else.
        let content = (tool_calls.is_empty() || !text.is_empty()).then_some(text);
        ChatCompletion {
            id: &self.id,
            object: "chat.completion",
            created: self.created,
            model: &self.model,
            choices: [CompletionChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content,
                    refusal: None,
                    tool_calls,
                },
                finish_reason: finish_reason(output.stop_reason),
                logprobs: None,
            }],
            usage: Usage::of(&output.usage),
            system_fingerprint: None,
        }
    }
}

/// A `chat.completion` as OpenAI writes it; serialized straight from the answer, with no
/// intermediate JSON tree (this is a gateway's hot path).
#[derive(Debug, Serialize)]
pub struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice<'a>; 1],
    usage: Usage,
    /// Always `null`, as in OpenAI's answers.
    system_fingerprint: Option<()>,
}

#[derive(Debug, Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    finish_reason: &'static str,
    logprobs: Option<()>,
}

#[derive(Debug, Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
}

#[derive(Debug, Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Debug, Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: String,
}

#[derive(Debug, Serialize)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

impl Usage {
    fn of(usage: &TokenUsage) -> Self {
        Usage {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            total_tokens: usage.total_tokens,
        }
    }
}

/// Turns Converse stream events into `chat.completion.chunk`s, numbering tool calls as OpenAI
/// does (0, 1, ... in order) rather than by content block.
#[derive(Debug)]
pub struct ChunkEncoder {
    completion: Completion,
    include_usage: bool,
    /// Content-block index of each tool call so far; a call's position is its OpenAI index.
    tool_blocks: Vec<u32>,
}

impl ChunkEncoder {
    pub fn new(completion: Completion, include_usage: bool) -> Self {
        ChunkEncoder {
            completion,
            include_usage,
            tool_blocks: Vec::new(),
        }
    }

    /// The chunk for one event, if the event has one in OpenAI's stream.
    pub fn encode(&mut self, event: &StreamEvent) -> Option<Value> {
        match event {
            StreamEvent::MessageStart { .. } => {
                Some(self.chunk(json!({ "role": "assistant", "content": "" }), None))
            }
            StreamEvent::ContentBlockDelta { text, .. } => {
                Some(self.chunk(json!({ "content": text }), None))
            }
            StreamEvent::ToolUseStart {
                index,
                tool_use_id,
                name,
            } => {
                self.tool_blocks.push(*index);
                let call = json!({
                    "index": self.tool_blocks.len() - 1,
                    "id": tool_use_id,
                    "type": "function",
                    "function": { "name": name, "arguments": "" },
                });
                Some(self.chunk(json!({ "tool_calls": [call] }), None))
            }
            StreamEvent::ToolUseDelta { index, input } => {
                let position = self.tool_blocks.iter().position(|b| b == index)?;
                let call = json!({ "index": position, "function": { "arguments": input } });
                Some(self.chunk(json!({ "tool_calls": [call] }), None))
            }
            StreamEvent::ContentBlockStop { .. } => None,
            StreamEvent::MessageStop { stop_reason, .. } => {
                Some(self.chunk(json!({}), Some(finish_reason(*stop_reason))))
            }
            StreamEvent::Metadata { usage: used, .. } => self.include_usage.then(|| {
                let mut chunk = self.envelope(Vec::new());
                chunk["usage"] = usage(used);
                chunk
            }),
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        self.envelope(vec![json!({
            "index": 0,
            "delta": delta,
            "finish_reason": finish,
            "logprobs": null,
        })])
    }

    fn envelope(&self, choices: Vec<Value>) -> Value {
        let mut chunk = json!({
            "id": self.completion.id,
            "object": "chat.completion.chunk",
            "created": self.completion.created,
            "model": self.completion.model,
            "choices": choices,
            "system_fingerprint": null,
        });
        // With include_usage every chunk carries `usage`, null until the last one.
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_types::Metrics;

    fn request(body: Value) -> Result<ConverseRequest, ChatRequestError> {
        ChatRequest::parse(body.to_string().as_bytes())?.to_converse()
    }

    fn error(body: Value) -> ChatRequestError {
        match request(body) {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => e,
        }
    }

    fn weather_tool() -> Value {
        json!({"type": "function", "function": {"name": "weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    #[test]
    fn messages_system_and_sampling_map_to_converse() {
        let converse = request(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": [{"type": "text", "text": "Capital"}, {"type": "text", "text": " of France?"}]},
                {"role": "user", "content": "One word."}
            ],
            "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0, "top_p": 0.5,
            "stop": "\n", "n": 1, "top_k": 3, "seed": 7, "user": "ignored"
        }))
        .expect("valid");
        assert_eq!(
            converse.system,
            vec![
                SystemContentBlock::Text("Be brief.".into()),
                SystemContentBlock::Text("Answer in English.".into())
            ]
        );
        assert_eq!(converse.messages.len(), 3);
        assert_eq!(converse.messages[2].role, Role::User);
        assert_eq!(
            converse.messages[2].joined_text(),
            "Capital of France?One word."
        );
        assert_eq!(converse.inference_config.max_tokens, Some(20));
        assert_eq!(converse.inference_config.temperature, Some(0.0));
        assert_eq!(converse.inference_config.top_p, Some(0.5));
        assert_eq!(converse.inference_config.stop_sequences, vec!["\n"]);
        assert_eq!(
            converse.additional_model_request_fields,
            Some(json!({"top_k": 3}))
        );
        assert!(converse.tool_config.is_none() && !converse.disable_parallel_tool_use);

        let converse = request(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "stop": ["a", "b"], "max_tokens": 5}),
        )
        .expect("valid");
        assert_eq!(converse.inference_config.stop_sequences, vec!["a", "b"]);
        assert_eq!(converse.inference_config.max_tokens, Some(5));
    }

    #[test]
    fn tools_choices_and_history_keep_ids() {
        let converse = request(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Lyon\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rain"}]}
            ],
            "tools": [weather_tool()],
            "tool_choice": "required",
            "parallel_tool_calls": false
        }))
        .expect("valid");
        let config = converse.tool_config.expect("tools");
        assert_eq!(config["toolChoice"], json!({"any": {}}));
        assert_eq!(config["tools"][0]["toolSpec"]["name"], "weather");
        assert_eq!(
            config["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"],
            json!(["city"])
        );
        assert!(converse.disable_parallel_tool_use);
        assert_eq!(converse.messages.len(), 3);
        assert_eq!(
            converse.messages[1].content,
            vec![
                ContentBlock::ToolUse(ToolUseBlock {
                    tool_use_id: "call_1".into(),
                    name: "weather".into(),
                    input: json!({"city": "Paris"})
                }),
                ContentBlock::ToolUse(ToolUseBlock {
                    tool_use_id: "call_2".into(),
                    name: "weather".into(),
                    input: json!({"city": "Lyon"})
                }),
            ]
        );
        assert_eq!(
            converse.messages[2].content,
            vec![
                ContentBlock::ToolResult(ToolResultBlock {
                    tool_use_id: "call_1".into(),
                    content: vec![json!({"text": "sunny"})],
                    status: None
                }),
                ContentBlock::ToolResult(ToolResultBlock {
                    tool_use_id: "call_2".into(),
                    content: vec![json!({"text": "rain"})],
                    status: None
                }),
            ]
        );

        let choice = |c: Value| {
            request(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [weather_tool()], "tool_choice": c}),
            )
            .expect("valid")
            .tool_config
        };
        assert_eq!(
            choice(json!("auto")).expect("tools")["toolChoice"],
            json!({"auto": {}})
        );
        assert_eq!(
            choice(json!({"type": "function", "function": {"name": "weather"}})).expect("tools")
                ["toolChoice"],
            json!({"tool": {"name": "weather"}})
        );
        assert!(choice(json!("none")).is_none());
        assert!(choice(Value::Null)
            .expect("tools")
            .get("toolChoice")
            .is_none());
    }

    #[test]
    fn response_formats_become_output_config() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let converse = request(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": true}}}))
        .expect("valid");
        let config = converse.output_config.expect("output config");
        assert_eq!(config["textFormat"]["type"], "json_schema");
        let text = config
            .pointer("/textFormat/structure/jsonSchema/schema")
            .and_then(Value::as_str)
            .expect("schema string");
        assert_eq!(serde_json::from_str::<Value>(text).expect("json"), schema);
        // basalt-server's tests check that basalt-models reads this shape.

        let converse = request(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"}}),
        )
        .expect("valid");
        assert!(converse.output_config.is_some());
        let converse = request(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "text"}}),
        )
        .expect("valid");
        assert!(converse.output_config.is_none());
    }

    #[test]
    fn images_are_data_urls_only() {
        let converse = request(
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]}]}),
        )
        .expect("valid");
        assert_eq!(
            converse.messages[0].content[1],
            ContentBlock::Image(json!({"format": "png", "source": {"bytes": "iVBORw0KGgo="}}))
        );
        let e = error(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
        );
        assert!(e.message.contains("data URL"), "{}", e.message);
    }

    #[test]
    fn bad_requests_are_400_naming_the_parameter() {
        let cases = [
            (json!({"messages": []}), "model"),
            (json!({"model": "m"}), "messages"),
            (json!({"model": "m", "messages": "hi"}), "messages"),
            (
                json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"content": "x"}]}),
                "messages[0]",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}),
                "n",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 1.5}),
                "temperature",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}),
                "tool_choice",
            ),
            (
                json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].tool_call_id",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "call_9", "content": "x"}]}),
                "messages[1].tool_call_id",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
                "max_tokens",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]}),
                "stop",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [weather_tool()],
                    "tool_choice": {"type": "function", "function": {"name": "time"}}}),
                "tool_choice",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}),
                "messages[0].tool_calls[0].function.arguments",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "code_interpreter"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
                "response_format.json_schema.schema",
            ),
        ];
        for (body, param) in cases {
            let e = error(body.clone());
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        }
        let e = match ChatRequest::parse(b"{not json") {
            Ok(_) => panic!("parsed"),
            Err(e) => e,
        };
        assert!(e.message.contains("parse the JSON body"), "{}", e.message);
    }

    fn output(content: Vec<ContentBlock>, stop_reason: StopReason) -> ConverseOutput {
        ConverseOutput {
            message: Message {
                role: Role::Assistant,
                content,
            },
            stop_reason,
            stop_sequence: None,
            usage: TokenUsage::new(12, 3),
            metrics: Metrics { latency_ms: 5 },
        }
    }

    #[test]
    fn completions_carry_text_tool_calls_finish_reason_and_usage() {
        let completion = Completion::new("anthropic.claude-3-haiku-20240307-v1:0");
        assert!(completion.id.starts_with("chatcmpl-"));
        let body = json!(completion.body(&output(
            vec![ContentBlock::Text("Paris.".into())],
            StopReason::EndTurn,
        )));
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(body["choices"][0]["message"]["content"], "Paris.");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            body["usage"],
            json!({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15})
        );
        let body = json!(completion.body(&output(
            vec![ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: "tooluse_1".into(),
                name: "weather".into(),
                input: json!({"city": "Paris"}),
            })],
            StopReason::ToolUse,
        )));
        let message = &body["choices"][0]["message"];
        assert_eq!(message["content"], Value::Null);
        assert_eq!(message["tool_calls"][0]["id"], "tooluse_1");
        assert_eq!(message["tool_calls"][0]["function"]["name"], "weather");
        let arguments = message["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .expect("string");
        assert_eq!(
            serde_json::from_str::<Value>(arguments).expect("json"),
            json!({"city": "Paris"})
        );
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(finish_reason(StopReason::MaxTokens), "length");
        assert_eq!(finish_reason(StopReason::StopSequence), "stop");
    }

    /// What a client does with the chunks: the text, the tool calls by index, the finish reason.
    fn assemble(chunks: &[Value]) -> (String, Vec<(String, String, String)>, String, Value) {
        let (mut text, mut calls, mut finish, mut usage) = (
            String::new(),
            Vec::<(String, String, String)>::new(),
            String::new(),
            Value::Null,
        );
        for chunk in chunks {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            if !chunk["usage"].is_null() {
                usage = chunk["usage"].clone();
            }
            let Some(choice) = chunk["choices"].get(0) else {
                continue;
            };
            if let Some(t) = choice["delta"]["content"].as_str() {
                text.push_str(t);
            }
            for call in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let i = call["index"].as_u64().expect("index") as usize;
                if i == calls.len() {
                    calls.push(Default::default());
                }
                if let Some(id) = call["id"].as_str() {
                    calls[i].0 = id.into();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    calls[i].1 = name.into();
                }
                if let Some(arguments) = call["function"]["arguments"].as_str() {
                    calls[i].2.push_str(arguments);
                }
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                finish = f.into();
            }
        }
        (text, calls, finish, usage)
    }

    #[test]
    fn stream_events_assemble_to_the_answer() {
        let events = [
            StreamEvent::MessageStart {
                role: Role::Assistant,
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "Par".into(),
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "is.".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::MessageStop {
                stop_reason: StopReason::EndTurn,
                stop_sequence: None,
            },
            StreamEvent::Metadata {
                usage: TokenUsage::new(12, 3),
                metrics: Metrics { latency_ms: 5 },
            },
        ];
        let mut encoder = ChunkEncoder::new(Completion::new("m"), true);
        let chunks: Vec<Value> = events.iter().filter_map(|e| encoder.encode(e)).collect();
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let (text, calls, finish, usage) = assemble(&chunks);
        assert_eq!(
            (text.as_str(), calls.len(), finish.as_str()),
            ("Paris.", 0, "stop")
        );
        assert_eq!(usage["total_tokens"], 15);
        let last = chunks.last().expect("usage chunk");
        assert_eq!(last["choices"], json!([]));
        // One id for the whole stream.
        assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));

        let mut encoder = ChunkEncoder::new(Completion::new("m"), false);
        let chunks: Vec<Value> = events.iter().filter_map(|e| encoder.encode(e)).collect();
        assert_eq!(chunks.len(), 4, "no usage chunk without include_usage");
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn streamed_tool_calls_are_numbered_from_zero() {
        let events = [
            StreamEvent::MessageStart {
                role: Role::Assistant,
            },
            StreamEvent::ToolUseStart {
                index: 0,
                tool_use_id: "t1".into(),
                name: "weather".into(),
            },
            StreamEvent::ToolUseDelta {
                index: 0,
                input: "{\"city\":".into(),
            },
            StreamEvent::ToolUseDelta {
                index: 0,
                input: "\"Paris\"}".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::ToolUseStart {
                index: 1,
                tool_use_id: "t2".into(),
                name: "time".into(),
            },
            StreamEvent::ToolUseDelta {
                index: 1,
                input: "{}".into(),
            },
            StreamEvent::ContentBlockStop { index: 1 },
            StreamEvent::MessageStop {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
            },
        ];
        let mut encoder = ChunkEncoder::new(Completion::new("m"), false);
        let chunks: Vec<Value> = events.iter().filter_map(|e| encoder.encode(e)).collect();
        let (text, calls, finish, _) = assemble(&chunks);
        assert_eq!(text, "");
        assert_eq!(finish, "tool_calls");
        assert_eq!(
            calls,
            vec![
                ("t1".into(), "weather".into(), "{\"city\":\"Paris\"}".into()),
                ("t2".into(), "time".into(), "{}".into()),
            ]
        );
    }
}
