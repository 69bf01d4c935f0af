//! Fixed-latency fake of an OpenAI-compatible server: `POST /v1/chat/completions` waits
//! `--latency-ms` and answers one small fixed `chat.completion` (or, with `"stream": true`, the
//! same answer as SSE chunks ending in `data: [DONE]`). `GET /v1/models` lists the one model.
//! Nothing is parsed beyond looking for `"stream": true`, so the upstream's own cost stays tiny
//! and the same for every gateway in front of it.
//!
//! Usage: fake-upstream [--listen 127.0.0.1:9100] [--latency-ms 10] [--threads 1]

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;

const COMPLETION: &str = r#"{"id":"chatcmpl-fake","object":"chat.completion","created":1700000000,"model":"fake-model","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is the capital of France."},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":8,"total_tokens":28}}"#;

const STREAM: &str = concat!(
    r#"data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":"fake-model","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#, "\n\n",
    r#"data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":"fake-model","choices":[{"index":0,"delta":{"content":"Paris is the capital of France."},"finish_reason":null}]}"#, "\n\n",
    r#"data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":"fake-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#, "\n\n",
    r#"data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":"fake-model","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":8,"total_tokens":28}}"#, "\n\n",
    "data: [DONE]\n\n",
);

const MODELS: &str = r#"{"object":"list","data":[{"id":"fake-model","object":"model","created":1700000000,"owned_by":"bench"}]}"#;

fn wants_stream(body: &[u8]) -> bool {
    let key = b"\"stream\"";
    let Some(at) = body.windows(key.len()).position(|w| w == key) else {
        return false;
    };
    let rest: Vec<u8> = body[at + key.len()..]
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .take(5)
        .collect();
    rest.starts_with(b":true")
}

async fn chat(State(latency): State<Duration>, body: Bytes) -> Response {
    tokio::time::sleep(latency).await;
    if wants_stream(&body) {
        ([(CONTENT_TYPE, "text/event-stream")], STREAM).into_response()
    } else {
        ([(CONTENT_TYPE, "application/json")], COMPLETION).into_response()
    }
}

async fn models() -> Response {
    ([(CONTENT_TYPE, "application/json")], MODELS).into_response()
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listen: SocketAddr = arg(&args, "--listen", "127.0.0.1:9100")
        .parse()
        .expect("--listen HOST:PORT");
    let latency_ms: f64 = arg(&args, "--latency-ms", "10").parse().expect("--latency-ms N");
    let threads: usize = arg(&args, "--threads", "1").parse().expect("--threads N");
    let latency = Duration::from_secs_f64(latency_ms / 1000.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .with_state(latency);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .expect("bind")
            .tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
        eprintln!("fake-upstream on http://{listen} latency {latency_ms} ms, {threads} threads");
        axum::serve(listener, app).await.expect("serve");
    });
}
