//! The single entry for AWS requests: read, authenticate, resolve, bind, validate, dispatch.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use basalt_service_models::{ServiceModels, ValidationError};
use basalt_wire::{AwsError, AwsErrorCode};
use http::header::CONTENT_LENGTH;

use crate::routes::{self, Call};
use crate::{auth, ApiError, AppState};

/// Handles one AWS request and logs one line for it. Every response carries `x-amzn-RequestId`,
/// which boto3 reports as `ResponseMetadata.RequestId`.
pub async fn aws_request(State(state): State<AppState>, request: Request) -> Response {
    let started = std::time::Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let mut operation = None;
    let mut response = match state.objects().filter(|_| crate::s3::is_s3(&request)) {
        // S3 (signing name `s3`) has its own routing, XML answers and errors.
        Some(objects) => {
            let config = &state.config;
            let (name, response) = crate::s3::handle(
                objects,
                &config.auth,
                config.max_body_bytes,
                request,
                &request_id,
            )
            .await;
            operation = Some(name);
            response
        }
        None => handle(state.clone(), request, &request_id, &mut operation)
            .await
            .unwrap_or_else(IntoResponse::into_response),
    };
    if let Some(operation) = operation {
        response
            .extensions_mut()
            .insert(crate::metrics::Operation(operation));
    }
    if let Ok(value) = http::HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(http::HeaderName::from_static("x-amzn-requestid"), value);
    }
    tracing::info!(
        request_id,
        %method,
        path,
        operation = operation.unwrap_or("-"),
        status = response.status().as_u16(),
        error = response.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).unwrap_or(""),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn handle(
    state: AppState,
    request: Request,
    request_id: &str,
    operation: &mut Option<&'static str>,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, &parts.headers, state.config.max_body_bytes).await?;
    let signing_service = auth::authenticate(&state.config.auth, &parts, &body)?;
    if let Some(service) = signing_service.filter(|s| s != "bedrock") {
        return Err(ApiError(AwsError::new(
            AwsErrorCode::NotImplemented,
            format!("basalt does not serve the `{service}` API yet; it serves Amazon Bedrock (signing name `bedrock`)."),
        )));
    }

    let models: &'static ServiceModels = ServiceModels::global();
    let route = models
        .resolve(&parts.method, parts.uri.path(), parts.uri.query())
        .map_err(|_| {
            ApiError(AwsError::new(
                AwsErrorCode::UnknownOperationException,
                format!(
                    "No Bedrock operation matches {} {}.",
                    parts.method,
                    parts.uri.path()
                ),
            ))
        })?;
    *operation = Some(route.operation);
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
    let binding = models
        .bind_input(&route, &parts.headers, parts.uri.query(), &body)
        .map_err(input_error)?;
    models
        .validate(&route, &binding.input)
        .map_err(input_error)?;
    tracing::debug!(
        service = route.service,
        operation = route.operation,
        "dispatch"
    );
    let payload = binding.payload.map(|p| body.slice_ref(p));
    let status = models
        .operation(route.service, route.operation)
        .and_then(|op| op.http.response_code)
        .unwrap_or(200);
    let context = basalt_api::RequestContext {
        request_id: request_id.to_owned(),
        access_key_id: None,
    };
    handler(
        state,
        Call {
            operation: route.operation,
            status,
            context,
            input: binding.input,
            payload,
        },
    )
    .await
}

async fn read_body(
    body: Body,
    headers: &http::HeaderMap,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError(AwsError::new(
            AwsErrorCode::RequestEntityTooLarge,
            format!("The request body is larger than basalt's limit of {limit} bytes."),
        ))
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// Input that does not fit the operation's shape, unparseable JSON included: Bedrock answers
/// `ValidationException` for both, with a message naming the field.
fn input_error(error: ValidationError) -> ApiError {
    ApiError::validation(error.to_string())
}
