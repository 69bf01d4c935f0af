//! Amazon Bedrock itself: Converse and ConverseStream re-sent to `bedrock-runtime`, signed with
//! SigV4 (`aws-sigv4`) from the standard AWS environment variables, or with a Bedrock API key
//! (`api_key_env`, sent as a bearer token). basalt then sits in front of AWS as a gateway that
//! adds its own auth, guardrails and logging; streamed answers are decoded frame by frame.

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::event_stream::Message as Frame;
use basalt_types::{
    ConverseOutput, ConverseRequest, Message, Metrics, Role, StopReason, StreamEvent, TokenUsage,
};
use basalt_wire::eventstream::FrameDecoder;
use futures::{Stream, StreamExt};
use serde_json::Value;

use super::openai::remote_cannot_count;
use super::{RemoteConfig, Reporter, Upstream};
use crate::{
    ChatProvider, ChunkStream, EventStream, ModelError, ModelLimits, NativeAnswer, NativeInvoke,
    UpstreamFailure,
};

const DEFAULT_REGION: &str = "us-east-1";

/// How basalt proves itself to Bedrock.
enum Signer {
    /// SigV4 with access keys (and a session token for temporary credentials).
    SigV4 { identity: Identity, region: String },
    /// A Bedrock API key: `Authorization: Bearer`.
    ApiKey(String),
}

pub struct BedrockProvider {
    config: RemoteConfig,
    upstream: Upstream,
    signer: Signer,
}

