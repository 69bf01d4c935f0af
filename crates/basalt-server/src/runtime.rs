//! bedrock-runtime handlers: decode the bound input, call the runtime, encode Bedrock's answer.

use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_api::bedrock_runtime as api;
use basalt_api::RequestContext;
use basalt_models::CountTokensInput;
use basalt_pipeline::InvokeGuardrail;
use basalt_types::{ConverseOutput, ConverseRequest, StreamEvent};
use serde_json::{json, Value};

use crate::routes::Call;
use crate::stream::{event_stream_response, EncodedEvent};
use crate::{ApiError, AppState};

pub async fn converse(state: AppState, call: Call) -> Result<Response, ApiError> {
    let model_id = call.string("modelId")?;
    let request: ConverseRequest = call.decode(None)?;
    let field_paths = request
        .additional_model_response_field_paths
        .clone()
        .unwrap_or_default();
    let answer = state.pipeline.converse(&model_id, request).await?;
    let mut body = converse_response(&answer.output);
    if let Some(trace) = answer.trace {
        body["trace"] = trace;
    }
    if let Some(fields) = additional_response_fields(&field_paths, &answer.output) {
        body["additionalModelResponseFields"] = fields;
    }
    Ok(Json(body).into_response())
}

pub async fn converse_stream(state: AppState, call: Call) -> Result<Response, ApiError> {
    let model_id = call.string("modelId")?;
    let request: ConverseRequest = call.decode(None)?;
    let events = state.pipeline.converse_stream(&model_id, request).await?;
    Ok(event_stream_response(events, |event| {
        Ok(match (&event.event, event.outcome.and_then(|o| o.trace)) {
            (StreamEvent::Metadata { usage, metrics }, Some(trace)) => EncodedEvent {
                event_type: "metadata",
                payload: json!({ "usage": usage, "metrics": metrics, "trace": trace })
                    .to_string()
                    .into_bytes(),
            },
            _ => converse_stream_event(&event.event),
        })
    }))
}

pub async fn invoke_model(state: AppState, call: Call) -> Result<Response, ApiError> {
    let model_id = call.string("modelId")?;
    check_json_content_type(&call)?;
    let body = call.payload.clone().unwrap_or_default();
    let output = state
        .pipeline
        .invoke_model(&model_id, &body, invoke_guardrail(&call))
        .await?;
    Ok((
        [
            (http::header::CONTENT_TYPE, "application/json".to_string()),
            (
                http::HeaderName::from_static("x-amzn-bedrock-input-token-count"),
                output.input_tokens.to_string(),
            ),
            (
                http::HeaderName::from_static("x-amzn-bedrock-output-token-count"),
                output.output_tokens.to_string(),
            ),
            (
                http::HeaderName::from_static("x-amzn-bedrock-invocation-latency"),
                output.latency_ms.to_string(),
            ),
        ],
        output.body,
    )
        .into_response())
}

pub async fn invoke_model_with_response_stream(
    state: AppState,
    call: Call,
) -> Result<Response, ApiError> {
    let model_id = call.string("modelId")?;
    check_json_content_type(&call)?;
    let body = call.payload.clone().unwrap_or_default();
    let chunks = state
        .pipeline
        .invoke_model_stream(&model_id, &body, invoke_guardrail(&call))
        .await?;
    let mut response = event_stream_response(chunks, |chunk: Vec<u8>| {
        Ok(EncodedEvent {
            event_type: "chunk",
            payload: basalt_wire::eventstream::chunk_payload(&chunk),
        })
    });
    response.headers_mut().insert(
        http::HeaderName::from_static("x-amzn-bedrock-content-type"),
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The guardrail InvokeModel's headers name (bound as input members).
fn invoke_guardrail(call: &Call) -> InvokeGuardrail<'_> {
    let header = |name| call.input.get(name).and_then(Value::as_str);
    InvokeGuardrail {
        identifier: header("guardrailIdentifier"),
        version: header("guardrailVersion"),
        trace: header("trace"),
    }
}

/// The route-table handler for the bedrock-runtime operations served through the trait
/// (CountTokens, ApplyGuardrail); the model calls above are written by hand because their
/// bodies are raw payloads or event streams.
pub async fn operation(state: AppState, call: Call) -> Result<Response, ApiError> {
    let service = Runtime { state: &state };
    let output = api::dispatch(&service, &call.context, call.operation, call.input).await;
    crate::routes::answer(call.status, output)
}

struct Runtime<'a> {
    state: &'a AppState,
}

