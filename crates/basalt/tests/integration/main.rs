//! The official AWS SDK for Rust against the real `basalt` binary: code written for Bedrock must run
//! against basalt unchanged, so these tests only use the SDK as a Bedrock user would.
//!
//! Needs the local SmolLM2 model: `BASALT_MODELS_DIR` (what `make test` sets), else the default
//! `<data dir>/models`. Without it, run `basalt models fetch`.

mod server;

use aws_sdk_bedrockruntime::config::{
    timeout::TimeoutConfig, BehaviorVersion, Credentials, Region,
};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseOutput as ConverseResult,
    ConverseStreamOutput, InferenceConfiguration, Message, StopReason, TokenUsage,
};
use aws_sdk_bedrockruntime::Client;
use std::time::Duration;

use server::Server;

const CLAUDE: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
const QUESTION: &str = "What is the capital of France?";

/// A client configured the way a user points the SDK at a local endpoint: static keys, a region,
/// `endpoint_url`. Plain HTTP, so no TLS stack.
fn client(server: &Server) -> Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDBASALTTEST",
            "basalt-test-secret",
            None,
            None,
            "basalt-tests",
        ))
        .endpoint_url(server.endpoint())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        // A hung server fails the test instead of hanging CI.
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

fn user_message(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .expect("role and content are set")
}

fn greedy(max_tokens: i32) -> InferenceConfiguration {
    InferenceConfiguration::builder()
        .temperature(0.0)
        .max_tokens(max_tokens)
        .build()
}

async fn converse(client: &Client, model_id: &str, max_tokens: i32) -> ConverseOutput {
    client
        .converse()
        .model_id(model_id)
        .messages(user_message(QUESTION))
        .inference_config(greedy(max_tokens))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Converse {model_id}: {}",
                aws_sdk_bedrockruntime::error::DisplayErrorContext(e)
            )
        })
}

fn answer_text(output: &ConverseOutput) -> String {
    let Some(ConverseResult::Message(message)) = output.output() else {
        panic!("Converse output has no message: {output:?}");
    };
    assert_eq!(message.role(), &ConversationRole::Assistant);
    message
        .content()
        .iter()
        .filter_map(|block| block.as_text().ok())
        .map(String::as_str)
        .collect()
}

fn assert_usage_consistent(usage: &TokenUsage) {
    assert!(usage.input_tokens() > 0, "input tokens counted: {usage:?}");
    assert!(
        usage.output_tokens() > 0,
        "output tokens counted: {usage:?}"
    );
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens(),
        "{usage:?}"
    );
}

#[tokio::test]
async fn converse_greedy_answers_paris() {
    let Some(server) = Server::shared() else {
        return;
    };
    let _model = server::MODEL.lock().await;
    let output = converse(&client(&server), CLAUDE, 64).await;

    let text = answer_text(&output);
    assert!(text.contains("Paris"), "answer mentions Paris: {text:?}");
    assert_eq!(
        output.stop_reason(),
        &StopReason::EndTurn,
        "answer: {text:?}"
    );
    let usage = output.usage().expect("Converse returns usage");
    assert_usage_consistent(usage);
    assert!(
        output.metrics().is_some_and(|m| m.latency_ms() >= 0),
        "metrics: {:?}",
        output.metrics()
    );
}

