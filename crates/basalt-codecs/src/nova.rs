//! Amazon Nova bodies (`schemaVersion: "messages-v1"`).
//!
//! Nova's request is Converse-shaped (`messages` of `{text}` / `{image}` / `{toolUse}` blocks,
//! `system` blocks, `toolConfig`), so blocks are read with the Converse types directly; only
//! `inferenceConfig` differs (`max_new_tokens`, `topK`). Conversation rules use the Converse
//! wording Bedrock gives for Nova.

use basalt_types::{
    ContentBlock, ConverseOutput, ConverseRequest, InferenceConfig, Message, Role, StreamEvent,
    SystemContentBlock,
};
use serde_json::{json, Map, Value};

use crate::schema::{malformed, type_name, Fields, Range};
use crate::stream::{with_metrics, FinalMetrics, StreamState};
use crate::CodecError;

pub const SCHEMA_VERSION: &str = "messages-v1";

const CONTENT_MEMBERS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "cachePoint",
    "reasoningContent",
];

fn invalid(message: impl Into<String>) -> CodecError {
    CodecError::Validation(message.into())
}

pub(crate) fn decode_request(body: &Map<String, Value>) -> Result<ConverseRequest, CodecError> {
    let fields = Fields::root(body);
    fields.deny_unknown(&[
        "schemaVersion",
        "system",
        "messages",
        "inferenceConfig",
        "toolConfig",
    ])?;
    if let Some(version) = fields.string("schemaVersion")? {
        if version != SCHEMA_VERSION {
            return Err(malformed(format!(
                "#/schemaVersion: {version} is not a valid enum value"
            )));
        }
    }
    fields.required("messages")?;
    let raw_messages = fields.array("messages")?.map_or(&[][..], Vec::as_slice);
    if raw_messages.is_empty() {
        return Err(malformed(
            "#/messages: expected minimum item count: 1, found: 0",
        ));
    }
    let messages = raw_messages
        .iter()
        .enumerate()
        .map(|(i, raw)| decode_message(i, raw))
        .collect::<Result<Vec<_>, _>>()?;
    if messages.first().map(|m| m.role) != Some(Role::User) {
        return Err(invalid(
            "A conversation must start with a user message. Try again after adding a user message at the start of the conversation.",
        ));
    }
    if messages.windows(2).any(|pair| pair[0].role == pair[1].role) {
        return Err(invalid(
            "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
        ));
    }
    let system = match fields.array("system")? {
        None => Vec::new(),
        Some(blocks) => blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let parsed: SystemContentBlock = serde_json::from_value(block.clone())
                    .map_err(|_| malformed(format!("#/system/{i}: expected one of [text, cachePoint, guardContent]")))?;
                if parsed.as_text().is_some_and(|text| text.trim().is_empty()) {
                    return Err(invalid(format!(
                        "The text field in the SystemContentBlock object at system.{i} is blank. Add text to the text field, and try again."
                    )));
                }
                Ok(parsed)
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let mut inference_config = InferenceConfig::default();
    if let Some(config) = fields.object("inferenceConfig")? {
        let config = Fields::nested(config, "#/inferenceConfig");
        config.deny_unknown(&[
            "max_new_tokens",
            "maxTokens",
            "temperature",
            "topP",
            "topK",
            "stopSequences",
        ])?;
        inference_config.max_tokens =
            match config.integer("max_new_tokens", Range::at_least(1.0))? {
                Some(max) => Some(max),
                None => config.integer("maxTokens", Range::at_least(1.0))?,
            };
        inference_config.temperature = config.number("temperature", Range::UNIT)?.map(|t| t as f32);
        inference_config.top_p = config.number("topP", Range::UNIT)?.map(|p| p as f32);
        inference_config.top_k = config.integer("topK", Range::at_least(0.0))?;
        inference_config.stop_sequences = config.string_list("stopSequences", None)?;
    }
    let tool_config = fields
        .object("toolConfig")?
        .map(|config| Value::Object(config.clone()));
    Ok(ConverseRequest {
        messages,
        system,
        inference_config,
        tool_config,
        ..ConverseRequest::default()
    })
}

fn decode_message(i: usize, raw: &Value) -> Result<Message, CodecError> {
    let Value::Object(map) = raw else {
        return Err(malformed(format!(
            "#/messages/{i}: expected type: JSONObject, found: {}",
            type_name(raw)
        )));
    };
    let path = format!("#/messages/{i}");
    let fields = Fields::nested(map, &path);
    fields.deny_unknown(&["role", "content"])?;
    let role = match fields.required_string("role")? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(malformed(format!(
                "{path}/role: {other} is not a valid enum value"
            )))
        }
    };
    fields.required("content")?;
    let raw_blocks = fields.array("content")?.map_or(&[][..], Vec::as_slice);
    let mut content = Vec::with_capacity(raw_blocks.len());
    for (j, block) in raw_blocks.iter().enumerate() {
        let at = format!("{path}/content/{j}");
        if let Some(unknown) = block
            .as_object()
            .and_then(|b| b.keys().find(|k| !CONTENT_MEMBERS.contains(&k.as_str())))
        {
            return Err(malformed(format!(
                "{at}: extraneous key [{unknown}] is not permitted"
            )));
        }
        let parsed: ContentBlock = serde_json::from_value(block.clone()).map_err(|err| {
            malformed(format!(
                "{at}: {}",
                err.to_string().split(" at line").next().unwrap_or_default()
            ))
        })?;
        if parsed.as_text().is_some_and(|text| text.trim().is_empty()) {
            return Err(invalid(format!(
                "The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
            )));
        }
        content.push(parsed);
    }
    Ok(Message { role, content })
}