impl BedrockProvider {
    pub fn start(served: &str, config: &RemoteConfig) -> Result<Self, ModelError> {
        let region = config
            .region
            .as_deref()
            .unwrap_or(DEFAULT_REGION)
            .to_string();
        let default_base_url = format!("https://bedrock-runtime.{region}.amazonaws.com");
        let upstream = Upstream::new(served, config, &default_base_url)?;
        let signer = match &upstream.api_key {
            Some(key) => Signer::ApiKey(key.clone()),
            None => {
                let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                let (Some(access_key), Some(secret_key)) =
                    (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
                else {
                    return Err(ModelError::Config(format!(
                        "served model `{served}` calls Amazon Bedrock but has no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or name a Bedrock API key variable in api_key_env"
                    )));
                };
                let credentials = Credentials::new(
                    access_key,
                    secret_key,
                    var("AWS_SESSION_TOKEN"),
                    None,
                    "environment",
                );
                Signer::SigV4 {
                    identity: credentials.into(),
                    region,
                }
            }
        };
        Ok(BedrockProvider {
            config: config.clone(),
            upstream,
            signer,
        })
    }

    /// Posts `body` to `/model/{model}/{action}`, signed afresh for each attempt.
    async fn post(
        &self,
        action: &str,
        body: Vec<u8>,
        whole: bool,
    ) -> Result<super::Answer, ModelError> {
        // Shared by every attempt without a copy.
        let body = bytes::Bytes::from(body);
        let model: String = percent_encoding::utf8_percent_encode(
            &self.config.model,
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        let url = self.upstream.url(&format!("/model/{model}/{action}"));
        let signed = |client: &reqwest::Client| {
            let headers = self.sign(&url, &body).map_err(|e| {
                ModelError::Config(format!(
                    "served model `{}`: signing the Bedrock request failed: {e}",
                    self.upstream.served
                ))
            })?;
            let request = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(body.clone());
            Ok(headers.into_iter().fold(request, |request, (name, value)| {
                request.header(name, value)
            }))
        };
        self.upstream.send(whole, signed).await
    }

    /// The headers that authenticate one request.
    fn sign(&self, url: &str, body: &[u8]) -> Result<Vec<(String, String)>, String> {
        match &self.signer {
            Signer::ApiKey(key) => Ok(vec![("authorization".into(), format!("Bearer {key}"))]),
            Signer::SigV4 { identity, region } => {
                let params = v4::SigningParams::builder()
                    .identity(identity)
                    .region(region)
                    .name("bedrock")
                    .time(SystemTime::now())
                    .settings(SigningSettings::default())
                    .build()
                    .map_err(|e| e.to_string())?
                    .into();
                let headers = [
                    ("content-type", "application/json"),
                    ("accept", "application/json"),
                ];
                let signable = SignableRequest::new(
                    "POST",
                    url,
                    headers.into_iter(),
                    SignableBody::Bytes(body),
                )
                .map_err(|e| e.to_string())?;
                let (instructions, _signature) = sign(signable, &params)
                    .map_err(|e| e.to_string())?
                    .into_parts();
                Ok(instructions
                    .headers()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect())
            }
        }
    }
}

#[async_trait]
impl ChatProvider for BedrockProvider {
    fn limits(&self) -> ModelLimits {
        self.config.limits()
    }

    fn count_tokens(&self, _request: &ConverseRequest) -> Result<u32, ModelError> {
        Err(remote_cannot_count(&self.upstream.served))
    }

    async fn converse_stream(&self, request: ConverseRequest) -> Result<EventStream, ModelError> {
        let body =
            serde_json::to_vec(&request).map_err(|e| ModelError::Generation(e.to_string()))?;
        let answer = self.post("converse-stream", body, false).await?;
        let reporter = self.upstream.reporter();
        let frames = frames(answer.response, reporter.clone());
        Ok(Box::pin(super::hold_slot(
            answer.permit,
            stream_events(frames, reporter),
        )))
    }

    fn native_invoke(&self) -> Option<&dyn NativeInvoke> {
        Some(self)
    }

    async fn converse(&self, request: ConverseRequest) -> Result<ConverseOutput, ModelError> {
        let started = Instant::now();
        let body =
            serde_json::to_vec(&request).map_err(|e| ModelError::Generation(e.to_string()))?;
        let answer = self.post("converse", body, true).await?;
        let response = self.upstream.json(answer).await?;
        let mut output = converse_output(&response, &self.upstream.reporter())?;
        if output.metrics.latency_ms == 0 {
            output.metrics.latency_ms = started.elapsed().as_millis() as u64;
        }
        Ok(output)
    }
}

/// InvokeModel bodies go to Bedrock as the client sent them.
#[async_trait]
impl NativeInvoke for BedrockProvider {
    async fn invoke(&self, body: Vec<u8>) -> Result<NativeAnswer, ModelError> {
        let answer = self.post("invoke", body, true).await?;
        let count = |name: &str| {
            answer
                .response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        };
        let (input_tokens, output_tokens) = (
            count("x-amzn-bedrock-input-token-count"),
            count("x-amzn-bedrock-output-token-count"),
        );
        let body = answer
            .response
            .bytes()
            .await
            .map_err(|e| self.upstream.reporter().body_failure(&e))?
            .to_vec();
        Ok(NativeAnswer {
            body,
            input_tokens,
            output_tokens,
        })
    }

    async fn invoke_stream(&self, body: Vec<u8>) -> Result<ChunkStream, ModelError> {
        let answer = self
            .post("invoke-with-response-stream", body, false)
            .await?;
        let reporter = self.upstream.reporter();
        let chunks = frames(answer.response, reporter.clone())
            .map(move |frame| chunk_bytes(frame?, &reporter));
        Ok(Box::pin(super::hold_slot(answer.permit, chunks)))
    }
}

/// The JSON document one InvokeModelWithResponseStream `chunk` frame carries (base64 in `bytes`).
fn chunk_bytes(frame: Frame, reporter: &Reporter) -> Result<Vec<u8>, ModelError> {
    let payload = frame_payload(&frame, reporter)?;
    let encoded = payload
        .get("bytes")
        .and_then(Value::as_str)
        .ok_or_else(|| reporter.bad_answer("a chunk without bytes"))?;
    aws_smithy_types::base64::decode(encoded)
        .map_err(|e| reporter.bad_answer(format!("a chunk whose bytes are not base64 ({e})")))
}

/// Bedrock's Converse response as a Converse answer.
pub(crate) fn converse_output(
    response: &Value,
    reporter: &Reporter,
) -> Result<ConverseOutput, ModelError> {
    let message: Message = response
        .pointer("/output/message")
        .cloned()
        .ok_or_else(|| reporter.bad_answer("no output.message in the Converse response"))
        .and_then(|m| {
            serde_json::from_value(m)
                .map_err(|e| reporter.bad_answer(format!("output.message: {e}")))
        })?;
    let stop_reason: StopReason = response
        .get("stopReason")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| reporter.bad_answer(format!("stopReason: {e}")))?
        .unwrap_or(StopReason::EndTurn);
    let count = |field: &str| {
        response
            .pointer(&format!("/usage/{field}"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32
    };
    Ok(ConverseOutput {
        message,
        stop_reason,
        stop_sequence: None,
        usage: TokenUsage::new(count("inputTokens"), count("outputTokens")),
        metrics: Metrics {
            latency_ms: response
                .pointer("/metrics/latencyMs")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        },
    })
}

/// The event-stream frames of a streamed answer, decoded as they arrive.
fn frames(
    response: reqwest::Response,
    reporter: Reporter,
) -> impl Stream<Item = Result<Frame, ModelError>> + Send + 'static {
    struct State<S> {
        bytes: S,
        decoder: FrameDecoder,
        ready: VecDeque<Frame>,
        done: bool,
        reporter: Reporter,
    }
    let state = State {
        bytes: response.bytes_stream(),
        decoder: FrameDecoder::new(),
        ready: VecDeque::new(),
        done: false,
        reporter,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(frame) = state.ready.pop_front() {
                return Some((Ok(frame), state));
            }
            if state.done {
                return None;
            }
            match state.bytes.next().await {
                Some(Ok(chunk)) => match state.decoder.push(&chunk) {
                    Ok(frames) => state.ready.extend(frames),
                    Err(broken) => {
                        state.done = true;
                        let error = state.reporter.bad_answer(broken.to_string());
                        return Some((Err(error), state));
                    }
                },
                Some(Err(e)) => {
                    state.done = true;
                    let error = state.reporter.body_failure(&e);
                    return Some((Err(error), state));
                }
                None => {
                    state.done = true;
                    if state.decoder.is_inside_frame() {
                        let error = state.reporter.bad_answer("the stream ended inside a frame");
                        return Some((Err(error), state));
                    }
                }
            }
        }
    })
}

