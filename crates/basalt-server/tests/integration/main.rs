//! In-process HTTP tests of the server with a scripted provider standing in for a model, to
//! reach what a real local model cannot be made to do on demand: fail halfway through a stream.
//! Everything a real model can do is tested end to end in `tests/e2e` with the real binary.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use axum::body::{to_bytes, Body};
use basalt_models::{
    BedrockRuntime, Catalog, ChatProvider, EventStream, ModelError, ModelLimits, ServedModel,
};
use basalt_server::{app, AppState, ServerConfig};
use basalt_types::{ConverseRequest, Role, StreamEvent};
use http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

/// Streams "Hel" then fails, like an upstream that cuts off mid-answer.
struct FailingMidStream;

#[async_trait]
impl ChatProvider for FailingMidStream {
    fn limits(&self) -> ModelLimits {
        ModelLimits {
            context_length: 100,
            max_output_tokens: 50,
        }
    }

    fn count_tokens(&self, request: &ConverseRequest) -> Result<u32, ModelError> {
        Ok(request
            .messages
            .iter()
            .map(|m| m.joined_text().split_whitespace().count() as u32)
            .sum())
    }

    async fn converse_stream(&self, _request: ConverseRequest) -> Result<EventStream, ModelError> {
        Ok(Box::pin(futures::stream::iter(vec![
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
        ])))
    }
}

fn test_app() -> axum::Router {
    let catalog = Arc::new(Catalog::default_catalog().expect("default catalog"));
    let mut providers = BTreeMap::new();
    providers.insert(
        "smollm2".to_string(),
        ServedModel::Chat(Arc::new(FailingMidStream)),
    );
    let runtime = BedrockRuntime::with_providers(catalog, providers);
    let pipeline = basalt_pipeline::ModelPipeline::new(Arc::new(runtime), None);
    app(AppState::new(Arc::new(pipeline), ServerConfig::default()))
}

fn post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// Every frame of an event-stream body as (`:message-type`, `:event-type` or `:exception-type`, payload).
fn frames(mut bytes: bytes::Bytes) -> Vec<(String, String, Value)> {
    let mut decoder = MessageFrameDecoder::new();
    let mut out = Vec::new();
    while let DecodedFrame::Complete(message) =
        decoder.decode_frame(&mut bytes).expect("valid frame")
    {
        let header = |name: &str| {
            message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .and_then(|h| h.value().as_string().ok().map(|s| s.as_str().to_string()))
                .unwrap_or_default()
        };
        let kind = header(":message-type");
        let name = if kind == "exception" {
            header(":exception-type")
        } else {
            header(":event-type")
        };
        out.push((
            kind,
            name,
            serde_json::from_slice(message.payload()).expect("json payload"),
        ));
    }
    out
}

#[tokio::test]
async fn a_failure_mid_stream_becomes_an_exception_frame_and_ends_the_stream() {
    let messages = json!([{"role": "user", "content": [{"text": "hi there"}]}]);
    let response = test_app()
        .oneshot(post(
            "/model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream",
            json!({"messages": messages}),
        ))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let frames = frames(body);
    let names: Vec<&str> = frames.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "modelStreamErrorException"
        ]
    );
    assert_eq!(frames[1].2["delta"]["text"], "Hel");
    assert_eq!(frames[2].0, "exception");
    assert!(frames[2].2["message"]
        .as_str()
        .is_some_and(|m| m.contains("upstream connection closed")));
}

#[tokio::test]
async fn invoke_stream_failure_is_an_exception_frame_after_the_chunks() {
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]});
    let response = test_app()
        .oneshot(post(
            "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream",
            body,
        ))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let frames = frames(
        to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body"),
    );
    let (kind, name, _) = frames.last().expect("at least one frame");
    assert_eq!(
        (kind.as_str(), name.as_str()),
        ("exception", "modelStreamErrorException")
    );
    assert!(frames[..frames.len() - 1]
        .iter()
        .all(|(kind, name, _)| kind == "event" && name == "chunk"));
}

#[tokio::test]
async fn a_failure_before_streaming_is_a_plain_aws_error() {
    let response = test_app()
        .oneshot(post(
            "/model/anthropic.claude-3-haiku-20240307-v1:0/converse",
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        ))
        .await
        .expect("response");
    assert_eq!(
        response.status(),
        StatusCode::from_u16(424).expect("status")
    );
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "ModelErrorException"
    );
    let body: Value = serde_json::from_slice(
        &to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body"),
    )
    .expect("json error body");
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("upstream connection closed")));
}

#[tokio::test]
async fn operations_basalt_lacks_answer_not_implemented_naming_them() {
    let response = test_app()
        .oneshot(post(
            "/flows/",
            json!({"name": "f", "executionRoleArn": "arn:aws:iam::1:role/r"}),
        ))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(response.headers()["x-amzn-errortype"], "NotImplemented");
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    assert!(String::from_utf8_lossy(&body).contains("CreateFlow"));
}

#[tokio::test]
async fn paths_no_operation_has_answer_json_not_html() {
    let response = test_app()
        .oneshot(
            Request::get("/index.html")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    assert_eq!(response.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn count_tokens_reads_both_input_forms() {
    use base64::Engine as _;
    let converse = json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "one two three"}]}]}}});
    let anthropic = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                           "messages": [{"role": "user", "content": "one two three"}]});
    let invoke = json!({"input": {"invokeModel": {
        "body": base64::engine::general_purpose::STANDARD.encode(anthropic.to_string())}}});
    for request in [converse, invoke] {
        let response = test_app()
            .oneshot(post(
                "/model/anthropic.claude-3-haiku-20240307-v1:0/count-tokens",
                request,
            ))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = serde_json::from_slice(
            &to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body"),
        )
        .expect("json");
        assert_eq!(body["inputTokens"], 3);
    }
}