impl api::BedrockRuntime for Runtime<'_> {
    type Error = ApiError;

    async fn count_tokens(
        &self,
        _ctx: &RequestContext,
        input: api::CountTokensRequest,
    ) -> Result<api::CountTokensResponse, ApiError> {
        let counted = match input.input {
            api::CountTokensInput::Converse(converse) => {
                let request = serde_json::to_value(converse)
                    .and_then(serde_json::from_value)
                    .map_err(|e| {
                        ApiError::validation(format!(
                            "Malformed input request: input.converse: {e}"
                        ))
                    })?;
                CountTokensInput::Converse(Box::new(request))
            }
            api::CountTokensInput::InvokeModel(invoke) => CountTokensInput::InvokeModel {
                body: invoke.body.0,
            },
        };
        // Rendering and tokenizing a long conversation is CPU work: off the async worker.
        let runtime = &self.state.runtime;
        let input_tokens =
            basalt_models::cpu_bound(|| runtime.count_tokens(&input.model_id, counted))?;
        Ok(api::CountTokensResponse {
            input_tokens: i32::try_from(input_tokens).unwrap_or(i32::MAX),
        })
    }

    async fn apply_guardrail(
        &self,
        _ctx: &RequestContext,
        input: api::ApplyGuardrailRequest,
    ) -> Result<api::ApplyGuardrailResponse, ApiError> {
        Ok(crate::bedrock::guardrails(self.state)?
            .apply_guardrail(input)
            .await?)
    }
}

/// InvokeModel bodies must be JSON; Bedrock refuses other content types.
fn check_json_content_type(call: &Call) -> Result<(), ApiError> {
    match call.optional_string("contentType") {
        None => Ok(()),
        Some(t)
            if t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) =>
        {
            Ok(())
        }
        Some(t) => Err(ApiError::validation(format!(
            "The provided Content-Type `{t}` is not supported. Send the body as application/json."
        ))),
    }
}

fn converse_response(output: &ConverseOutput) -> Value {
    json!({
        "output": { "message": output.message },
        "stopReason": output.stop_reason,
        "usage": output.usage,
        "metrics": output.metrics,
    })
}

/// `additionalModelResponseFieldPaths` (JSON Pointers) picked from the fields a model reports
/// beyond Converse's own; basalt's models report `stop_sequence`, as Anthropic's do.
fn additional_response_fields(paths: &[String], output: &ConverseOutput) -> Option<Value> {
    let reported = json!({ "stop_sequence": output.stop_sequence });
    let mut fields = serde_json::Map::new();
    for path in paths {
        if let Some(value) = reported.pointer(path) {
            fields.insert(path.trim_start_matches('/').to_string(), value.clone());
        }
    }
    (!fields.is_empty()).then_some(Value::Object(fields))
}

fn converse_stream_event(event: &StreamEvent) -> EncodedEvent {
    let (event_type, payload) = match event {
        StreamEvent::MessageStart { role } => ("messageStart", json!({ "role": role })),
        StreamEvent::ContentBlockDelta { index, text } => (
            "contentBlockDelta",
            json!({ "contentBlockIndex": index, "delta": { "text": text } }),
        ),
        StreamEvent::ToolUseStart {
            index,
            tool_use_id,
            name,
        } => (
            "contentBlockStart",
            json!({ "contentBlockIndex": index, "start": { "toolUse": { "toolUseId": tool_use_id, "name": name } } }),
        ),
        StreamEvent::ToolUseDelta { index, input } => (
            "contentBlockDelta",
            json!({ "contentBlockIndex": index, "delta": { "toolUse": { "input": input } } }),
        ),
        StreamEvent::ContentBlockStop { index } => {
            ("contentBlockStop", json!({ "contentBlockIndex": index }))
        }
        StreamEvent::MessageStop { stop_reason, .. } => {
            ("messageStop", json!({ "stopReason": stop_reason }))
        }
        StreamEvent::Metadata { usage, metrics } => {
            ("metadata", json!({ "usage": usage, "metrics": metrics }))
        }
    };
    EncodedEvent {
        event_type,
        payload: payload.to_string().into_bytes(),
    }
}
