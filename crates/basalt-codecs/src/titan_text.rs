//! Amazon Titan Text bodies: `{inputText, textGenerationConfig}`.
//!
//! Titan has one prompt string. When it uses Titan's conversational layout
//! (`User: ...\nBot: ...\nUser: ...\nBot:`) it is split into turns, lines before the first
//! `User:` becoming the system prompt; any other text is one user message.
//! Streams send each delta as it comes and close with an empty-text chunk carrying
//! `completionReason` and the invocation metrics.

use basalt_types::{
    ConverseOutput, ConverseRequest, InferenceConfig, StopReason, StreamEvent, SystemContentBlock,
};
use serde_json::{json, Map, Value};

use crate::prompt::{parse_titan_transcript, Conversation};
use crate::schema::{malformed, Fields, Range};
use crate::stream::{counted_final_chunk, encode_completion_event, FinalMetrics, StreamState};
use crate::CodecError;

pub(crate) fn decode_request(body: &Map<String, Value>) -> Result<ConverseRequest, CodecError> {
    let fields = Fields::root(body);
    fields.deny_unknown(&["inputText", "textGenerationConfig"])?;
    let input_text = fields.required_string("inputText")?;
    if input_text.is_empty() {
        return Err(malformed("#/inputText: expected minLength: 1, actual: 0"));
    }
    let mut inference_config = InferenceConfig::default();
    if let Some(config) = fields.object("textGenerationConfig")? {
        let config = Fields::nested(config, "#/textGenerationConfig");
        config.deny_unknown(&["temperature", "topP", "maxTokenCount", "stopSequences"])?;
        inference_config.temperature = config.number("temperature", Range::UNIT)?.map(|t| t as f32);
        inference_config.top_p = config.number("topP", Range::UNIT)?.map(|p| p as f32);
        inference_config.max_tokens = config.integer("maxTokenCount", Range::at_least(0.0))?;
        inference_config.stop_sequences = config.string_list("stopSequences", None)?;
    }
    let conversation =
        parse_titan_transcript(input_text).unwrap_or_else(|| Conversation::plain(input_text));
    Ok(ConverseRequest {
        messages: conversation.messages,
        system: conversation
            .system
            .map(SystemContentBlock::Text)
            .into_iter()
            .collect(),
        inference_config,
        ..ConverseRequest::default()
    })
}

fn completion_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::ToolUse => "FINISH",
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => "LENGTH",
        StopReason::StopSequence => "STOP_CRITERIA_MET",
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => "CONTENT_FILTERED",
    }
}

pub(crate) fn encode_response(output: &ConverseOutput) -> Value {
    json!({
        "inputTextTokenCount": output.usage.input_tokens,
        "results": [{
            "tokenCount": output.usage.output_tokens,
            "outputText": output.text(),
            "completionReason": completion_reason(output.stop_reason),
        }],
    })
}

fn chunk(state: &StreamState, text: &str, total_output: u32, reason: Option<&str>) -> Value {
    // The prompt's token count rides on the first chunk only.
    let input_count = if state.sent_first_chunk {
        None
    } else {
        state.input_tokens
    };
    json!({
        "outputText": text,
        "index": 0,
        "totalOutputTextTokenCount": total_output,
        "completionReason": reason,
        "inputTextTokenCount": input_count,
    })
}

pub(crate) fn encode_event(state: &mut StreamState, event: &StreamEvent) -> Vec<Value> {
    encode_completion_event(
        state,
        event,
        |state, text| chunk(state, text, state.deltas + 1, None),
        final_chunk,
    )
}

