//! Anthropic Claude Messages API bodies (`anthropic_version: "bedrock-2023-05-31"`).
//!
//! Schema violations read like Bedrock's schema check (`Malformed input request: #: ...`);
//! message-level rules read like Anthropic's own validation, which Bedrock passes through
//! verbatim (`messages: roles must alternate ...`). Tools are translated to Converse's
//! `toolConfig` shape so every provider reads one tool format.

use basalt_types::{
    ContentBlock, ConverseOutput, ConverseRequest, InferenceConfig, Message, Role, StopReason,
    StreamEvent, SystemContentBlock, ToolResultBlock, ToolUseBlock,
};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::schema::{malformed, Fields, Range};
use crate::stream::{with_metrics, FinalMetrics, StreamState};
use crate::CodecError;

pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

const MEMBERS: &[&str] = &[
    "anthropic_version",
    "anthropic_beta",
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
];

/// Members passed through to the provider untouched in `additionalModelRequestFields`.
const PASSTHROUGH: &[&str] = &["anthropic_beta", "thinking", "metadata"];

const BLOCK_TYPES: &str =
    "'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'";

fn invalid(message: impl Into<String>) -> CodecError {
    CodecError::Validation(message.into())
}

pub(crate) fn decode_request(body: &Map<String, Value>) -> Result<ConverseRequest, CodecError> {
    let fields = Fields::root(body);
    fields.deny_unknown(MEMBERS)?;
    let version = fields.required_string("anthropic_version")?;
    if version != ANTHROPIC_VERSION {
        return Err(malformed(format!(
            "#/anthropic_version: {version} is not a valid enum value"
        )));
    }
    let max_tokens = fields.required_integer("max_tokens", Range::at_least(1.0))?;
    fields.required("messages")?;
    let raw_messages = fields.array("messages")?.map_or(&[][..], Vec::as_slice);
    let temperature = fields.number("temperature", Range::UNIT)?;
    let top_p = fields.number("top_p", Range::UNIT)?;
    let top_k = fields.integer("top_k", Range::between(0.0, 500.0))?;
    let stop_sequences = fields.string_list("stop_sequences", None)?;
    let system = decode_system(fields.get("system"))?;
    let tool_config = decode_tools(&fields)?;
    let messages = decode_messages(raw_messages)?;

    let passthrough: Map<String, Value> = PASSTHROUGH
        .iter()
        .filter_map(|key| {
            fields
                .get(key)
                .map(|value| (key.to_string(), value.clone()))
        })
        .collect();

    Ok(ConverseRequest {
        messages,
        system,
        inference_config: InferenceConfig {
            max_tokens: Some(max_tokens),
            temperature: temperature.map(|t| t as f32),
            top_p: top_p.map(|p| p as f32),
            top_k,
            stop_sequences,
        },
        tool_config,
        disable_parallel_tool_use: fields
            .object("tool_choice")?
            .and_then(|choice| choice.get("disable_parallel_tool_use"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        additional_model_request_fields: (!passthrough.is_empty())
            .then_some(Value::Object(passthrough)),
        ..ConverseRequest::default()
    })
}

fn decode_system(value: Option<&Value>) -> Result<Vec<SystemContentBlock>, CodecError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![SystemContentBlock::Text(text.clone())]),
        Some(Value::Array(blocks)) => {
            let mut out = Vec::new();
            for (i, block) in blocks.iter().enumerate() {
                let kind = block.get("type").and_then(Value::as_str);
                if kind != Some("text") {
                    return Err(invalid(format!("system.{i}.type: Input should be 'text'")));
                }
                let text = block
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("system.{i}.text: Field required")))?;
                if text.is_empty() {
                    return Err(invalid("system: text content blocks must be non-empty"));
                }
                out.push(SystemContentBlock::Text(text.to_string()));
                if block.get("cache_control").is_some() {
                    out.push(SystemContentBlock::CachePoint(json!({"type": "default"})));
                }
            }
            Ok(out)
        }
        Some(other) => Err(malformed(format!(
            "#/system: expected type: String or JSONArray, found: {}",
            crate::schema::type_name(other)
        ))),
    }
}

