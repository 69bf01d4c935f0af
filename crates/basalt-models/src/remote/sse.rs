//! Server-sent events from a streamed upstream answer, with read failures already mapped.

use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};

use super::Reporter;
use crate::ModelError;

/// One SSE event: its `event:` name (`message` when the server sent none) and its `data:`.
pub(crate) struct SseEvent {
    pub(crate) event: String,
    pub(crate) data: String,
}

pub(crate) fn events(
    reporter: Reporter,
    response: reqwest::Response,
) -> impl Stream<Item = Result<SseEvent, ModelError>> + Send + 'static {
    response
        .bytes_stream()
        .eventsource()
        .map(move |item| match item {
            Ok(event) => Ok(SseEvent {
                event: event.event,
                data: event.data,
            }),
            Err(EventStreamError::Transport(e)) => Err(reporter.body_failure(&e)),
            Err(e) => Err(reporter.bad_answer(format!("a broken event stream ({e})"))),
        })
}
