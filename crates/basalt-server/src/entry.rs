//! The single entry for AWS requests: read, authenticate, resolve, bind, validate, dispatch.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use basalt_service_models::{ServiceModels, ValidationError};
use basalt_wire::{AwsError, AwsErrorCode};
use http::header::CONTENT_LENGTH;

use crate::routes::{self, Call};
use crate::{auth, ApiError, AppState};

pub async fn aws_request(State(state): State<AppState>, request: Request) -> Response {
    handle(state, request).await.unwrap_or_else(IntoResponse::into_response)
}

async fn handle(state: AppState, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, &parts.headers, state.config.max_body_bytes).await?;
    let signing_service = auth::authenticate(&state.config.auth, &parts, &body)?;
    if let Some(service) = signing_service.filter(|s| s != "bedrock") {
        return Err(ApiError(AwsError::new(
            AwsErrorCode::NotImplemented,
            format!("basalt does not serve the `{service}` API yet; it serves Amazon Bedrock (signing name `bedrock`)."),
        )));
    }

    let models = ServiceModels::global();
    let route = models.resolve(&parts.method, parts.uri.path(), parts.uri.query()).map_err(|_| {
        ApiError(AwsError::new(
            AwsErrorCode::UnknownOperationException,
            format!("No Bedrock operation matches {} {}.", parts.method, parts.uri.path()),
        ))
    })?;
    let Some(handler) = routes::handler(route.service, route.operation) else {
        return Err(ApiError(AwsError::new(
            AwsErrorCode::NotImplemented,
            format!(
                "basalt does not implement {} {} yet. See `basalt coverage` for the operations it serves.",
                route.service,
                route.operation
            ),
        )));
    };
    let binding = models.bind_input(&route, &parts.headers, parts.uri.query(), &body).map_err(input_error)?;
    models.validate(&route, &binding.input).map_err(input_error)?;
    tracing::debug!(service = route.service, operation = route.operation, "dispatch");
    let payload = binding.payload.map(|p| body.slice_ref(p));
    handler(state, Call { input: binding.input, payload }).await
}

async fn read_body(body: Body, headers: &http::HeaderMap, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError(AwsError::new(
            AwsErrorCode::RequestEntityTooLarge,
            format!("The request body is larger than basalt's limit of {limit} bytes."),
        ))
    };
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| too_large())
}

/// Input that does not fit the operation's shape: AWS's own error type for each kind of failure.
fn input_error(error: ValidationError) -> ApiError {
    let code = AwsErrorCode::from_name(error.error_type()).unwrap_or(AwsErrorCode::ValidationException);
    ApiError(AwsError::new(code, error.to_string()))
}
