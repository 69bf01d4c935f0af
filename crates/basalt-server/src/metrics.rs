//! `GET /metrics` in Prometheus' text format, and the per-request HTTP metrics.
//!
//! Crates record through the `metrics` facade (the domain counts tokens and upstream errors
//! without knowing who reads them); this module installs the Prometheus recorder once per
//! process and renders it. Request latency is time to the response head: for streams, the time
//! to the first byte.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The operation a response answered, set by the handler that knew it (AWS operations are
/// resolved inside the entry, not by the router).
#[derive(Debug, Clone, Copy)]
pub struct Operation(pub &'static str);

/// Seconds; from sub-millisecond gateway hops to minutes-long local generations.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder on first use. `None` when another recorder was installed
/// first (an embedding application's own): metrics then go there.
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(_) => {
                    tracing::warn!("another metrics recorder is installed; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Makes sure the recorder exists before the first request records anything.
pub fn install() {
    let _ = handle();
}

/// `GET /metrics`.
pub async fn render() -> Response {
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Counts every request and times it, labelled by operation and status.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = fixed_route(request.uri().path());
    let response = next.run(request).await;
    let operation = response
        .extensions()
        .get::<Operation>()
        .map_or(route, |o| o.0);
    let status = response.status().as_u16().to_string();
    metrics::counter!("basalt_requests_total", "operation" => operation, "status" => status)
        .increment(1);
    metrics::histogram!("basalt_request_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A label for the request's path from a fixed set, so label cardinality stays bounded.
fn fixed_route(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "openai.chat.completions",
        "/v1/embeddings" => "openai.embeddings",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        p if p.starts_with("/v1/models") => "openai.models",
        p if p.starts_with("/v1/") => "openai.unknown",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_a_bounded_set_of_labels() {
        assert_eq!(fixed_route("/v1/models/abc"), "openai.models");
        assert_eq!(fixed_route("/v1/whatever"), "openai.unknown");
        assert_eq!(fixed_route("/model/x/converse"), "unknown");
    }
}