#[tokio::test]
async fn converse_stream_matches_converse() {
    let Some(server) = Server::shared() else {
        return;
    };
    let client = client(&server);
    let _model = server::MODEL.lock().await;
    let expected = answer_text(&converse(&client, CLAUDE, 64).await);

    let mut stream = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_message(QUESTION))
        .inference_config(greedy(64))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "ConverseStream: {}",
                aws_sdk_bedrockruntime::error::DisplayErrorContext(e)
            )
        })
        .stream;

    let mut kinds = Vec::new();
    let mut text = String::new();
    let mut stop_reason = None;
    let mut usage = None;
    while let Some(event) = stream.recv().await.unwrap_or_else(|e| {
        panic!(
            "ConverseStream event: {}",
            aws_sdk_bedrockruntime::error::DisplayErrorContext(e)
        )
    }) {
        match &event {
            ConverseStreamOutput::MessageStart(start) => {
                assert_eq!(start.role(), &ConversationRole::Assistant);
                kinds.push("MessageStart");
            }
            ConverseStreamOutput::ContentBlockStart(_) => kinds.push("ContentBlockStart"),
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                assert_eq!(delta.content_block_index(), 0);
                match delta.delta() {
                    Some(ContentBlockDelta::Text(piece)) => text.push_str(piece),
                    other => panic!("text delta expected, got {other:?}"),
                }
                kinds.push("ContentBlockDelta");
            }
            ConverseStreamOutput::ContentBlockStop(stop) => {
                assert_eq!(stop.content_block_index(), 0);
                kinds.push("ContentBlockStop");
            }
            ConverseStreamOutput::MessageStop(stop) => {
                stop_reason = Some(stop.stop_reason().clone());
                kinds.push("MessageStop");
            }
            ConverseStreamOutput::Metadata(metadata) => {
                usage = metadata.usage().cloned();
                kinds.push("Metadata");
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    // Bedrock's order: one start, the deltas, the stops, then metadata last.
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "MessageStart",
            "ContentBlockDelta",
            "ContentBlockStop",
            "MessageStop",
            "Metadata"
        ],
        "event order"
    );
    assert_eq!(stop_reason, Some(StopReason::EndTurn));
    assert_eq!(
        text, expected,
        "streamed greedy text equals the Converse answer"
    );
    let usage = usage.expect("Metadata carries usage");
    assert_usage_consistent(&usage);
}

#[tokio::test]
async fn converse_max_tokens_stops_at_the_limit() {
    let Some(server) = Server::shared() else {
        return;
    };
    let _model = server::MODEL.lock().await;
    let output = converse(&client(&server), CLAUDE, 5).await;

    assert_eq!(
        output.stop_reason(),
        &StopReason::MaxTokens,
        "answer: {:?}",
        answer_text(&output)
    );
    let usage = output.usage().expect("Converse returns usage");
    assert_eq!(usage.output_tokens(), 5, "{usage:?}");
    assert_usage_consistent(usage);
    assert!(!answer_text(&output).is_empty());
}

#[tokio::test]
async fn converse_unknown_model_is_a_validation_exception() {
    let Some(server) = Server::shared() else {
        return;
    };
    let result = client(&server)
        .converse()
        .model_id("example.no-such-model-v1:0")
        .messages(user_message(QUESTION))
        .send()
        .await;

    let error = match result {
        Ok(output) => panic!("an unknown model id answered: {output:?}"),
        Err(e) => e.into_service_error(),
    };
    match &error {
        ConverseError::ValidationException(e) => {
            let message = e.message().unwrap_or_default();
            assert!(
                !message.is_empty(),
                "ValidationException has a message: {e:?}"
            );
        }
        other => panic!("ValidationException expected, got {other:?}"),
    }
}

#[tokio::test]
async fn invoke_model_anthropic_messages_body() {
    let Some(server) = Server::shared() else {
        return;
    };
    let body = serde_json::json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "temperature": 0,
        "messages": [{"role": "user", "content": QUESTION}],
    });
    let _model = server::MODEL.lock().await;
    let output = client(&server)
        .invoke_model()
        .model_id(CLAUDE)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(serde_json::to_vec(&body).expect("JSON body")))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "InvokeModel: {}",
                aws_sdk_bedrockruntime::error::DisplayErrorContext(e)
            )
        });

    assert_eq!(output.content_type(), "application/json");
    let response: serde_json::Value =
        serde_json::from_slice(output.body().as_ref()).expect("InvokeModel returns a JSON body");
    assert_eq!(response["type"], "message", "{response}");
    assert_eq!(response["role"], "assistant", "{response}");
    assert_eq!(response["content"][0]["type"], "text", "{response}");
    let text = response["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("Paris"), "answer mentions Paris: {response}");
    assert_eq!(response["stop_reason"], "end_turn", "{response}");
    assert!(
        response["usage"]["input_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{response}"
    );
    assert!(
        response["usage"]["output_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{response}"
    );
}

#[tokio::test]
async fn converse_accepts_a_foundation_model_arn() {
    let Some(server) = Server::shared() else {
        return;
    };
    let client = client(&server);
    // The SDK percent-encodes the ARN's `:` and `/` into one path segment; basalt has to decode it.
    let arn = format!("arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}");
    let _model = server::MODEL.lock().await;
    let by_arn = converse(&client, &arn, 64).await;
    let by_id = converse(&client, CLAUDE, 64).await;

    assert_eq!(
        answer_text(&by_arn),
        answer_text(&by_id),
        "the ARN reaches the same model"
    );
    assert!(answer_text(&by_arn).contains("Paris"));
}
