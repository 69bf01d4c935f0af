//! `GET /metrics` in Prometheus' text format, and the per-request HTTP metrics.
//!
//! Crates record through the `metrics` facade (the domain counts tokens and upstream errors
//! without knowing who reads them); this module installs the Prometheus recorder once per
//! process and renders it. Request latency is time to the response head: for streams, the time
//! to the first byte.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

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

/// How often histogram samples are folded into their buckets. The recorder keeps every sample
/// until then, so without this a server nobody scrapes would grow by ~24 bytes per request.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

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
                Ok(()) => {
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(_) => {
                    tracing::warn!("another metrics recorder is installed; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// A plain thread rather than a task: the recorder may be installed before any runtime runs.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the metrics upkeep thread; histograms are folded only when /metrics is read");
    }
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
    let handles = RequestMetrics::of(operation, response.status().as_u16());
    handles.count.increment(1);
    handles.duration.record(started.elapsed().as_secs_f64());
    response
}

/// The counter and histogram of one (operation, status), registered on first use: building a
/// labelled key and looking it up in the registry per request is a gateway's hot path.
struct RequestMetrics {
    count: metrics::Counter,
    duration: metrics::Histogram,
}

impl RequestMetrics {
    fn of(operation: &'static str, status: u16) -> &'static RequestMetrics {
        type Registered = HashMap<(&'static str, u16), &'static RequestMetrics>;
        static ALL: OnceLock<RwLock<Registered>> = OnceLock::new();
        let all = ALL.get_or_init(Default::default);
        if let Some(handles) = all
            .read()
            .ok()
            .and_then(|m| m.get(&(operation, status)).copied())
        {
            return handles;
        }
        let mut all = all.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Leaked once per pair: operations and statuses are both small fixed sets.
        all.entry((operation, status)).or_insert_with(|| {
            Box::leak(Box::new(RequestMetrics {
                count: metrics::counter!("basalt_requests_total", "operation" => operation, "status" => status.to_string()),
                duration: metrics::histogram!("basalt_request_duration_seconds", "operation" => operation),
            }))
        })
    }
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
