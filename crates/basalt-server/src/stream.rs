//! Streaming answers as AWS event streams. An error mid-stream becomes an exception frame and
//! ends the stream; a client that goes away drops the stream, which stops the generation.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use basalt_wire::eventstream;
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
    let frames = items
        .map(move |item| item.map_err(Into::into).and_then(&encode))
        .scan(false, |failed, item| {
            if *failed {
                return futures::future::ready(None);
            }
            let frame = match item {
                Ok(event) => eventstream::event_frame(event.event_type, &event.payload),
                Err(ApiError(error)) => {
                    *failed = true;
                    tracing::warn!(code = error.code.name(), message = %error.message, "stream ended by an error");
                    eventstream::aws_error_frame(&error)
                }
            };
            futures::future::ready(Some(Ok::<Bytes, Infallible>(frame)))
        });
    (
        [(http::header::CONTENT_TYPE, "application/vnd.amazon.eventstream")],
        Body::from_stream(frames),
    )
        .into_response()
}
