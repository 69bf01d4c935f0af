//! Mistral text-completion bodies: `{prompt, max_tokens, stop, temperature, top_p, top_k}`.
//!
//! Prompts come as `<s>[INST] ... [/INST]`; they are parsed back into turns (see
//! [`crate::prompt`]), plain text becoming one user message. Answers are
//! `{outputs: [{text, stop_reason}]}`, streamed the same way with `stop_reason` null until the
//! final chunk, which carries the invocation metrics.

use basalt_types::{
    ConverseOutput, ConverseRequest, InferenceConfig, StopReason, StreamEvent, SystemContentBlock,
};
use serde_json::{json, Map, Value};

use crate::prompt::parse_chat_prompt;
use crate::schema::{Fields, Range};
use crate::stream::{encode_completion_event, with_metrics, FinalMetrics, StreamState};
use crate::CodecError;

pub(crate) fn decode_request(body: &Map<String, Value>) -> Result<ConverseRequest, CodecError> {
    let fields = Fields::root(body);
    fields.deny_unknown(&[
        "prompt",
        "max_tokens",
        "stop",
        "temperature",
        "top_p",
        "top_k",
    ])?;
    let prompt = fields.required_string("prompt")?;
    let inference_config = InferenceConfig {
        max_tokens: fields.integer("max_tokens", Range::at_least(1.0))?,
        temperature: fields.number("temperature", Range::UNIT)?.map(|t| t as f32),
        top_p: fields.number("top_p", Range::UNIT)?.map(|p| p as f32),
        top_k: fields.integer("top_k", Range::between(1.0, 200.0))?,
        stop_sequences: fields.string_list("stop", Some(10))?,
    };
    let conversation = parse_chat_prompt(prompt);
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

fn stop_reason_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => "length",
        _ => "stop",
    }
}

pub(crate) fn encode_response(output: &ConverseOutput) -> Value {
    json!({"outputs": [{"text": output.text(), "stop_reason": stop_reason_name(output.stop_reason)}]})
}

pub(crate) fn encode_event(state: &mut StreamState, event: &StreamEvent) -> Vec<Value> {
    encode_completion_event(
        state,
        event,
        |_, text| json!({"outputs": [{"text": text, "stop_reason": null}]}),
        final_chunk,
    )
}

pub(crate) fn final_chunk(state: &mut StreamState, metrics: &FinalMetrics) -> Value {
    let (reason, _) = state.take_stop();
    state.finished = true;
    with_metrics(
        json!({"outputs": [{"text": "", "stop_reason": stop_reason_name(reason)}]}),
        metrics,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_request as decode, BodyFormat, InvocationMetrics, StreamEncoder};
    use basalt_types::{Message, Metrics, Role, TokenUsage};

    fn decode_json(body: Value) -> Result<ConverseRequest, CodecError> {
        decode(BodyFormat::Mistral, body.to_string().as_bytes())
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
            "prompt": "<s>[INST] What is your favourite condiment? [/INST]",
            "max_tokens": 200,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 50,
            "stop": ["</s>"]
        }))
        .expect("valid body");
        assert_eq!(
            request.messages,
            vec![Message::text(
                Role::User,
                "What is your favourite condiment?"
            )]
        );
        assert_eq!(
            request.inference_config,
            InferenceConfig {
                max_tokens: Some(200),
                temperature: Some(0.5),
                top_p: Some(0.9),
                top_k: Some(50),
                stop_sequences: vec!["</s>".into()],
            }
        );
    }

    #[test]
    fn multi_turn_prompt() {
        let request = decode_json(json!({
            "prompt": "<s>[INST] Hi [/INST] Hello!</s>[INST] Tell me a joke [/INST]"
        }))
        .expect("valid body");
        assert_eq!(
            request.messages,
            vec![
                Message::text(Role::User, "Hi"),
                Message::text(Role::Assistant, "Hello!"),
                Message::text(Role::User, "Tell me a joke"),
            ]
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            error_of(json!({"max_tokens": 5})),
            "Malformed input request: #: required key [prompt] not found, please reformat your input and try again."
        );
        assert!(error_of(json!({"prompt": "x", "top_k": 500}))
            .contains("#/top_k: 500 is not less or equal to 200"));
        assert!(error_of(json!({"prompt": "x", "stop": "END"}))
            .contains("#/stop: expected type: JSONArray, found: String"));
        assert!(error_of(
            json!({"prompt": "x", "stop": ["a","b","c","d","e","f","g","h","i","j","k"]})
        )
        .contains("#/stop: expected maximum item count: 10, found: 11"));
        assert!(error_of(json!({"prompt": "x", "max_gen_len": 5}))
            .contains("extraneous key [max_gen_len]"));
    }

    #[test]
    fn encodes_the_response_body() {
        let output = ConverseOutput {
            message: Message::text(Role::Assistant, "Ketchup."),
            stop_reason: StopReason::MaxTokens,
            stop_sequence: None,
            usage: TokenUsage::new(15, 3),
            metrics: Metrics { latency_ms: 40 },
        };
        assert_eq!(
            crate::encode_response(
                BodyFormat::Mistral,
                &output,
                "mistral.mistral-7b-instruct-v0:2"
            ),
            json!({"outputs": [{"text": "Ketchup.", "stop_reason": "length"}]})
        );
    }

    #[test]
    fn stream_chunks_end_with_metrics() {
        let mut encoder =
            StreamEncoder::new(BodyFormat::Mistral, "mistral.mistral-7b-instruct-v0:2");
        // Nothing measured by the caller: the Metadata event's latency is used for both.
        let latency = InvocationMetrics::default();
        let chunks: Vec<Value> = [
            StreamEvent::MessageStart {
                role: Role::Assistant,
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "Ketch".into(),
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "up".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::MessageStop {
                stop_reason: StopReason::EndTurn,
                stop_sequence: None,
            },
            StreamEvent::Metadata {
                usage: TokenUsage::new(15, 2),
                metrics: Metrics { latency_ms: 60 },
            },
        ]
        .iter()
        .flat_map(|event| encoder.encode(event, &latency))
        .collect();
        assert_eq!(
            chunks,
            vec![
                json!({"outputs": [{"text": "Ketch", "stop_reason": null}]}),
                json!({"outputs": [{"text": "up", "stop_reason": null}]}),
                json!({"outputs": [{"text": "", "stop_reason": "stop"}],
                       "amazon-bedrock-invocationMetrics": {"inputTokenCount": 15, "outputTokenCount": 2,
                           "invocationLatency": 60, "firstByteLatency": 60}}),
            ]
        );
    }
}
