//! Limits no request can get past, so no client can take the server down: at most
//! `max_concurrent_requests` requests are handled at once (more are refused at once with a
//! throttling error rather than queued without bound), and a request that has no answer after
//! `request_timeout` is abandoned (its model work is cancelled when its future is dropped).
//! A streamed answer counts until its headers are sent; the engines' own bounded queues limit
//! the decoding behind it.

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use basalt_wire::{AwsError, AwsErrorCode};
use http::{StatusCode, Uri};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;

use crate::{ApiError, AppState};

/// The limits, as configured (`max_concurrent_requests`, `request_timeout_secs`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_concurrent_requests: usize,
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_requests: 512,
            request_timeout: Duration::from_secs(300),
        }
    }
}

/// `router` with the limits in front of every route.
pub fn apply(router: Router<AppState>, limits: Limits) -> Router<AppState> {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(
                move |uri: Uri, error: BoxError| async move { refusal(&uri, &error, limits) },
            ))
            .load_shed()
            // Router::layer wraps each route on its own; the global limit shares one semaphore.
            .layer(GlobalConcurrencyLimitLayer::new(
                limits.max_concurrent_requests.max(1),
            ))
            .timeout(limits.request_timeout),
    )
}

/// The answer for a request the limits stopped, in the shape its API speaks.
fn refusal(uri: &Uri, error: &BoxError, limits: Limits) -> Response {
    let openai = uri.path().starts_with("/v1/");
    if error.is::<tower::timeout::error::Elapsed>() {
        let seconds = limits.request_timeout.as_secs();
        let message = format!(
            "The request did not finish within basalt's request timeout of {seconds} s; \
             ask for less (fewer maxTokens) or raise request_timeout_secs."
        );
        tracing::warn!(path = uri.path(), seconds, "request timed out");
        if openai {
            return openai_error(StatusCode::GATEWAY_TIMEOUT, "timeout_error", &message);
        }
        // A model call that runs out of time is Bedrock's ModelTimeoutException; anything
        // else is the service being unable to answer now.
        let code = if uri.path().starts_with("/model/") {
            AwsErrorCode::ModelTimeoutException
        } else {
            AwsErrorCode::ServiceUnavailableException
        };
        return ApiError(AwsError::new(code, message)).into_response();
    }
    if error.is::<tower::load_shed::error::Overloaded>() {
        let limit = limits.max_concurrent_requests;
        let message = format!(
            "Too many requests: basalt is already handling {limit} at once \
             (max_concurrent_requests). Retry with backoff."
        );
        if openai {
            return openai_error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", &message);
        }
        return ApiError(AwsError::new(AwsErrorCode::ThrottlingException, message)).into_response();
    }
    tracing::error!(%error, "request failed inside the server's limits");
    ApiError(AwsError::new(
        AwsErrorCode::InternalServerException,
        "The request failed inside the server.",
    ))
    .into_response()
}

fn openai_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "error": { "message": message, "type": kind, "param": null, "code": null }
    });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::{to_bytes, Body};
    use axum::routing::get;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;

    /// The limits around routes that take as long as the test says, over a state with no models.
    fn app(limits: Limits, release: Arc<Notify>) -> Router {
        let catalog = basalt_models::Catalog::default_catalog().expect("catalog");
        let runtime =
            basalt_models::BedrockRuntime::with_providers(Arc::new(catalog), Default::default());
        let pipeline = basalt_pipeline::ModelPipeline::new(Arc::new(runtime), None);
        let state = AppState::new(Arc::new(pipeline), crate::ServerConfig::default());
        let held = move || {
            let release = release.clone();
            async move { release.notified().await }
        };
        let routes = Router::new()
            .route("/model/m/converse", get(held.clone()))
            .route("/knowledgebases/", get(held.clone()))
            .route("/v1/models", get(held));
        apply(routes, limits).with_state(state)
    }

    async fn answer(app: Router, path: &str) -> (StatusCode, String, serde_json::Value) {
        let request = http::Request::get(path)
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            error_type,
            serde_json::from_slice(&body).unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn slow_requests_time_out_in_their_api_s_words() {
        let limits = Limits {
            max_concurrent_requests: 8,
            request_timeout: Duration::from_millis(50),
        };
        let app = app(limits, Arc::new(Notify::new()));
        let (status, code, body) = answer(app.clone(), "/model/m/converse").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert!(code.starts_with("ModelTimeoutException"), "{code}");
        assert!(body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("request_timeout_secs"));
        let (status, code, _) = answer(app.clone(), "/knowledgebases/").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(code.starts_with("ServiceUnavailableException"), "{code}");
        let (status, _, body) = answer(app, "/v1/models").await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(body["error"]["type"], "timeout_error");
    }

    #[tokio::test]
    async fn requests_past_the_concurrency_limit_are_throttled_at_once() {
        let limits = Limits {
            max_concurrent_requests: 1,
            request_timeout: Duration::from_secs(30),
        };
        let release = Arc::new(Notify::new());
        let app = app(limits, release.clone());
        let first = tokio::spawn(answer(app.clone(), "/model/m/converse"));
        // Let the first request take the only slot.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, code, _) = answer(app.clone(), "/model/m/converse").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(code.starts_with("ThrottlingException"), "{code}");
        let (status, _, body) = answer(app.clone(), "/v1/models").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["type"], "rate_limit_error");
        release.notify_one();
        let (status, _, _) = first.await.expect("first request");
        assert_eq!(status, StatusCode::OK);
        // The slot is free again.
        let next = tokio::spawn(answer(app, "/knowledgebases/"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        release.notify_one();
        assert_eq!(next.await.expect("next").0, StatusCode::OK);
    }
}