fn decode_messages(raw: &[Value]) -> Result<Vec<Message>, CodecError> {
    if raw.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    let mut messages = Vec::with_capacity(raw.len());
    for (i, item) in raw.iter().enumerate() {
        let is_last = i + 1 == raw.len();
        let Value::Object(item) = item else {
            return Err(invalid(format!(
                "messages.{i}: Input should be a valid dictionary"
            )));
        };
        let role = match item.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("system") => {
                return Err(invalid(
                    "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.",
                ))
            }
            Some(_) => return Err(invalid(format!("messages.{i}.role: Input should be 'user' or 'assistant'"))),
            None => return Err(invalid(format!("messages.{i}.role: Field required"))),
        };
        let content = match item.get("content") {
            Some(Value::String(text)) if text.is_empty() => Vec::new(),
            Some(Value::String(text)) => vec![ContentBlock::Text(text.clone())],
            Some(Value::Array(blocks)) => blocks
                .iter()
                .enumerate()
                .map(|(j, block)| decode_block(i, j, block))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect(),
            Some(_) => {
                return Err(invalid(format!(
                    "messages.{i}.content: Input should be a valid string or list"
                )))
            }
            None => return Err(invalid(format!("messages.{i}.content: Field required"))),
        };
        // Only a final assistant turn (a prefill) may be empty.
        if content.is_empty() && !(is_last && role == Role::Assistant) {
            return Err(invalid(format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            )));
        }
        messages.push(Message { role, content });
    }
    if messages.first().map(|m| m.role) != Some(Role::User) {
        return Err(invalid(
            "messages: first message must use the \"user\" role",
        ));
    }
    for pair in messages.windows(2) {
        if pair[0].role == pair[1].role {
            return Err(invalid(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{}\" roles in a row",
                pair[0].role.as_str()
            )));
        }
    }
    if let Some(last) = messages.last() {
        let trailing_ws = last
            .content
            .iter()
            .rev()
            .find_map(ContentBlock::as_text)
            .is_some_and(|text| text.ends_with(char::is_whitespace));
        if last.role == Role::Assistant && trailing_ws {
            return Err(invalid(
                "messages: final assistant content cannot end with trailing whitespace",
            ));
        }
    }
    Ok(messages)
}

/// One Anthropic content block as Converse blocks (a block with `cache_control` is followed by
/// a Converse cache point).
fn decode_block(i: usize, j: usize, block: &Value) -> Result<Vec<ContentBlock>, CodecError> {
    let at = format!("messages.{i}.content.{j}");
    let Value::Object(map) = block else {
        return Err(invalid(format!("{at}: Input should be a valid dictionary")));
    };
    let str_field = |key: &str| -> Result<&str, CodecError> {
        map.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{at}.{key}: Field required")))
    };
    let kind = map.get("type").and_then(Value::as_str).ok_or_else(|| {
        invalid(format!(
            "{at}: Unable to extract tag using discriminator 'type'"
        ))
    })?;
    let converted = match kind {
        "text" => {
            let text = str_field("text")?;
            if text.is_empty() {
                return Err(invalid("messages: text content blocks must be non-empty"));
            }
            ContentBlock::Text(text.to_string())
        }
        "image" => ContentBlock::Image(image_to_converse(map)),
        "document" => ContentBlock::Document(block.clone()),
        "tool_use" => ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: str_field("id")?.to_string(),
            name: str_field("name")?.to_string(),
            input: map.get("input").cloned().unwrap_or_else(|| json!({})),
        }),
        "tool_result" => ContentBlock::ToolResult(ToolResultBlock {
            tool_use_id: str_field("tool_use_id")?.to_string(),
            content: tool_result_content(map.get("content")),
            status: map
                .get("is_error")
                .and_then(Value::as_bool)
                .map(|is_error| if is_error { "error" } else { "success" }.to_string()),
        }),
        "thinking" => {
            let mut reasoning = json!({"text": str_field("thinking")?});
            if let Some(signature) = map.get("signature") {
                reasoning["signature"] = signature.clone();
            }
            ContentBlock::ReasoningContent(json!({"reasoningText": reasoning}))
        }
        "redacted_thinking" => {
            ContentBlock::ReasoningContent(json!({"redactedContent": map.get("data").cloned().unwrap_or(Value::Null)}))
        }
        other => {
            return Err(invalid(format!(
                "{at}: Input tag '{other}' found using 'type' does not match any of the expected tags: {BLOCK_TYPES}"
            )))
        }
    };
    let mut out = vec![converted];
    if map.contains_key("cache_control") {
        out.push(ContentBlock::CachePoint(json!({"type": "default"})));
    }
    Ok(out)
}

