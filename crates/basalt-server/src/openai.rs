//! OpenAI-compatible endpoints on the same catalog, for code written against the `openai` SDK:
//! chat completions, models (`models`) and embeddings. Handlers only decode, call the model
//! pipeline and encode; the OpenAI ⇄ Converse mapping is a codec (`basalt_codecs::openai_chat`).
//! Errors are always OpenAI's `{"error": {...}}`, never AWS's.

mod models;

use std::convert::Infallible;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_models::{ModelError, UpstreamFailure};
use basalt_pipeline::{EventStream, PipelineError};
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use http::request::Parts;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::AuthMode;
use crate::AppState;

use basalt_codecs::openai_chat::{ChatRequest, ChatRequestError, ChunkEncoder, Completion};
use basalt_models::{Catalog, InvokeFormat};

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
#[derive(Debug)]
pub struct OpenAiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<String>,
    code: Option<&'static str>,
}

impl OpenAiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        OpenAiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
        }
    }

    /// 400 `invalid_request_error`: the request cannot be served as sent.
    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    /// The request member at fault, as OpenAI names it (`messages[0].role`).
    fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), message = %self.message, "openai request failed");
        }
        let mut response = (self.status, Json(self.body())).into_response();
        if matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::PAYLOAD_TOO_LARGE
        ) {
            // Refused before its body was read: the connection cannot be reused, so say so
            // rather than let a pooling client send its next request into a closing socket.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// The pipeline's errors: the model's as above; a guardrail's (only when a request names one)
/// in OpenAI's kinds.
impl From<PipelineError> for OpenAiError {
    fn from(error: PipelineError) -> Self {
        use basalt_guardrails::GuardrailError;
        let error = match error {
            PipelineError::Model(e) | PipelineError::Guardrail(GuardrailError::Model(e)) => {
                return OpenAiError::from(e)
            }
            other => other,
        };
        let (status, kind) = match &error {
            PipelineError::Guardrail(GuardrailError::Validation(_)) => {
                (StatusCode::BAD_REQUEST, "invalid_request_error")
            }
            PipelineError::Guardrail(GuardrailError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, "invalid_request_error")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        };
        OpenAiError {
            status,
            message: error.to_string(),
            kind,
            param: None,
            code: None,
        }
    }
}

/// A request the chat mapping refused: 400 `invalid_request_error`, naming the member.
impl From<ChatRequestError> for OpenAiError {
    fn from(error: ChatRequestError) -> Self {
        OpenAiError {
            param: error.param,
            ..OpenAiError::invalid(error.message)
        }
    }
}

/// Domain errors in OpenAI's terms. No wildcard: a new variant needs a row.
impl From<ModelError> for OpenAiError {
    fn from(error: ModelError) -> Self {
        let (status, kind) = match &error {
            ModelError::UnknownModel(_) | ModelError::NotFound(_) => {
                (StatusCode::NOT_FOUND, "invalid_request_error")
            }
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
        let (message, code, param) = match &error {
            ModelError::UnknownModel(id) => (
                format!("The model `{id}` does not exist."),
                Some("model_not_found"),
                Some("model".to_string()),
            ),
            ModelError::ContextWindowExceeded { .. } => (
                error.to_string(),
                Some("context_length_exceeded"),
                Some("messages".to_string()),
            ),
            other => (other.to_string(), None, None),
        };
        OpenAiError {
            status,
            message,
            kind,
            param,
            code,
        }
    }
}

/// A caller allowed on the OpenAI routes. In `verify` mode that takes one of the configured API
/// keys as `Authorization: Bearer <key>`, as the Bedrock API-key path does; in `any` mode, anyone.
pub struct OpenAiCaller;

impl FromRequestParts<AppState> for OpenAiCaller {
    type Rejection = OpenAiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OpenAiError> {
        let auth = &state.config.auth;
        if auth.mode == AuthMode::Any {
            return Ok(OpenAiCaller);
        }
        match basalt_wire::sigv4::bearer_token(&parts.headers) {
            Some(key) if auth.api_keys.iter().any(|k| k == key) => Ok(OpenAiCaller),
            Some(_) => Err(unauthorized("Incorrect API key provided.")),
            None => Err(unauthorized(
                "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
            )),
        }
    }
}

fn unauthorized(message: &str) -> OpenAiError {
    OpenAiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
        .with_code("invalid_api_key")
}

/// The body of a request; one over the size limit is OpenAI's 413, not axum's plain text.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, OpenAiError> {
    body.map_err(|rejection| {
        OpenAiError::new(
            rejection.status(),
            "invalid_request_error",
            rejection.body_text(),
        )
    })
}

/// Seconds since the Unix epoch, for `created`.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// When this server first answered a models request: the `created` of every catalog model.
fn started() -> u64 {
    static STARTED: OnceLock<u64> = OnceLock::new();
    *STARTED.get_or_init(unix_now)
}

/// `POST /v1/chat/completions`, streamed (`stream: true`) or not.
pub async fn chat_completions(
    State(state): State<AppState>,
    _caller: OpenAiCaller,
    request: Result<Bytes, BytesRejection>,
) -> Response {
    create_chat_completion(state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Chat completions need a chat model: an embedding id gets a 400 naming the right endpoint,
/// an id the catalog does not know a 404.
pub fn check_chat_model(catalog: &Catalog, model_id: &str) -> Result<(), OpenAiError> {
    let (model, _) = catalog.resolve(model_id)?;
    if matches!(model.body_format, Some(InvokeFormat::Embedding(_))) {
        return Err(OpenAiError::invalid(format!(
            "The model `{model_id}` is an embedding model and does not support chat completions. Use it with /v1/embeddings."
        ))
        .with_param("model"));
    }
    Ok(())
}

async fn create_chat_completion(
    state: AppState,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let request = ChatRequest::parse(&body(request)?)?;
    check_chat_model(state.runtime.catalog(), &request.model)?;
    let converse = request.to_converse()?;
    let completion = Completion::new(&request.model);
    if request.stream() {
        let events = state
            .pipeline
            .converse_stream(&request.model, converse)
            .await?;
        let encoder = ChunkEncoder::new(completion, request.include_usage());
        return Ok(server_sent_events(events, encoder));
    }
    let answer = state.pipeline.converse(&request.model, converse).await?;
    Ok(Json(completion.body(&answer.output)).into_response())
}

/// Chunks as server-sent events, `data: [DONE]` last. An error mid-stream is sent as one
/// `data: {"error": ...}` event (the SDK raises it) and ends the stream without `[DONE]`.
fn server_sent_events(events: EventStream, mut encoder: ChunkEncoder) -> Response {
    let frames = events
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .scan(false, move |failed, event| {
            if *failed {
                return futures::future::ready(None);
            }
            let frame = match event {
                Some(Ok(event)) => encoder
                    .encode(&event.event)
                    .map(|chunk| format!("data: {chunk}\n\n")),
                Some(Err(error)) => {
                    *failed = true;
                    let error = OpenAiError::from(error);
                    tracing::warn!(message = %error.message, "chat completion stream ended by an error");
                    Some(format!("data: {}\n\n", error.body()))
                }
                None => Some("data: [DONE]\n\n".to_string()),
            };
            futures::future::ready(Some(frame))
        })
        .filter_map(|frame| {
            futures::future::ready(frame.map(|f| Ok::<Bytes, Infallible>(Bytes::from(f))))
        });
    (
        [
            (http::header::CONTENT_TYPE, "text/event-stream"),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}

/// `GET /v1/models`.
pub async fn list_models(State(state): State<AppState>, _caller: OpenAiCaller) -> Response {
    Json(models::list(state.runtime.catalog(), started())).into_response()
}

/// `GET /v1/models/{id}`.
pub async fn retrieve_model(
    State(state): State<AppState>,
    _caller: OpenAiCaller,
    Path(id): Path<String>,
) -> Response {
    models::retrieve(state.runtime.catalog(), &id, started())
        .map(Json)
        .into_response()
}

/// A method the OpenAI path does not take (GET on chat completions): 405 in OpenAI's shape.
pub async fn method_not_allowed() -> OpenAiError {
    OpenAiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "This endpoint does not take this HTTP method.",
    )
}

/// Any other `/v1/...` path: 404 in OpenAI's shape, so the SDK reports it as such.
pub async fn unknown_endpoint(request: axum::extract::Request) -> OpenAiError {
    OpenAiError::not_found(format!(
        "Unknown endpoint {} {}: basalt serves /v1/chat/completions, /v1/embeddings and /v1/models.",
        request.method(),
        request.uri().path()
    ))
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(state): State<AppState>,
    _caller: OpenAiCaller,
    request: Result<Bytes, BytesRejection>,
) -> Response {
    create_embeddings(state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn create_embeddings(
    state: AppState,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let request: EmbeddingsRequest = serde_json::from_slice(&body(request)?)
        .map_err(|e| OpenAiError::invalid(format!("Invalid request body: {e}")))?;
    let texts = match request.input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) => texts,
    };
    if texts.is_empty() || texts.iter().any(|t| t.is_empty()) {
        return Err(OpenAiError::invalid(
            "input must be a non-empty string or a list of non-empty strings.",
        ));
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(OpenAiError::invalid(format!(
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use axum::body::to_bytes;
    use basalt_models::{BedrockRuntime, Catalog};
    use basalt_types::{Role, StreamEvent};
    use http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::{AuthConfig, ServerConfig};

    /// The app over the default catalog with no model running: enough for routing, auth and
    /// everything refused before a model is called.
    fn app(auth: AuthConfig, max_body_bytes: usize) -> axum::Router {
        let catalog = Arc::new(Catalog::default_catalog().expect("catalog"));
        let runtime = BedrockRuntime::with_providers(catalog, BTreeMap::new());
        crate::app(AppState::new(
            Arc::new(basalt_pipeline::ModelPipeline::new(Arc::new(runtime), None)),
            ServerConfig {
                auth,
                max_body_bytes,
                ..ServerConfig::default()
            },
        ))
    }

    async fn send(app: axum::Router, request: Request<Body>) -> (StatusCode, Value) {
        let response = app.oneshot(request).await.expect("response");
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json body"))
    }

    fn get(path: &str, key: Option<&str>) -> Request<Body> {
        let mut request = Request::get(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        request.body(Body::empty()).expect("request")
    }

    #[tokio::test]
    async fn verify_mode_takes_configured_keys_as_bearer_tokens() {
        let auth = AuthConfig {
            mode: AuthMode::Verify,
            credentials: Vec::new(),
            api_keys: vec!["sk-basalt".into()],
        };
        let (status, body) = send(app(auth.clone(), 1024), get("/v1/models", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "invalid_api_key");
        let (status, _) = send(app(auth.clone(), 1024), get("/v1/models", Some("nope"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Refused before the body is read: the client is told not to reuse the connection.
        let refused = app(auth.clone(), 1024)
            .oneshot(get("/v1/models", Some("nope")))
            .await
            .expect("response");
        assert_eq!(
            refused.headers().get(http::header::CONNECTION),
            Some(&http::HeaderValue::from_static("close"))
        );
        let (status, body) = send(app(auth, 1024), get("/v1/models", Some("sk-basalt"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["object"], "list");
        // `any` mode, like the AWS side: no key needed.
        let (status, _) = send(app(AuthConfig::default(), 1024), get("/v1/models", None)).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn every_v1_failure_is_in_openai_shape() {
        let (status, body) = send(
            app(AuthConfig::default(), 1024),
            get("/v1/chat/completions", None),
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(body["error"]["message"].is_string());
        let (status, body) = send(app(AuthConfig::default(), 1024), get("/v1/files", None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["error"]["message"].is_string());
        let (status, body) = send(
            app(AuthConfig::default(), 1024),
            get("/v1/models/gpt-4o", None),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "model_not_found");
        let big = Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .body(Body::from(vec![b' '; 4096]))
            .expect("request");
        let (status, body) = send(app(AuthConfig::default(), 1024), big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    /// A model's stream event as the pipeline yields it for an unguarded call.
    fn pipeline_event(
        event: Result<StreamEvent, ModelError>,
    ) -> Result<basalt_pipeline::Event, PipelineError> {
        event
            .map(|event| basalt_pipeline::Event {
                event,
                outcome: None,
            })
            .map_err(PipelineError::from)
    }

    #[test]
    fn embedding_and_unknown_models_are_refused_for_chat() {
        let catalog = Catalog::default_catalog().expect("catalog");
        assert!(check_chat_model(&catalog, "anthropic.claude-3-haiku-20240307-v1:0").is_ok());
        assert!(check_chat_model(&catalog, "us.anthropic.claude-3-5-sonnet-20241022-v2:0").is_ok());
        let e = check_chat_model(&catalog, "amazon.titan-embed-text-v2:0").expect_err("embedding");
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        assert!(e.message.contains("/v1/embeddings"), "{}", e.message);
        let e = check_chat_model(&catalog, "no-such-model").expect_err("unknown");
        assert_eq!(e.status, http::StatusCode::NOT_FOUND);
    }

    /// The codec's `outputConfig` is the shape basalt-models' structured output reads.
    #[test]
    fn a_json_schema_response_format_reaches_the_model_as_its_schema() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema":
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}});
        let converse = ChatRequest::parse(body.to_string().as_bytes())
            .and_then(|r| r.to_converse())
            .expect("valid");
        let read = basalt_models::tools::output_schema(&converse)
            .expect("valid")
            .expect("schema");
        assert_eq!(read["required"], json!(["city"]));
    }

    #[tokio::test]
    async fn a_failure_mid_stream_is_an_error_event_and_no_done() {
        let events: EventStream = Box::pin(
            futures::stream::iter(vec![
                Ok(StreamEvent::MessageStart {
                    role: Role::Assistant,
                }),
                Ok(StreamEvent::ContentBlockDelta {
                    index: 0,
                    text: "Hel".into(),
                }),
                Err(ModelError::Generation(
                    "the upstream connection closed".into(),
                )),
                Ok(StreamEvent::ContentBlockDelta {
                    index: 0,
                    text: "never sent".into(),
                }),
            ])
            .map(pipeline_event),
        );
        let response = server_sent_events(events, ChunkEncoder::new(Completion::new("m"), false));
        assert_eq!(
            response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"text/event-stream"[..])
        );
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        let data: Vec<Value> = text
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .map(|json| serde_json::from_str(json).expect("json event"))
            .collect();
        assert_eq!(data.len(), 3, "{text}");
        assert_eq!(data[1]["choices"][0]["delta"]["content"], "Hel");
        assert_eq!(data[2]["error"]["type"], "server_error");
        assert!(!text.contains("[DONE]") && !text.contains("never sent"));
    }

    #[tokio::test]
    async fn a_finished_stream_ends_with_done() {
        let events: EventStream = Box::pin(
            futures::stream::iter(vec![Ok(StreamEvent::MessageStart {
                role: Role::Assistant,
            })])
            .map(pipeline_event),
        );
        let response = server_sent_events(events, ChunkEncoder::new(Completion::new("m"), false));
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(bytes.ends_with(b"data: [DONE]\n\n"));
    }
}
