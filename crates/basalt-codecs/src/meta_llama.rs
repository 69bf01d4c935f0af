//! Meta Llama bodies: `{prompt, temperature, top_p, max_gen_len, images}`.
//!
//! The prompt usually arrives already rendered in Llama 3's header layout or Llama 2's
//! `[INST]` layout; it is parsed back into system + messages (see [`crate::prompt`]) so the
//! serving model can apply its own template. Plain text is one user message. Llama 3.2
//! `images` (base64 strings) are attached to the last user message.

use basalt_types::{
    ContentBlock, ConverseOutput, ConverseRequest, InferenceConfig, Role, StopReason, StreamEvent,
    SystemContentBlock,
};
use serde_json::{json, Map, Value};

use crate::prompt::parse_chat_prompt;
use crate::schema::{Fields, Range};
use crate::stream::{counted_final_chunk, encode_completion_event, FinalMetrics, StreamState};
use crate::CodecError;

pub(crate) fn decode_request(body: &Map<String, Value>) -> Result<ConverseRequest, CodecError> {
    let fields = Fields::root(body);
    fields.deny_unknown(&["prompt", "temperature", "top_p", "max_gen_len", "images"])?;
    let prompt = fields.required_string("prompt")?;
    let inference_config = InferenceConfig {
        temperature: fields.number("temperature", Range::UNIT)?.map(|t| t as f32),
        top_p: fields.number("top_p", Range::UNIT)?.map(|p| p as f32),
        max_tokens: fields.integer("max_gen_len", Range::between(1.0, 2048.0))?,
        top_k: None,
        stop_sequences: Vec::new(),
    };
    let images = fields.string_list("images", None)?;
    let mut conversation = parse_chat_prompt(prompt);
    if !images.is_empty() {
        if let Some(message) = conversation
            .messages
            .iter_mut()
            .rev()
            .find(|m| m.role == Role::User)
        {
            let blocks = images.iter().map(|data| {
                ContentBlock::Image(
                    json!({"format": sniff_image_format(data), "source": {"bytes": data}}),
                )
            });
            // Images go before the text, where Llama's template puts `<|image|>`.
            let text = std::mem::take(&mut message.content);
            message.content = blocks.chain(text).collect();
        }
    }
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

/// Image format from the first bytes of its base64 text (Llama bodies do not name it).
fn sniff_image_format(base64: &str) -> &'static str {
    if base64.starts_with("/9j/") {
        "jpeg"
    } else if base64.starts_with("R0lG") {
        "gif"
    } else if base64.starts_with("UklG") {
        "webp"
    } else {
        "png"
    }
}

fn stop_reason_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => "length",
        _ => "stop",
    }
}

pub(crate) fn encode_response(output: &ConverseOutput) -> Value {
    json!({
        "generation": output.text(),
        "prompt_token_count": output.usage.input_tokens,
        "generation_token_count": output.usage.output_tokens,
        "stop_reason": stop_reason_name(output.stop_reason),
    })
}