/// `{type: image, source: {type: base64, media_type: image/png, data}}` →
/// Converse `{format: png, source: {bytes}}`; other sources are kept as sent.
fn image_to_converse(map: &Map<String, Value>) -> Value {
    let source = map.get("source");
    let base64 = source.and_then(|s| s.get("type")).and_then(Value::as_str) == Some("base64");
    let media_type = source
        .and_then(|s| s.get("media_type"))
        .and_then(Value::as_str);
    let data = source.and_then(|s| s.get("data"));
    match (base64, media_type, data) {
        (true, Some(media_type), Some(data)) => json!({
            "format": media_type.strip_prefix("image/").unwrap_or(media_type),
            "source": {"bytes": data},
        }),
        _ => Value::Object(map.clone()),
    }
}

fn tool_result_content(content: Option<&Value>) -> Vec<Value> {
    match content {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => vec![json!({"text": text})],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|block| match block.get("type").and_then(Value::as_str) {
                Some("text") => json!({"text": block.get("text").cloned().unwrap_or(Value::Null)}),
                Some("image") => match block {
                    Value::Object(map) => json!({"image": image_to_converse(map)}),
                    _ => block.clone(),
                },
                _ => block.clone(),
            })
            .collect(),
        Some(other) => vec![json!({"json": other})],
    }
}

/// `tools` / `tool_choice` → Converse `toolConfig`.
fn decode_tools(fields: &Fields<'_>) -> Result<Option<Value>, CodecError> {
    let Some(tools) = fields.array("tools")? else {
        return Ok(None);
    };
    let mut specs = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("tools.{i}.name: Field required")))?;
        match tool.get("input_schema") {
            Some(schema) => {
                let mut spec = json!({"name": name, "inputSchema": {"json": schema}});
                if let Some(description) = tool.get("description") {
                    spec["description"] = description.clone();
                }
                specs.push(json!({"toolSpec": spec}));
            }
            // Server tools (`computer_...`, `bash_...`) have no schema: keep them as sent.
            None if tool.get("type").is_some() => specs.push(tool.clone()),
            None => return Err(invalid(format!("tools.{i}.input_schema: Field required"))),
        }
    }
    let mut config = json!({"tools": specs});
    if let Some(choice) = fields.object("tool_choice")? {
        let converse_choice = match choice.get("type").and_then(Value::as_str) {
            Some("auto") => Some(json!({"auto": {}})),
            Some("any") => Some(json!({"any": {}})),
            Some("tool") => {
                let name = choice
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("tool_choice.tool.name: Field required"))?;
                Some(json!({"tool": {"name": name}}))
            }
            // Converse has no "none": leaving the choice out lets the model decide.
            Some("none") => None,
            _ => return Err(invalid("tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")),
        };
        if let Some(converse_choice) = converse_choice {
            config["toolChoice"] = converse_choice;
        }
    }
    Ok(Some(config))
}

/// A fresh `msg_bdrk_...` id in the shape Bedrock returns.
pub(crate) fn new_message_id() -> String {
    let suffix: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    format!("msg_bdrk_01{suffix}")
}