pub(crate) fn final_chunk(state: &mut StreamState, metrics: &FinalMetrics) -> Value {
    let (reason, _) = state.take_stop();
    counted_final_chunk(state, metrics, |counts, total| {
        chunk(counts, "", total, Some(completion_reason(reason)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_request as decode, BodyFormat, InvocationMetrics, StreamEncoder};
    use basalt_types::{Message, Metrics, Role, TokenUsage};

    fn decode_json(body: Value) -> Result<ConverseRequest, CodecError> {
        decode(BodyFormat::TitanText, body.to_string().as_bytes())
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
            "inputText": "User: Describe the purpose of a 'hello world' program in one line.\nBot:",
            "textGenerationConfig": {"maxTokenCount": 512, "stopSequences": ["User:"], "temperature": 0.0, "topP": 0.9}
        }))
        .expect("valid body");
        assert_eq!(
            request.messages,
            vec![Message::text(
                Role::User,
                "Describe the purpose of a 'hello world' program in one line."
            )]
        );
        assert!(request.system.is_empty());
        assert_eq!(
            request.inference_config,
            InferenceConfig {
                max_tokens: Some(512),
                temperature: Some(0.0),
                top_p: Some(0.9),
                top_k: None,
                stop_sequences: vec!["User:".into()],
            }
        );
    }

    #[test]
    fn plain_prompts_are_one_user_message() {
        let request =
            decode_json(json!({"inputText": "Write a haiku about rain."})).expect("valid body");
        assert_eq!(
            request.messages,
            vec![Message::text(Role::User, "Write a haiku about rain.")]
        );
        assert!(request.inference_config.is_empty());
    }

    #[test]
    fn instructions_before_the_transcript_become_system() {
        let request = decode_json(
            json!({"inputText": "Answer briefly.\nUser: Hi\nBot: Hello\nUser: Bye\nBot:"}),
        )
        .expect("valid body");
        assert_eq!(
            request.system,
            vec![SystemContentBlock::Text("Answer briefly.".into())]
        );
        assert_eq!(request.messages.len(), 3);
        assert_eq!(request.messages[1], Message::text(Role::Assistant, "Hello"));
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            error_of(json!({"textGenerationConfig": {}})),
            "Malformed input request: #: required key [inputText] not found, please reformat your input and try again."
        );
        assert!(error_of(json!({"inputText": ""})).contains("#/inputText: expected minLength: 1"));
        assert!(
            error_of(json!({"inputText": "x", "textGenerationConfig": {"temperature": "1"}}))
                .contains(
                    "#/textGenerationConfig/temperature: expected type: Number, found: String"
                )
        );
        assert!(
            error_of(json!({"inputText": "x", "textGenerationConfig": {"topP": 1.5}}))
                .contains("#/textGenerationConfig/topP: 1.5 is not less or equal to 1")
        );
        assert!(
            error_of(json!({"inputText": "x", "textGenerationConfig": {"max_tokens": 5}}))
                .contains("#/textGenerationConfig: extraneous key [max_tokens] is not permitted")
        );
        assert!(error_of(json!({"inputText": 5}))
            .contains("#/inputText: expected type: String, found: Integer"));
    }

    #[test]
    fn encodes_the_response_body() {
        let output = ConverseOutput {
            message: Message::text(Role::Assistant, "\nA first program.\n"),
            stop_reason: StopReason::MaxTokens,
            stop_sequence: None,
            usage: TokenUsage::new(15, 6),
            metrics: Metrics { latency_ms: 90 },
        };
        assert_eq!(
            crate::encode_response(
                BodyFormat::TitanText,
                &output,
                "amazon.titan-text-express-v1"
            ),
            json!({"inputTextTokenCount": 15, "results": [
                {"tokenCount": 6, "outputText": "\nA first program.\n", "completionReason": "LENGTH"}]})
        );
    }

    #[test]
    fn stream_chunks_end_with_metrics() {
        let mut encoder = StreamEncoder::new(BodyFormat::TitanText, "amazon.titan-text-lite-v1")
            .with_input_tokens(9);
        let latency = InvocationMetrics {
            invocation_latency_ms: 120,
            first_byte_latency_ms: 40,
        };
        let chunks: Vec<Value> = [
            StreamEvent::MessageStart {
                role: Role::Assistant,
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "Hi".into(),
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: " there".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::MessageStop {
                stop_reason: StopReason::StopSequence,
                stop_sequence: Some("User:".into()),
            },
            StreamEvent::Metadata {
                usage: TokenUsage::new(9, 2),
                metrics: Metrics { latency_ms: 120 },
            },
        ]
        .iter()
        .flat_map(|event| encoder.encode(event, &latency))
        .collect();
        assert_eq!(
            chunks,
            vec![
                json!({"outputText": "Hi", "index": 0, "totalOutputTextTokenCount": 1,
                       "completionReason": null, "inputTextTokenCount": 9}),
                json!({"outputText": " there", "index": 0, "totalOutputTextTokenCount": 2,
                       "completionReason": null, "inputTextTokenCount": null}),
                json!({"outputText": "", "index": 0, "totalOutputTextTokenCount": 2,
                       "completionReason": "STOP_CRITERIA_MET", "inputTextTokenCount": null,
                       "amazon-bedrock-invocationMetrics": {"inputTokenCount": 9, "outputTokenCount": 2,
                           "invocationLatency": 120, "firstByteLatency": 40}}),
            ]
        );
    }

    #[test]
    fn empty_stream_still_reports_the_prompt_count() {
        let mut encoder = StreamEncoder::new(BodyFormat::TitanText, "m");
        let unmeasured = InvocationMetrics::default();
        encoder.encode(
            &StreamEvent::MessageStop {
                stop_reason: StopReason::MaxTokens,
                stop_sequence: None,
            },
            &unmeasured,
        );
        let chunks = encoder.encode(
            &StreamEvent::Metadata {
                usage: TokenUsage::new(7, 0),
                metrics: Metrics { latency_ms: 5 },
            },
            &unmeasured,
        );
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0]["inputTextTokenCount"], json!(7));
        assert_eq!(chunks[0]["completionReason"], json!("LENGTH"));
        assert_eq!(
            chunks[0]["amazon-bedrock-invocationMetrics"]["firstByteLatency"],
            json!(5)
        );
    }
}
