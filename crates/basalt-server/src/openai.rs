//! OpenAI-compatible endpoints on the same catalog, for code written against the `openai` SDK.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_models::{ModelError, UpstreamFailure};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct EmbeddingsRequest {
    input: EmbeddingInput,
    model: String,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
struct OpenAiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"message": self.message, "type": self.kind, "param": null, "code": null}});
        (self.status, Json(body)).into_response()
    }
}

impl From<ModelError> for OpenAiError {
    fn from(error: ModelError) -> Self {
        let (status, kind) = match &error {
            ModelError::UnknownModel(_) => (StatusCode::NOT_FOUND, "invalid_request_error"),
            ModelError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
            ModelError::Validation(_)
            | ModelError::Codec(_)
            | ModelError::NotServed { .. }
            | ModelError::ContextWindowExceeded { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_request_error")
            }
            ModelError::Generation(_) | ModelError::Config(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
            }
            ModelError::Upstream { failure, .. } => match failure {
                UpstreamFailure::Throttled | UpstreamFailure::NotReady => {
                    (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error")
                }
                UpstreamFailure::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout_error"),
                UpstreamFailure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
                UpstreamFailure::BadAnswer => (StatusCode::BAD_GATEWAY, "server_error"),
                UpstreamFailure::Rejected => (StatusCode::BAD_REQUEST, "invalid_request_error"),
                UpstreamFailure::Unauthorized => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
                }
            },
        };
        let message = match &error {
            ModelError::UnknownModel(id) => format!("The model `{id}` does not exist."),
            other => other.to_string(),
        };
        OpenAiError {
            status,
            message,
            kind,
        }
    }
}

fn bad_request(message: impl Into<String>) -> OpenAiError {
    OpenAiError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
        kind: "invalid_request_error",
    }
}

/// `POST /v1/embeddings`.
pub async fn embeddings(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    create_embeddings(state, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn create_embeddings(state: AppState, body: &[u8]) -> Result<Response, OpenAiError> {
    let request: EmbeddingsRequest = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("Invalid request body: {e}")))?;
    let texts = match request.input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) => texts,
    };
    if texts.is_empty() || texts.iter().any(|t| t.is_empty()) {
        return Err(bad_request(
            "input must be a non-empty string or a list of non-empty strings.",
        ));
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(bad_request(format!(
                "encoding_format `{other}` is not one of float, base64."
            )))
        }
    };
    let embeddings = state
        .runtime
        .embed(&request.model, texts, request.dimensions)
        .await?;
    let data: Vec<Value> = embeddings
        .vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: u32 = embeddings.per_text_tokens.iter().sum();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response())
}
