//! `application/vnd.amazon.eventstream` frames, encoded with the AWS SDK's own codec
//! (`aws-smithy-eventstream`), so preludes and CRCs are exactly what SDKs check.
//!
//! Bedrock's streaming operations send one frame per event:
//! - events: `:event-type` (the union member: `chunk` for InvokeModelWithResponseStream,
//!   `messageStart`, `contentBlockDelta`, ... for ConverseStream), `:content-type`
//!   `application/json`, `:message-type` `event`; the payload is the member's JSON;
//! - modeled exceptions: `:message-type` `exception` and `:exception-type` the union member
//!   (`modelStreamErrorException`); botocore looks that member up in the stream shape and raises
//!   it with the payload's `message`;
//! - anything else: `:message-type` `error` with `:error-code` and `:error-message` headers.

use aws_smithy_eventstream::frame::{write_message_to, DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};

use crate::error::AwsError;

/// The `Content-Type` of a streaming response.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Frames read back from bytes that arrive in pieces (a remote Bedrock's streamed answer):
/// [`push`](Self::push) what came, take the frames it completed.
#[derive(Default)]
pub struct FrameDecoder {
    buffer: BytesMut,
    decoder: MessageFrameDecoder,
}

/// Bytes that are not an event-stream frame (bad prelude or CRC, a length that cannot be).
#[derive(Debug, thiserror::Error)]
#[error("a broken event-stream frame ({0})")]
pub struct BrokenFrame(String);

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The frames `bytes` completes, in order. After an error the stream cannot be resynced.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Message>, BrokenFrame> {
        self.buffer.extend_from_slice(bytes);
        let mut frames = Vec::new();
        loop {
            match self.decoder.decode_frame(&mut self.buffer) {
                Ok(DecodedFrame::Complete(frame)) => frames.push(frame),
                Ok(DecodedFrame::Incomplete) => return Ok(frames),
                Err(e) => return Err(BrokenFrame(e.to_string())),
            }
        }
    }

    /// Whether a frame was started and not finished (a stream that ends now was cut).
    pub fn is_inside_frame(&self) -> bool {
        !self.buffer.is_empty()
    }
}

/// The longest string header value the format can carry (its length is an i16).
const MAX_HEADER_VALUE_LEN: usize = i16::MAX as usize;

/// A string header; a value over the format's limit is cut at a char boundary rather than
/// failing the whole frame.
fn string_header(name: &'static str, value: &str) -> Header {
    let mut end = value.len().min(MAX_HEADER_VALUE_LEN);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Header::new(name, HeaderValue::String(value[..end].to_owned().into()))
}

/// Encodes one frame. With header names fixed here and values capped, the codec can only fail on
/// a payload over 4 GiB; that event is replaced by an `error` frame saying so.
fn encode(headers: Vec<Header>, payload: impl Into<Bytes>) -> Bytes {
    let message = Message::new_from_parts(headers, payload);
    let mut out = Vec::new();
    if write_message_to(&message, &mut out).is_ok() {
        return Bytes::from(out);
    }
    let fallback = Message::new_from_parts(
        vec![
            string_header(":error-code", "InternalFailure"),
            string_header(
                ":error-message",
                "event too large for an event-stream frame",
            ),
            string_header(":message-type", "error"),
        ],
        Bytes::new(),
    );
    let mut out = Vec::new();
    match write_message_to(&fallback, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(_) => Bytes::new(),
    }
}

/// One event of a response stream; `event_type` is the union member name.
pub fn event_frame(event_type: &str, payload: &[u8]) -> Bytes {
    encode(
        vec![
            string_header(":event-type", event_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "event"),
        ],
        Bytes::copy_from_slice(payload),
    )
}

/// A modeled exception inside a stream; `exception_type` is the union member name
/// (`modelStreamErrorException`), the payload `{"message": ...}`.
pub fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    exception_frame_with_body(exception_type, serde_json::json!({ "message": message }))
}

/// [`exception_frame`] for an [`AwsError`]: its code's union member and its full body, extra
/// members included (`originalStatusCode` of `ModelStreamErrorException`).
pub fn aws_error_frame(error: &AwsError) -> Bytes {
    exception_frame_with_body(&error.code.stream_exception_name(), error.body_json())
}

fn exception_frame_with_body(exception_type: &str, body: serde_json::Value) -> Bytes {
    encode(
        vec![
            string_header(":exception-type", exception_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "exception"),
        ],
        body.to_string().into_bytes(),
    )
}

/// An unmodeled stream error: SDKs surface `code` and `message` from the headers.
pub fn error_frame(code: &str, message: &str) -> Bytes {
    encode(
        vec![
            string_header(":error-code", code),
            string_header(":error-message", message),
            string_header(":message-type", "error"),
        ],
        Bytes::new(),
    )
}

