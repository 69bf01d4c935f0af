//! Streaming answers as AWS event streams. An error mid-stream becomes an exception frame and
//! ends the stream; a client that goes away drops the stream, which stops the generation.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use basalt_wire::{eventstream, AwsError, AwsErrorCode};
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::ApiError;

pub struct EncodedEvent {
    pub event_type: &'static str,
    pub payload: Vec<u8>,
}

pub fn event_stream_response<T, E>(
    items: impl Stream<Item = Result<T, E>> + Send + 'static,
    encode: impl Fn(T) -> Result<EncodedEvent, ApiError> + Send + 'static,
) -> Response
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    event_stream_response_with(items, encode, as_stream_exception)
}

/// As [`event_stream_response`], for a stream whose union models other exceptions:
/// `as_exception` turns an error into one the union has.
pub fn event_stream_response_with<T, E>(
    items: impl Stream<Item = Result<T, E>> + Send + 'static,
    encode: impl Fn(T) -> Result<EncodedEvent, ApiError> + Send + 'static,
    as_exception: fn(AwsError) -> AwsError,
) -> Response
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let frames = items
        .map(move |item| item.map_err(Into::into).and_then(&encode))
        .scan(false, move |failed, item| {
            if *failed {
                return futures::future::ready(None);
            }
            let frame = match item {
                Ok(event) => eventstream::event_frame(event.event_type, &event.payload),
                Err(ApiError(error)) => {
                    *failed = true;
                    let error = as_exception(error);
                    tracing::warn!(code = error.code.name(), message = %error.message, "stream ended by an error");
                    eventstream::aws_error_frame(&error)
                }
            };
            futures::future::ready(Some(Ok::<Bytes, Infallible>(frame)))
        });
    (
        [(
            http::header::CONTENT_TYPE,
            "application/vnd.amazon.eventstream",
        )],
        Body::from_stream(frames),
    )
        .into_response()
}

/// Event streams may only carry the exceptions their union models; a model failure mid-stream
/// is Bedrock's `modelStreamErrorException`, and anything unmodeled an internal error.
fn as_stream_exception(error: AwsError) -> AwsError {
    let code = match error.code {
        AwsErrorCode::ModelErrorException => AwsErrorCode::ModelStreamErrorException,
        AwsErrorCode::ModelStreamErrorException
        | AwsErrorCode::ValidationException
        | AwsErrorCode::ThrottlingException
        | AwsErrorCode::ServiceUnavailableException
        | AwsErrorCode::ModelTimeoutException
        | AwsErrorCode::InternalServerException => error.code,
        _ => AwsErrorCode::InternalServerException,
    };
    AwsError::new(code, error.message)
}