pub(crate) fn encode_response(output: &ConverseOutput) -> Value {
    // Converse blocks are Nova's blocks; serializing one cannot fail, but fall back to text.
    let content: Vec<Value> = output
        .message
        .content
        .iter()
        .map(|block| {
            serde_json::to_value(block).unwrap_or_else(|_| json!({"text": block.as_text()}))
        })
        .collect();
    json!({
        "output": {"message": {"role": output.message.role.as_str(), "content": content}},
        "stopReason": output.stop_reason.as_str(),
        "usage": {
            "inputTokens": output.usage.input_tokens,
            "outputTokens": output.usage.output_tokens,
            "totalTokens": output.usage.total_tokens,
            "cacheReadInputTokenCount": 0,
            "cacheWriteInputTokenCount": 0,
        },
    })
}

pub(crate) fn encode_event(state: &mut StreamState, event: &StreamEvent) -> Vec<Value> {
    match event {
        StreamEvent::MessageStart { role } => {
            vec![json!({"messageStart": {"role": role.as_str()}})]
        }
        StreamEvent::ContentBlockDelta { index, text } => {
            vec![
                json!({"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": index}}),
            ]
        }
        StreamEvent::ToolUseStart {
            index,
            tool_use_id,
            name,
        } => vec![json!({"contentBlockStart": {
            "start": {"toolUse": {"toolUseId": tool_use_id, "name": name}},
            "contentBlockIndex": index,
        }})],
        StreamEvent::ToolUseDelta { index, input } => {
            vec![
                json!({"contentBlockDelta": {"delta": {"toolUse": {"input": input}}, "contentBlockIndex": index}}),
            ]
        }
        StreamEvent::ContentBlockStop { index } => {
            vec![json!({"contentBlockStop": {"contentBlockIndex": index}})]
        }
        // The metadata chunk is Nova's last, so the stop can go out at once.
        StreamEvent::MessageStop { stop_reason, .. } => {
            vec![json!({"messageStop": {"stopReason": stop_reason.as_str()}})]
        }
        StreamEvent::Metadata { usage, metrics } => {
            let invocation = state.metrics(Some(usage), Some(metrics.latency_ms));
            final_chunks(state, &invocation)
        }
    }
}