/// The payload of an InvokeModelWithResponseStream `chunk` event: `{"bytes":"<base64>"}`.
pub fn chunk_payload(bytes: &[u8]) -> Vec<u8> {
    serde_json::json!({ "bytes": aws_smithy_types::base64::encode(bytes) })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(frame: &Bytes) -> Message {
        let mut decoder = FrameDecoder::new();
        let mut frames = decoder.push(frame).expect("valid frame");
        assert_eq!(frames.len(), 1, "one frame");
        assert!(!decoder.is_inside_frame(), "frame has trailing bytes");
        frames.remove(0)
    }

    #[test]
    fn frames_decode_from_any_split() {
        let mut stream = event_frame("messageStart", br#"{"role":"assistant"}"#).to_vec();
        stream.extend_from_slice(&exception_frame("throttlingException", "slow down"));
        for cut in 0..stream.len() {
            let mut decoder = FrameDecoder::new();
            let mut frames = decoder.push(&stream[..cut]).expect("a prefix");
            frames.extend(decoder.push(&stream[cut..]).expect("the rest"));
            assert_eq!(frames.len(), 2, "split at {cut}");
            assert!(!decoder.is_inside_frame());
        }
        let mut decoder = FrameDecoder::new();
        assert!(decoder.push(&stream[..5]).expect("a prefix").is_empty());
        assert!(decoder.is_inside_frame());
        let mut corrupt = stream.clone();
        corrupt[9] ^= 0xff; // the prelude's CRC
        assert!(FrameDecoder::new().push(&corrupt).is_err());
    }

    fn headers(message: &Message) -> Vec<(String, String)> {
        message
            .headers()
            .iter()
            .map(|h| {
                let value = h
                    .value()
                    .as_string()
                    .expect("string header")
                    .as_str()
                    .to_owned();
                (h.name().as_str().to_owned(), value)
            })
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn chunk_event_round_trips_through_the_sdk_decoder() {
        let inner = br#"{"type":"content_block_delta","delta":{"text":"Hi"}}"#;
        let frame = event_frame("chunk", &chunk_payload(inner));
        let message = decode(&frame);
        assert_eq!(
            headers(&message),
            pairs(&[
                (":event-type", "chunk"),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ])
        );
        let payload: serde_json::Value = serde_json::from_slice(message.payload()).expect("json");
        let b64 = payload["bytes"].as_str().expect("bytes member");
        assert_eq!(
            aws_smithy_types::base64::decode(b64).expect("base64"),
            inner.to_vec()
        );
    }

    #[test]
    fn converse_event_carries_its_json() {
        let body = br#"{"role":"assistant"}"#;
        let message = decode(&event_frame("messageStart", body));
        assert_eq!(
            headers(&message)[0],
            (":event-type".into(), "messageStart".into())
        );
        assert_eq!(message.payload().as_ref(), body);
    }

    #[test]
    fn exception_frames() {
        let message = decode(&exception_frame("throttlingException", "slow down"));
        assert_eq!(
            headers(&message),
            pairs(&[
                (":exception-type", "throttlingException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ])
        );
        let body: serde_json::Value = serde_json::from_slice(message.payload()).expect("json");
        assert_eq!(body, serde_json::json!({"message": "slow down"}));

        let err = AwsError::model_stream_error("upstream broke")
            .with_member("originalStatusCode", 502)
            .with_member("originalMessage", "bad gateway");
        let message = decode(&aws_error_frame(&err));
        assert_eq!(headers(&message)[0].1, "modelStreamErrorException");
        let body: serde_json::Value = serde_json::from_slice(message.payload()).expect("json");
        assert_eq!(body["message"], "upstream broke");
        assert_eq!(body["originalStatusCode"], 502);
    }

    #[test]
    fn error_frame_puts_code_and_message_in_headers() {
        let message = decode(&error_frame("InternalFailure", "boom"));
        assert_eq!(
            headers(&message),
            pairs(&[
                (":error-code", "InternalFailure"),
                (":error-message", "boom"),
                (":message-type", "error"),
            ])
        );
        assert!(message.payload().is_empty());
    }

    #[test]
    fn chunk_payload_is_standard_base64() {
        assert_eq!(
            chunk_payload(b"hello?>"),
            br#"{"bytes":"aGVsbG8/Pg=="}"#.to_vec()
        );
        assert_eq!(chunk_payload(b""), br#"{"bytes":""}"#.to_vec());
    }

    #[test]
    fn oversized_header_value_is_cut_not_lost() {
        let long = "é".repeat(20_000); // 40,000 bytes
        let message = decode(&error_frame("InternalFailure", &long));
        let value = &headers(&message)[1].1;
        assert!(value.len() <= 32_767 && value.len() > 32_000);
        assert!(long.starts_with(value.as_str()));
    }

    /// Bytes produced once by the SDK codec for `event_frame("chunk", chunk_payload(b"{}"))` and
    /// checked to decode with botocore's `EventStreamBuffer`; guards the header order and framing.
    #[test]
    fn chunk_frame_is_byte_exact() {
        let frame = event_frame("chunk", &chunk_payload(b"{}"));
        assert_eq!(hex::encode(&frame), KNOWN_CHUNK_FRAME);
    }

    const KNOWN_CHUNK_FRAME: &str = concat!(
        "0000006b0000004b6ace012d",
        "0b3a6576656e742d747970650700056368756e6b",
        "0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e",
        "0d3a6d6573736167652d747970650700056576656e74",
        "7b226279746573223a226533303d227d",
        "3651dbfe",
    );
}