fn chunk(state: &StreamState, text: &str, generated: u32, reason: Option<&str>) -> Value {
    // The prompt's token count rides on the first chunk only.
    let prompt_count = if state.sent_first_chunk {
        None
    } else {
        state.input_tokens
    };
    json!({
        "generation": text,
        "prompt_token_count": prompt_count,
        "generation_token_count": generated,
        "stop_reason": reason,
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
    counted_final_chunk(state, metrics, |counts, generated| {
        chunk(counts, "", generated, Some(stop_reason_name(reason)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_request as decode, BodyFormat, InvocationMetrics, StreamEncoder};
    use basalt_types::{Message, Metrics, TokenUsage};

    fn decode_json(body: Value) -> Result<ConverseRequest, CodecError> {
        decode(BodyFormat::MetaLlama, body.to_string().as_bytes())
    }

    fn error_of(body: Value) -> String {
        decode_json(body)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn decodes_the_documented_llama3_body() {
        let prompt = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>\
            <|start_header_id|>user<|end_header_id|>\n\nDescribe the purpose of a 'hello world' program in one line.<|eot_id|>\
            <|start_header_id|>assistant<|end_header_id|>\n";
        let request = decode_json(
            json!({"prompt": prompt, "max_gen_len": 512, "temperature": 0.5, "top_p": 0.9}),
        )
        .expect("valid body");
        assert_eq!(
            request.system,
            vec![SystemContentBlock::Text(
                "You are a helpful assistant.".into()
            )]
        );
        assert_eq!(
            request.messages,
            vec![Message::text(
                Role::User,
                "Describe the purpose of a 'hello world' program in one line."
            )]
        );
        assert_eq!(
            request.inference_config,
            InferenceConfig {
                max_tokens: Some(512),
                temperature: Some(0.5),
                top_p: Some(0.9),
                top_k: None,
                stop_sequences: vec![]
            }
        );
    }

    #[test]
    fn llama2_and_plain_prompts() {
        let request =
            decode_json(json!({"prompt": "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]"}))
                .expect("valid body");
        assert_eq!(
            request.system,
            vec![SystemContentBlock::Text("Be brief.".into())]
        );
        assert_eq!(request.messages, vec![Message::text(Role::User, "Hi")]);

        let request =
            decode_json(json!({"prompt": "The capital of France is"})).expect("valid body");
        assert_eq!(
            request.messages,
            vec![Message::text(Role::User, "The capital of France is")]
        );
        assert!(request.system.is_empty());
    }

    #[test]
    fn images_join_the_last_user_message() {
        let request = decode_json(json!({"prompt": "What is this?", "images": ["/9j/4AAQ"]}))
            .expect("valid body");
        assert_eq!(
            request.messages[0].content,
            vec![
                ContentBlock::Image(json!({"format": "jpeg", "source": {"bytes": "/9j/4AAQ"}})),
                ContentBlock::Text("What is this?".into()),
            ]
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            error_of(json!({"max_gen_len": 10})),
            "Malformed input request: #: required key [prompt] not found, please reformat your input and try again."
        );
        assert!(error_of(json!({"prompt": "x", "max_gen_len": 4096}))
            .contains("#/max_gen_len: 4096 is not less or equal to 2048"));
        assert!(error_of(json!({"prompt": "x", "max_gen_len": 0}))
            .contains("#/max_gen_len: 0 is not greater or equal to 1"));
        assert!(error_of(json!({"prompt": "x", "top_p": "high"}))
            .contains("#/top_p: expected type: Number, found: String"));
        assert!(error_of(json!({"prompt": "x", "max_tokens": 10}))
            .contains("#: extraneous key [max_tokens] is not permitted"));
        assert!(error_of(json!(["prompt"])).contains("expected type: JSONObject, found: JSONArray"));
    }

    #[test]
    fn encodes_the_response_body() {
        let output = ConverseOutput {
            message: Message::text(Role::Assistant, "Paris."),
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
            usage: TokenUsage::new(20, 3),
            metrics: Metrics { latency_ms: 50 },
        };
        assert_eq!(
            crate::encode_response(
                BodyFormat::MetaLlama,
                &output,
                "meta.llama3-8b-instruct-v1:0"
            ),
            json!({"generation": "Paris.", "prompt_token_count": 20, "generation_token_count": 3, "stop_reason": "stop"})
        );
    }

    #[test]
    fn stream_chunks_end_with_metrics() {
        let mut encoder = StreamEncoder::new(BodyFormat::MetaLlama, "meta.llama3-8b-instruct-v1:0")
            .with_input_tokens(20);
        let latency = InvocationMetrics {
            invocation_latency_ms: 70,
            first_byte_latency_ms: 30,
        };
        let chunks: Vec<Value> = [
            StreamEvent::MessageStart {
                role: Role::Assistant,
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "Par".into(),
            },
            StreamEvent::ContentBlockDelta {
                index: 0,
                text: "is".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::MessageStop {
                stop_reason: StopReason::MaxTokens,
                stop_sequence: None,
            },
            StreamEvent::Metadata {
                usage: TokenUsage::new(20, 2),
                metrics: Metrics { latency_ms: 70 },
            },
        ]
        .iter()
        .flat_map(|event| encoder.encode(event, &latency))
        .collect();
        assert_eq!(
            chunks,
            vec![
                json!({"generation": "Par", "prompt_token_count": 20, "generation_token_count": 1, "stop_reason": null}),
                json!({"generation": "is", "prompt_token_count": null, "generation_token_count": 2, "stop_reason": null}),
                json!({"generation": "", "prompt_token_count": null, "generation_token_count": 2, "stop_reason": "length",
                       "amazon-bedrock-invocationMetrics": {"inputTokenCount": 20, "outputTokenCount": 2,
                           "invocationLatency": 70, "firstByteLatency": 30}}),
            ]
        );
    }
}
