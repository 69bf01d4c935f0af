use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A model-agnostic chat request: Bedrock's `Converse` input without the model id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemContentBlock>,
    #[serde(default, skip_serializing_if = "InferenceConfig::is_empty")]
    pub inference_config: InferenceConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<Value>,
    /// Model-specific knobs (for example `top_k`) that Converse passes through untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_field_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_variables: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<Value>,
    /// Structured output: `textFormat` with a JSON Schema the answer must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<Value>,
    /// At most one tool call per answer: Anthropic's `tool_choice.disable_parallel_tool_use`.
    /// Converse itself has no such switch (models may call several tools at once), so it is
    /// never read from a Converse body.
    #[serde(skip)]
    pub disable_parallel_tool_use: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    /// The message's text blocks joined in order; non-text blocks contribute nothing.
    pub fn joined_text(&self) -> String {
        self.content
            .iter()
            .filter_map(ContentBlock::as_text)
            .collect::<Vec<_>>()
            .join("")
    }
}

/// One block of a message. Blocks that no provider reads yet are kept as raw JSON so that
/// nothing a client sent is silently reshaped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    Text(String),
    Image(Value),
    Document(Value),
    Video(Value),
    Audio(Value),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    GuardContent(Value),
    CachePoint(Value),
    ReasoningContent(Value),
    CitationsContent(Value),
    SearchResult(Value),
}

impl ContentBlock {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The Bedrock member name of this block, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ContentBlock::Text(_) => "text",
            ContentBlock::Image(_) => "image",
            ContentBlock::Document(_) => "document",
            ContentBlock::Video(_) => "video",
            ContentBlock::Audio(_) => "audio",
            ContentBlock::ToolUse(_) => "toolUse",
            ContentBlock::ToolResult(_) => "toolResult",
            ContentBlock::GuardContent(_) => "guardContent",
            ContentBlock::CachePoint(_) => "cachePoint",
            ContentBlock::ReasoningContent(_) => "reasoningContent",
            ContentBlock::CitationsContent(_) => "citationsContent",
            ContentBlock::SearchResult(_) => "searchResult",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemContentBlock {
    Text(String),
    GuardContent(Value),
    CachePoint(Value),
}

impl SystemContentBlock {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SystemContentBlock::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// Sampling settings. `None` means "the model's default".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Not a Converse member: filled from `additionalModelRequestFields.top_k` or a provider body.
    #[serde(default, skip)]
    pub top_k: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

impl InferenceConfig {
    pub fn is_empty(&self) -> bool {
        self == &InferenceConfig::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    GuardrailIntervened,
    ContentFiltered,
    ModelContextWindowExceeded,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::GuardrailIntervened => "guardrail_intervened",
            StopReason::ContentFiltered => "content_filtered",
            StopReason::ModelContextWindowExceeded => "model_context_window_exceeded",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
}

impl TokenUsage {
    pub fn new(input_tokens: u32, output_tokens: u32) -> Self {
        TokenUsage {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub latency_ms: u64,
}

/// A finished, non-streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseOutput {
    pub message: Message,
    pub stop_reason: StopReason,
    /// The stop sequence that ended generation, when `stop_reason` is `StopSequence`.
    pub stop_sequence: Option<String>,
    pub usage: TokenUsage,
    pub metrics: Metrics,
}

impl ConverseOutput {
    pub fn text(&self) -> String {
        self.message.joined_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converse_request_reads_bedrock_json() {
        let request: ConverseRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 10, "temperature": 0.5, "stopSequences": ["\n"]}
        }))
        .expect("valid request");
        assert_eq!(request.messages[0].role, Role::User);
        assert_eq!(request.messages[0].joined_text(), "Hi");
        assert_eq!(request.system[0].as_text(), Some("Be brief."));
        assert_eq!(request.inference_config.max_tokens, Some(10));
        assert_eq!(
            request.inference_config.stop_sequences,
            vec!["\n".to_string()]
        );
    }

    #[test]
    fn unknown_content_block_is_rejected() {
        let parsed: Result<Message, _> =
            serde_json::from_value(json!({"role": "user", "content": [{"hologram": {}}]}));
        assert!(parsed.is_err());
    }

    #[test]
    fn stop_reason_uses_bedrock_names() {
        assert_eq!(
            serde_json::to_value(StopReason::MaxTokens).ok(),
            Some(json!("max_tokens"))
        );
        assert_eq!(StopReason::StopSequence.as_str(), "stop_sequence");
    }
}