/// The Anthropic model name Bedrock reports in `model`: `anthropic.claude-3-haiku-20240307-v1:0`
/// (or `us.anthropic...`) becomes `claude-3-haiku-20240307`; other ids are kept as given.
pub fn anthropic_model_name(model_id: &str) -> String {
    let Some(start) = model_id.find("anthropic.") else {
        return model_id.to_string();
    };
    if model_id.starts_with("arn:") {
        return model_id.to_string();
    }
    let name = &model_id[start + "anthropic.".len()..];
    // Strip the `-v1:0` / `-v2` version suffix.
    match name.rfind("-v") {
        Some(at)
            if name[at + 2..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':')
                && at + 2 < name.len() =>
        {
            name[..at].to_string()
        }
        _ => name.to_string(),
    }
}

fn stop_reason_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::ContentFiltered => "refusal",
        other => other.as_str(),
    }
}

fn content_to_anthropic(block: &ContentBlock) -> Option<Value> {
    match block {
        ContentBlock::Text(text) => Some(json!({"type": "text", "text": text})),
        ContentBlock::ToolUse(tool) => Some(
            json!({"type": "tool_use", "id": tool.tool_use_id, "name": tool.name, "input": tool.input}),
        ),
        ContentBlock::ReasoningContent(reasoning) => match reasoning.get("reasoningText") {
            Some(text) => Some(json!({
                "type": "thinking",
                "thinking": text.get("text").cloned().unwrap_or(Value::Null),
                "signature": text.get("signature").cloned().unwrap_or(Value::Null),
            })),
            None => reasoning
                .get("redactedContent")
                .map(|data| json!({"type": "redacted_thinking", "data": data})),
        },
        _ => None,
    }
}

pub(crate) fn encode_response(output: &ConverseOutput, model_id: &str) -> Value {
    encode_response_with_id(output, model_id, &new_message_id())
}

fn encode_response_with_id(output: &ConverseOutput, model_id: &str, id: &str) -> Value {
    let content: Vec<Value> = output
        .message
        .content
        .iter()
        .filter_map(content_to_anthropic)
        .collect();
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": anthropic_model_name(model_id),
        "content": content,
        "stop_reason": stop_reason_name(output.stop_reason),
        "stop_sequence": output.stop_sequence,
        "usage": {
            "input_tokens": output.usage.input_tokens,
            "output_tokens": output.usage.output_tokens,
        },
    })
}

fn block_start(index: u32) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
}

pub(crate) fn encode_event(state: &mut StreamState, event: &StreamEvent) -> Vec<Value> {
    match event {
        StreamEvent::MessageStart { role } => vec![json!({
            "type": "message_start",
            "message": {
                "id": state.message_id,
                "type": "message",
                "role": role.as_str(),
                "model": anthropic_model_name(&state.model_id),
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": state.input_tokens.unwrap_or(0), "output_tokens": 0},
            },
        })],
        StreamEvent::ContentBlockDelta { index, text } => {
            let mut chunks = Vec::with_capacity(2);
            // Converse has no block-start event: the first delta of a block opens it.
            if !state.open_blocks.contains(index) {
                state.open_blocks.push(*index);
                chunks.push(block_start(*index));
            }
            chunks.push(json!({
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": text},
            }));
            chunks
        }
        StreamEvent::ToolUseStart {
            index,
            tool_use_id,
            name,
        } => {
            state.open_blocks.push(*index);
            vec![json!({
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "tool_use", "id": tool_use_id, "name": name, "input": {}},
            })]
        }
        StreamEvent::ToolUseDelta { index, input } => vec![json!({
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": input},
        })],
        StreamEvent::ContentBlockStop { index } => {
            let mut chunks = Vec::with_capacity(2);
            if !state.open_blocks.contains(index) {
                state.open_blocks.push(*index);
                chunks.push(block_start(*index));
            }
            chunks.push(json!({"type": "content_block_stop", "index": index}));
            chunks
        }
        StreamEvent::MessageStop {
            stop_reason,
            stop_sequence,
        } => {
            // message_delta carries the output token count, which only Metadata knows.
            state.pending_stop = Some((*stop_reason, stop_sequence.clone()));
            Vec::new()
        }
        StreamEvent::Metadata { usage, metrics } => {
            let invocation = state.metrics(Some(usage), Some(metrics.latency_ms));
            final_chunks(state, &invocation)
        }
    }
}