fn header<'a>(frame: &'a Frame, name: &str) -> Option<&'a str> {
    frame
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// ConverseStream frames as Converse stream events; an exception frame ends the stream with the
/// matching error, and a stream without `metadata` is cut.
fn stream_events(
    frames: impl Stream<Item = Result<Frame, ModelError>> + Send + 'static,
    reporter: Reporter,
) -> impl Stream<Item = Result<StreamEvent, ModelError>> + Send {
    let cut = reporter.clone();
    super::fold_stream(
        frames,
        move |frame| event(&frame, &reporter),
        move || cut.bad_answer("the stream ended before its metadata event"),
    )
}

/// One frame's events, and whether it was the last (`metadata`).
fn event(frame: &Frame, reporter: &Reporter) -> Result<(Vec<StreamEvent>, bool), ModelError> {
    let payload = frame_payload(frame, reporter)?;
    let index = || {
        payload
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32
    };
    let events = match header(frame, ":event-type").unwrap_or_default() {
        "messageStart" => vec![StreamEvent::MessageStart {
            role: Role::Assistant,
        }],
        "contentBlockStart" => match payload.pointer("/start/toolUse") {
            Some(tool) => vec![StreamEvent::ToolUseStart {
                index: index(),
                tool_use_id: tool
                    .get("toolUseId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                name: tool
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            }],
            None => Vec::new(),
        },
        "contentBlockDelta" => {
            let delta = payload.get("delta").unwrap_or(&Value::Null);
            if let Some(text) = delta.get("text").and_then(Value::as_str) {
                vec![StreamEvent::ContentBlockDelta {
                    index: index(),
                    text: text.to_string(),
                }]
            } else if let Some(input) = delta.pointer("/toolUse/input").and_then(Value::as_str) {
                vec![StreamEvent::ToolUseDelta {
                    index: index(),
                    input: input.to_string(),
                }]
            } else {
                // Reasoning and citation deltas have no counterpart in basalt's events yet.
                Vec::new()
            }
        }
        "contentBlockStop" => vec![StreamEvent::ContentBlockStop { index: index() }],
        "messageStop" => {
            let stop_reason = payload
                .get("stopReason")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| reporter.bad_answer(format!("stopReason: {e}")))?
                .unwrap_or(StopReason::EndTurn);
            vec![StreamEvent::MessageStop {
                stop_reason,
                stop_sequence: None,
            }]
        }
        "metadata" => {
            let count = |field: &str| {
                payload
                    .pointer(&format!("/usage/{field}"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as u32
            };
            let events = vec![StreamEvent::Metadata {
                usage: TokenUsage::new(count("inputTokens"), count("outputTokens")),
                metrics: Metrics {
                    latency_ms: payload
                        .pointer("/metrics/latencyMs")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                },
            }];
            return Ok((events, true));
        }
        _ => Vec::new(),
    };
    Ok((events, false))
}

/// A frame's JSON payload; an exception frame is the error it reports.
fn frame_payload(frame: &Frame, reporter: &Reporter) -> Result<Value, ModelError> {
    let payload: Value = serde_json::from_slice(frame.payload())
        .map_err(|e| reporter.bad_answer(format!("a frame whose payload is not JSON ({e})")))?;
    if header(frame, ":message-type") == Some("exception") {
        let kind = header(frame, ":exception-type").unwrap_or("internalServerException");
        let message = payload
            .get("message")
            .or_else(|| payload.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("no details")
            .to_string();
        return Err(stream_exception(kind, message));
    }
    Ok(payload)
}

/// A ConverseStream exception from Bedrock as the error basalt reports for it.
fn stream_exception(kind: &str, message: String) -> ModelError {
    let failure = match kind {
        "throttlingException" => UpstreamFailure::Throttled,
        "serviceUnavailableException" => UpstreamFailure::Unavailable,
        "validationException" => UpstreamFailure::Rejected,
        "modelTimeoutException" => UpstreamFailure::Timeout,
        _ => UpstreamFailure::BadAnswer,
    };
    ModelError::Upstream {
        failure,
        message: format!("Amazon Bedrock ended the stream with {kind}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_smithy_types::event_stream::{Header, HeaderValue};
    use basalt_types::ContentBlock;
    use serde_json::json;
    use std::time::Duration;

    fn reporter() -> Reporter {
        Reporter {
            served: "bedrock".into(),
            timeout: Duration::from_secs(1),
        }
    }

    fn frame(kind: &str, name: &str, payload: Value) -> Frame {
        let name_header = if kind == "exception" {
            ":exception-type"
        } else {
            ":event-type"
        };
        Frame::new(payload.to_string().into_bytes())
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String(kind.to_string().into()),
            ))
            .add_header(Header::new(
                name_header,
                HeaderValue::String(name.to_string().into()),
            ))
    }

    #[tokio::test]
    async fn converse_stream_frames_become_events() {
        let frames = vec![
            Ok(frame("event", "messageStart", json!({"role": "assistant"}))),
            Ok(frame(
                "event",
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Paris"}}),
            )),
            Ok(frame(
                "event",
                "contentBlockStop",
                json!({"contentBlockIndex": 0}),
            )),
            Ok(frame(
                "event",
                "contentBlockStart",
                json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "w"}}}),
            )),
            Ok(frame(
                "event",
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"a\":1}"}}}),
            )),
            Ok(frame(
                "event",
                "contentBlockStop",
                json!({"contentBlockIndex": 1}),
            )),
            Ok(frame(
                "event",
                "messageStop",
                json!({"stopReason": "tool_use"}),
            )),
            Ok(frame(
                "event",
                "metadata",
                json!({"usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}, "metrics": {"latencyMs": 42}}),
            )),
        ];
        let events: Vec<_> = stream_events(futures::stream::iter(frames), reporter())
            .collect()
            .await;
        let output = crate::collect_stream(Box::pin(futures::stream::iter(events)))
            .await
            .unwrap();
        assert_eq!(
            output.message.content[0],
            ContentBlock::Text("Paris".into())
        );
        assert_eq!(output.stop_reason, StopReason::ToolUse);
        assert_eq!(output.usage, TokenUsage::new(5, 3));
        assert_eq!(output.metrics.latency_ms, 42);
    }

    #[tokio::test]
    async fn exceptions_and_cut_streams_are_errors() {
        let frames = vec![
            Ok(frame("event", "messageStart", json!({"role": "assistant"}))),
            Ok(frame(
                "exception",
                "throttlingException",
                json!({"message": "Too many requests"}),
            )),
        ];
        let events: Vec<_> = stream_events(futures::stream::iter(frames), reporter())
            .collect()
            .await;
        assert!(matches!(
            events.last(),
            Some(Err(ModelError::Upstream {
                failure: UpstreamFailure::Throttled,
                ..
            }))
        ));
        let cut = vec![Ok(frame(
            "event",
            "messageStart",
            json!({"role": "assistant"}),
        ))];
        let events: Vec<_> = stream_events(futures::stream::iter(cut), reporter())
            .collect()
            .await;
        assert!(matches!(
            events.last(),
            Some(Err(ModelError::Upstream {
                failure: UpstreamFailure::BadAnswer,
                ..
            }))
        ));
    }

    #[test]
    fn chunk_frames_carry_base64_documents() {
        let chunk = frame(
            "event",
            "chunk",
            json!({"bytes": aws_smithy_types::base64::encode(br#"{"type":"message_stop"}"#)}),
        );
        assert_eq!(
            chunk_bytes(chunk, &reporter()).unwrap(),
            br#"{"type":"message_stop"}"#
        );
        let error = frame(
            "exception",
            "modelStreamErrorException",
            json!({"message": "boom"}),
        );
        assert!(chunk_bytes(error, &reporter()).is_err());
        assert!(chunk_bytes(
            frame("event", "chunk", json!({"bytes": "@@@"})),
            &reporter()
        )
        .is_err());
    }

    #[test]
    fn a_converse_response_becomes_an_answer() {
        let response = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
                              "stopReason": "max_tokens", "usage": {"inputTokens": 4, "outputTokens": 1, "totalTokens": 5},
                              "metrics": {"latencyMs": 9}});
        let output = converse_output(&response, &reporter()).unwrap();
        assert_eq!(output.stop_reason, StopReason::MaxTokens);
        assert_eq!(output.usage.total_tokens, 5);
        assert!(converse_output(&json!({"output": {}}), &reporter()).is_err());
        assert!(converse_output(&json!({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "nonsense"}), &reporter()).is_err());
    }

    #[test]
    fn sigv4_headers_are_added() {
        let config: RemoteConfig = toml::from_str(
            "model = \"anthropic.claude-3-haiku-20240307-v1:0\"\nregion = \"eu-west-1\"\n",
        )
        .unwrap();
        let provider = BedrockProvider {
            upstream: Upstream::new(
                "b",
                &config,
                "https://bedrock-runtime.eu-west-1.amazonaws.com",
            )
            .unwrap(),
            config,
            signer: Signer::SigV4 {
                identity: Credentials::new("AKIDEXAMPLE", "secret", None, None, "test").into(),
                region: "eu-west-1".into(),
            },
        };
        let headers = provider
            .sign(
                "https://bedrock-runtime.eu-west-1.amazonaws.com/model/x/converse",
                b"{}",
            )
            .unwrap();
        let authorization = headers.iter().find(|(n, _)| n == "authorization").unwrap();
        assert!(
            authorization
                .1
                .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{authorization:?}"
        );
        assert!(authorization.1.contains("/eu-west-1/bedrock/aws4_request"));
        assert!(headers.iter().any(|(n, _)| n == "x-amz-date"));
    }
}
