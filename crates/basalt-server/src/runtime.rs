//! bedrock-runtime handlers: decode the bound input, call the runtime, encode Bedrock's answer.

use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_models::CountTokensInput;
use basalt_pipeline::InvokeGuardrail;
use basalt_types::{ConverseOutput, ConverseRequest, StreamEvent};
use base64::Engine as _;
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

pub async fn count_tokens(state: AppState, call: Call) -> Result<Response, ApiError> {
    let model_id = call.string("modelId")?;
    let input = call.input.get("input").cloned().unwrap_or(Value::Null);
    let input = if let Some(converse) = input.get("converse") {
        let request = serde_json::from_value(converse.clone()).map_err(|e| {
            ApiError::validation(format!("Malformed input request: input.converse: {e}"))
        })?;
        CountTokensInput::Converse(Box::new(request))
    } else if let Some(body) = input
        .get("invokeModel")
        .and_then(|v| v.get("body"))
        .and_then(Value::as_str)
    {
        let body = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| {
                ApiError::validation(format!("input.invokeModel.body is not valid base64: {e}"))
            })?;
        CountTokensInput::InvokeModel { body }
    } else {
        return Err(ApiError::validation(
            "input must set exactly one of converse or invokeModel.",
        ));
    };
    let input_tokens = state.runtime.count_tokens(&model_id, input)?;
    Ok(Json(json!({ "inputTokens": input_tokens })).into_response())
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