pub(crate) fn final_chunks(state: &mut StreamState, metrics: &FinalMetrics) -> Vec<Value> {
    let (stop_reason, stop_sequence) = state.take_stop();
    state.finished = true;
    vec![
        json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason_name(stop_reason), "stop_sequence": stop_sequence},
            "usage": {"output_tokens": metrics.output_token_count},
        }),
        with_metrics(json!({"type": "message_stop"}), metrics),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_request as decode, BodyFormat, InvocationMetrics, StreamEncoder};
    use basalt_types::{Metrics, TokenUsage};

    fn decode_json(body: Value) -> Result<ConverseRequest, CodecError> {
        decode(BodyFormat::AnthropicMessages, body.to_string().as_bytes())
    }

    fn error_of(body: Value) -> String {
        match decode_json(body) {
            Err(CodecError::Validation(message)) => message,
            Ok(request) => format!("unexpectedly accepted: {request:?}"),
        }
    }

    fn base() -> Value {
        json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 512,
            "messages": [{"role": "user", "content": "Hello"}],
        })
    }

    #[test]
    fn decodes_the_documented_body() {
        let request = decode_json(json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 1024,
            "system": "You are a helpful assistant.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hello world"}]},
                {"role": "assistant", "content": "Hi! How can I help?"},
                {"role": "user", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "text", "text": "What is in this image?"}
                ]}
            ],
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 250,
            "stop_sequences": ["\n\nHuman:"]
        }))
        .expect("valid body");
        assert_eq!(
            request.system,
            vec![SystemContentBlock::Text(
                "You are a helpful assistant.".into()
            )]
        );
        assert_eq!(request.messages.len(), 3);
        assert_eq!(
            request.messages[0],
            Message::text(Role::User, "Hello world")
        );
        assert_eq!(
            request.messages[1],
            Message::text(Role::Assistant, "Hi! How can I help?")
        );
        assert_eq!(
            request.messages[2].content[0],
            ContentBlock::Image(json!({"format": "png", "source": {"bytes": "iVBORw0KGgo="}}))
        );
        assert_eq!(
            request.inference_config,
            InferenceConfig {
                max_tokens: Some(1024),
                temperature: Some(0.5),
                top_p: Some(0.9),
                top_k: Some(250),
                stop_sequences: vec!["\n\nHuman:".into()],
            }
        );
        assert_eq!(request.tool_config, None);
    }

    #[test]
    fn tools_become_converse_tool_config() {
        let mut body = base();
        body["tools"] = json!([{
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}
        }]);
        body["tool_choice"] = json!({"type": "tool", "name": "get_weather"});
        body["messages"] = json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}
        ]);
        let request = decode_json(body).expect("valid body");
        assert_eq!(
            request.tool_config,
            Some(json!({
                "tools": [{"toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}
                }}],
                "toolChoice": {"tool": {"name": "get_weather"}}
            }))
        );
        assert_eq!(
            request.messages[1].content[0],
            ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: "toolu_1".into(),
                name: "get_weather".into(),
                input: json!({"city": "Paris"}),
            })
        );
        assert_eq!(
            request.messages[2].content[0],
            ContentBlock::ToolResult(ToolResultBlock {
                tool_use_id: "toolu_1".into(),
                content: vec![json!({"text": "18C"})],
                status: None,
            })
        );
    }

    #[test]
    fn passthrough_members_are_kept() {
        let mut body = base();
        body["anthropic_beta"] = json!(["computer-use-2024-10-22"]);
        let request = decode_json(body).expect("valid body");
        assert_eq!(
            request.additional_model_request_fields,
            Some(json!({"anthropic_beta": ["computer-use-2024-10-22"]}))
        );
    }

    #[test]
    fn schema_errors_read_like_bedrock() {
        let mut body = base();
        body.as_object_mut().map(|m| m.remove("max_tokens"));
        assert_eq!(
            error_of(body),
            "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."
        );
        let mut body = base();
        body["anthropic_version"] = json!("bedrock-2023-01-01");
        assert_eq!(
            error_of(body),
            "Malformed input request: #/anthropic_version: bedrock-2023-01-01 is not a valid enum value, please reformat your input and try again."
        );
        let mut body = base();
        body["temperature"] = json!("hot");
        assert_eq!(
            error_of(body),
            "Malformed input request: #/temperature: expected type: Number, found: String, please reformat your input and try again."
        );
        let mut body = base();
        body["model"] = json!("claude");
        assert_eq!(
            error_of(body),
            "Malformed input request: #: extraneous key [model] is not permitted, please reformat your input and try again."
        );
        let mut body = base();
        body["messages"] = json!("Hello");
        assert!(error_of(body).contains("#/messages: expected type: JSONArray, found: String"));
        assert!(
            decode(BodyFormat::AnthropicMessages, b"\"just a string\"").is_err_and(|e| e
                .to_string()
                .contains("expected type: JSONObject, found: String"))
        );
    }

    #[test]
    fn message_rules_read_like_anthropic() {
        let mut body = base();
        body["messages"] = json!([]);
        assert_eq!(error_of(body), "messages: at least one message is required");

        let mut body = base();
        body["messages"] =
            json!([{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Yo"}]);
        assert_eq!(
            error_of(body),
            "messages: first message must use the \"user\" role"
        );

        let mut body = base();
        body["messages"] =
            json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]);
        assert_eq!(
            error_of(body),
            "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"user\" roles in a row"
        );

        let mut body = base();
        body["messages"] = json!([{"role": "user", "content": [{"type": "text", "text": ""}]}]);
        assert_eq!(
            error_of(body),
            "messages: text content blocks must be non-empty"
        );

        let mut body = base();
        body["messages"] = json!([{"role": "user", "content": ""}]);
        assert_eq!(
            error_of(body),
            "messages.0: all messages must have non-empty content except for the optional final assistant message"
        );

        let mut body = base();
        body["messages"] = json!([{"role": "user", "content": [{"type": "hologram"}]}]);
        assert!(error_of(body)
            .starts_with("messages.0.content.0: Input tag 'hologram' found using 'type'"));

        let mut body = base();
        body["messages"] =
            json!([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]);
        assert!(error_of(body).starts_with("messages: Unexpected role \"system\""));

        let mut body = base();
        body["messages"] =
            json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure "}]);
        assert_eq!(
            error_of(body),
            "messages: final assistant content cannot end with trailing whitespace"
        );
    }

    #[test]
    fn prefill_may_end_the_conversation() {
        let mut body = base();
        body["messages"] = json!([{"role": "user", "content": "Count"}, {"role": "assistant", "content": "1, 2,"}]);
        let request = decode_json(body).expect("valid body");
        assert_eq!(
            request.messages.last().map(|m| m.role),
            Some(Role::Assistant)
        );
    }

    fn output() -> ConverseOutput {
        ConverseOutput {
            message: Message::text(Role::Assistant, "Hello there."),
            stop_reason: StopReason::StopSequence,
            stop_sequence: Some("\n\nHuman:".into()),
            usage: TokenUsage::new(12, 4),
            metrics: Metrics { latency_ms: 250 },
        }
    }

    #[test]
    fn encodes_the_response_body() {
        let body = encode_response_with_id(
            &output(),
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            "msg_bdrk_01abc",
        );
        assert_eq!(
            body,
            json!({
                "id": "msg_bdrk_01abc",
                "type": "message",
                "role": "assistant",
                "model": "claude-3-haiku-20240307",
                "content": [{"type": "text", "text": "Hello there."}],
                "stop_reason": "stop_sequence",
                "stop_sequence": "\n\nHuman:",
                "usage": {"input_tokens": 12, "output_tokens": 4}
            })
        );
        let generated = crate::encode_response(BodyFormat::AnthropicMessages, &output(), "m");
        let id = generated["id"].as_str().unwrap_or_default();
        assert!(
            id.starts_with("msg_bdrk_01") && id.len() == "msg_bdrk_01".len() + 22,
            "{id}"
        );
    }

    #[test]
    fn model_names_drop_bedrock_decorations() {
        assert_eq!(
            anthropic_model_name("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "claude-3-5-sonnet-20240620"
        );
        assert_eq!(anthropic_model_name("anthropic.claude-v2"), "claude");
        assert_eq!(anthropic_model_name("my-local-model"), "my-local-model");
    }

    #[test]
    fn stream_chunks_end_with_metrics() {
        let mut encoder = StreamEncoder::new(
            BodyFormat::AnthropicMessages,
            "anthropic.claude-3-haiku-20240307-v1:0",
        )
        .with_input_tokens(12);
        let latency = InvocationMetrics {
            invocation_latency_ms: 300,
            first_byte_latency_ms: 80,
        };
        let id = encoder.message_id().to_string();
        let events = [
            StreamEvent::MessageStart {
                role: Role::Assistant,
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "Hel".into(),
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "lo".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::MessageStop {
                stop_reason: StopReason::EndTurn,
                stop_sequence: None,
            },
            StreamEvent::Metadata {
                usage: TokenUsage::new(12, 2),
                metrics: Metrics { latency_ms: 300 },
            },
        ];
        let per_event: Vec<Vec<Value>> =
            events.iter().map(|e| encoder.encode(e, &latency)).collect();
        assert_eq!(
            per_event[4],
            Vec::<Value>::new(),
            "stop waits for the metrics"
        );
        let chunks: Vec<Value> = per_event.into_iter().flatten().collect();
        assert_eq!(
            chunks,
            vec![
                json!({"type": "message_start", "message": {
                    "id": id, "type": "message", "role": "assistant", "model": "claude-3-haiku-20240307",
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 12, "output_tokens": 0}}}),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                       "usage": {"output_tokens": 2}}),
                json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                    "inputTokenCount": 12, "outputTokenCount": 2, "invocationLatency": 300, "firstByteLatency": 80}}),
            ]
        );
        assert!(
            encoder.finish(&latency).is_empty(),
            "the stream already ended"
        );
    }

    #[test]
    fn tool_calls_stream_as_tool_use_blocks_with_input_json_deltas() {
        let mut encoder = StreamEncoder::new(
            BodyFormat::AnthropicMessages,
            "anthropic.claude-3-haiku-20240307-v1:0",
        );
        let latency = InvocationMetrics::default();
        let chunks: Vec<Value> = [
            StreamEvent::ToolUseStart {
                index: 0,
                tool_use_id: "toolu_1".into(),
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
        ]
        .iter()
        .flat_map(|e| encoder.encode(e, &latency))
        .collect();
        assert_eq!(
            chunks,
            vec![
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}),
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
                json!({"type": "content_block_stop", "index": 0}),
            ]
        );
    }

    #[test]
    fn finish_closes_a_stream_without_metadata() {
        let mut encoder = StreamEncoder::new(BodyFormat::AnthropicMessages, "m");
        let early = InvocationMetrics::default();
        encoder.encode(
            &StreamEvent::ContentBlockDelta {
                index: 0,
                text: "x".into(),
            },
            &early,
        );
        encoder.encode(
            &StreamEvent::MessageStop {
                stop_reason: StopReason::MaxTokens,
                stop_sequence: None,
            },
            &early,
        );
        let chunks = encoder.finish(&InvocationMetrics {
            invocation_latency_ms: 9,
            first_byte_latency_ms: 0,
        });
        assert_eq!(
            chunks[1]["amazon-bedrock-invocationMetrics"]["invocationLatency"],
            json!(9)
        );
        assert_eq!(
            chunks[1]["amazon-bedrock-invocationMetrics"]["firstByteLatency"],
            json!(9)
        );
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0]["delta"]["stop_reason"], json!("max_tokens"));
        assert_eq!(
            chunks[1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
            json!(1)
        );
    }
}