pub(crate) fn final_chunks(state: &mut StreamState, metrics: &FinalMetrics) -> Vec<Value> {
    state.finished = true;
    vec![with_metrics(
        json!({"metadata": {
            "usage": {"inputTokens": metrics.input_token_count, "outputTokens": metrics.output_token_count},
            "metrics": {},
            "trace": {},
        }}),
        metrics,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_request as decode, BodyFormat, InvocationMetrics, StreamEncoder};
    use basalt_types::{Metrics, StopReason, TokenUsage, ToolUseBlock};

    fn decode_json(body: Value) -> Result<ConverseRequest, CodecError> {
        decode(BodyFormat::NovaMessages, body.to_string().as_bytes())
    }

    fn error_of(body: Value) -> String {
        decode_json(body)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn decodes_the_documented_body() {
        let request = decode_json(json!({
            "schemaVersion": "messages-v1",
            "system": [{"text": "Act as a creative writing assistant."}],
            "messages": [{"role": "user", "content": [{"text": "Write a short story about dragons."}]}],
            "inferenceConfig": {"max_new_tokens": 500, "temperature": 0.7, "topP": 0.9, "topK": 20, "stopSequences": ["END"]}
        }))
        .expect("valid body");
        assert_eq!(
            request.system,
            vec![SystemContentBlock::Text(
                "Act as a creative writing assistant.".into()
            )]
        );
        assert_eq!(
            request.messages,
            vec![Message::text(
                Role::User,
                "Write a short story about dragons."
            )]
        );
        assert_eq!(
            request.inference_config,
            InferenceConfig {
                max_tokens: Some(500),
                temperature: Some(0.7),
                top_p: Some(0.9),
                top_k: Some(20),
                stop_sequences: vec!["END".into()],
            }
        );
    }

    #[test]
    fn max_tokens_alias_images_and_tools() {
        let request = decode_json(json!({
            "messages": [
                {"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "iVBOR"}}}, {"text": "What is it?"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "look", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "a cat"}]}}]}
            ],
            "inferenceConfig": {"maxTokens": 64},
            "toolConfig": {"tools": [{"toolSpec": {"name": "look", "inputSchema": {"json": {"type": "object"}}}}]}
        }))
        .expect("valid body");
        assert_eq!(request.inference_config.max_tokens, Some(64));
        assert_eq!(
            request.messages[0].content[0],
            ContentBlock::Image(json!({"format": "png", "source": {"bytes": "iVBOR"}}))
        );
        assert_eq!(
            request.messages[1].content[0],
            ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: "t1".into(),
                name: "look".into(),
                input: json!({})
            })
        );
        assert!(request.tool_config.is_some());
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            error_of(json!({"schemaVersion": "messages-v1"})),
            "Malformed input request: #: required key [messages] not found, please reformat your input and try again."
        );
        assert!(error_of(json!({"messages": []}))
            .contains("#/messages: expected minimum item count: 1"));
        assert!(error_of(json!({"schemaVersion": "v2", "messages": []}))
            .contains("#/schemaVersion: v2 is not a valid enum value"));
        assert!(
            error_of(json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}))
                .starts_with("A conversation must start with a user message.")
        );
        assert!(error_of(json!({"messages": [
            {"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]}))
            .starts_with("A conversation must alternate between user and assistant roles."));
        assert_eq!(
            error_of(json!({"messages": [{"role": "user", "content": [{"text": " "}]}]})),
            "The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again."
        );
        assert!(
            error_of(json!({"messages": [{"role": "user", "content": [{"hologram": {}}]}]}))
                .contains("#/messages/0/content/0: extraneous key [hologram] is not permitted")
        );
        assert!(error_of(
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
            "inferenceConfig": {"temperature": "warm"}})
        )
        .contains("#/inferenceConfig/temperature: expected type: Number, found: String"));
        assert!(
            error_of(json!({"messages": [{"role": "bot", "content": [{"text": "x"}]}]}))
                .contains("#/messages/0/role: bot is not a valid enum value")
        );
    }

    #[test]
    fn encodes_the_response_body() {
        let output = ConverseOutput {
            message: Message::text(Role::Assistant, "Once upon a time..."),
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
            usage: TokenUsage::new(18, 6),
            metrics: Metrics { latency_ms: 300 },
        };
        assert_eq!(
            crate::encode_response(BodyFormat::NovaMessages, &output, "amazon.nova-lite-v1:0"),
            json!({
                "output": {"message": {"role": "assistant", "content": [{"text": "Once upon a time..."}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 18, "outputTokens": 6, "totalTokens": 24,
                          "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0}
            })
        );
    }

    #[test]
    fn stream_chunks_end_with_metrics() {
        let mut encoder = StreamEncoder::new(BodyFormat::NovaMessages, "amazon.nova-micro-v1:0");
        let latency = InvocationMetrics {
            invocation_latency_ms: 90,
            first_byte_latency_ms: 25,
        };
        let chunks: Vec<Value> = [
            StreamEvent::MessageStart {
                role: Role::Assistant,
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "Once".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::MessageStop {
                stop_reason: StopReason::MaxTokens,
                stop_sequence: None,
            },
            StreamEvent::Metadata {
                usage: TokenUsage::new(18, 1),
                metrics: Metrics { latency_ms: 90 },
            },
        ]
        .iter()
        .flat_map(|event| encoder.encode(event, &latency))
        .collect();
        assert_eq!(
            chunks,
            vec![
                json!({"messageStart": {"role": "assistant"}}),
                json!({"contentBlockDelta": {"delta": {"text": "Once"}, "contentBlockIndex": 0}}),
                json!({"contentBlockStop": {"contentBlockIndex": 0}}),
                json!({"messageStop": {"stopReason": "max_tokens"}}),
                json!({"metadata": {"usage": {"inputTokens": 18, "outputTokens": 1}, "metrics": {}, "trace": {}},
                       "amazon-bedrock-invocationMetrics": {"inputTokenCount": 18, "outputTokenCount": 1,
                           "invocationLatency": 90, "firstByteLatency": 25}}),
            ]
        );
    }
}
