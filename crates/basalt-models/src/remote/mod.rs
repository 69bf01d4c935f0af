//! Remote model servers behind the same traits as the local engine: OpenAI-compatible HTTP
//! (vLLM, llama.cpp server, Ollama, OpenAI, TGI), Anthropic's Messages API and Amazon Bedrock.
//!
//! [`Upstream`] is what they share: one pooled HTTP client per served model (keep-alive, HTTP/2
//! where the server offers it), a concurrency limit, retries with backoff on retryable answers
//! (429 honouring `Retry-After`, 5xx, refused connections) and the mapping of every failure to an
//! [`UpstreamFailure`]. API keys are read from the environment and never logged.

pub mod anthropic;
pub mod bedrock;
pub mod openai;
mod sse;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use basalt_types::StreamEvent;

use crate::{ModelError, ModelLimits, UpstreamFailure};

/// What every remote served model sets in its `[served.NAME]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// The server's API root, e.g. `http://127.0.0.1:8000/v1` for vLLM. Defaults to the public
    /// API of the provider: `https://api.openai.com/v1`, `https://api.anthropic.com`,
    /// `https://bedrock-runtime.{region}.amazonaws.com`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The model's name on that server.
    pub model: String,
    /// Shown by ListFoundationModels as what really answers; defaults to `model` at `base_url`.
    #[serde(default)]
    pub name: Option<String>,
    /// The environment variable that holds the API key (the key itself never goes in a file).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Seconds to wait for the answer to start, and between two streamed pieces of it.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    #[serde(default = "default_connect_timeout_s")]
    pub connect_timeout_s: f64,
    /// Requests in flight to this server at once; more answer ThrottlingException.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Extra attempts after a retryable failure (429, 5xx, connection refused).
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_context_length")]
    pub context_length: u32,
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
    /// Another served model that answers when this one fails with a retryable error before any
    /// output was sent.
    #[serde(default)]
    pub fallback: Option<String>,
    /// Vector length of an embedding model (`openai-embedding`; required there).
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// AWS region of a `bedrock` served model (default `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
}

fn default_timeout_s() -> f64 {
    60.0
}
fn default_connect_timeout_s() -> f64 {
    5.0
}
fn default_max_concurrency() -> usize {
    1024
}
fn default_retries() -> u32 {
    2
}
fn default_context_length() -> u32 {
    128_000
}
fn default_max_output_tokens() -> u32 {
    8192
}

impl RemoteConfig {
    pub fn display_name(&self) -> String {
        match (&self.name, &self.base_url) {
            (Some(name), _) => name.clone(),
            (None, Some(base_url)) => format!("{} at {base_url}", self.model),
            (None, None) => self.model.clone(),
        }
    }

    pub fn limits(&self) -> ModelLimits {
        ModelLimits {
            context_length: self.context_length,
            max_output_tokens: self.max_output_tokens,
        }
    }

    /// The API key from `api_key_env`; a named variable that is unset is a startup error.
    fn api_key(&self, served: &str) -> Result<Option<String>, ModelError> {
        let Some(var) = &self.api_key_env else {
            return Ok(None);
        };
        match std::env::var(var) {
            Ok(key) if !key.is_empty() => Ok(Some(key)),
            _ => Err(ModelError::Config(format!(
                "served model `{served}` reads its API key from ${var}, which is not set; export it or remove api_key_env"
            ))),
        }
    }
}

/// Longest wait a `Retry-After` may impose before basalt gives up on a retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// First backoff; doubled per attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(100);

/// One remote server as a served model talks to it.
pub(crate) struct Upstream {
    /// The served model's name in the catalog, for messages.
    pub(crate) served: String,
    pub(crate) base_url: String,
    pub(crate) api_key: Option<String>,
    client: reqwest::Client,
    /// `base_url` parsed once at start-up: a whole URL parse (host, IDNA) per request is
    /// measurable at thousands of requests per second.
    parsed_base_url: reqwest::Url,
    in_flight: Arc<Semaphore>,
    max_concurrency: usize,
    retries: u32,
    timeout: Duration,
}

/// A successful upstream answer and the concurrency slot it holds until dropped.
pub(crate) struct Answer {
    pub(crate) response: Response,
    pub(crate) permit: OwnedSemaphorePermit,
}

impl Upstream {
    /// `default_base_url` is the provider's public API, used when the catalog names none.
    pub(crate) fn new(
        served: &str,
        config: &RemoteConfig,
        default_base_url: &str,
    ) -> Result<Self, ModelError> {
        let timeout = seconds(config.timeout_s, "timeout_s", served)?;
        let client = reqwest::Client::builder()
            .connect_timeout(seconds(
                config.connect_timeout_s,
                "connect_timeout_s",
                served,
            )?)
            // Between two reads of a streamed body; a whole non-streamed call also gets a total.
            .read_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            // Model APIs do not redirect; following one would resend the body and the key.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()
            .map_err(|e| {
                ModelError::Config(format!("served model `{served}`: HTTP client: {e}"))
            })?;
        if config.max_concurrency == 0 {
            return Err(ModelError::Config(format!(
                "served model `{served}`: max_concurrency must be at least 1"
            )));
        }
        let base_url = config
            .base_url
            .as_deref()
            .unwrap_or(default_base_url)
            .trim_end_matches('/')
            .to_string();
        let parsed_base_url = match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                return Err(ModelError::Config(format!(
                    "served model `{served}`: base_url `{base_url}` is not an http(s) URL, e.g. http://127.0.0.1:8000/v1"
                )))
            }
        };
        Ok(Upstream {
            served: served.to_string(),
            base_url,
            api_key: config.api_key(served)?,
            client,
            parsed_base_url,
            in_flight: Arc::new(Semaphore::new(config.max_concurrency)),
            max_concurrency: config.max_concurrency,
            retries: config.retries,
            timeout,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The URL of one of the provider's fixed paths: only the path is parsed.
    fn endpoint(&self, path: &str) -> reqwest::Url {
        let mut url = self.parsed_base_url.clone();
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    /// Sends the request `build` makes (afresh per attempt: signatures carry the time),
    /// retrying retryable failures, and
    /// returns the first 2xx answer. `whole` bounds the entire call (non-streamed answers);
    /// streamed answers are bounded per read instead.
    pub(crate) async fn send(
        &self,
        whole: bool,
        build: impl Fn(&reqwest::Client) -> Result<RequestBuilder, ModelError>,
    ) -> Result<Answer, ModelError> {
        let permit =
            self.in_flight
                .clone()
                .try_acquire_owned()
                .map_err(|_| ModelError::Throttled {
                    model: self.served.clone(),
                    queue_depth: self.max_concurrency,
                })?;
        let mut attempt = 0;
        loop {
            let mut request = build(&self.client)?;
            if whole {
                request = request.timeout(self.timeout);
            }
            let failure = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return Ok(Answer { response, permit })
                }
                Ok(response) => self.refusal(response).await,
                Err(error) => self.transport_failure(&error),
            };
            let retryable = matches!(
                failure.failure,
                UpstreamFailure::Throttled
                    | UpstreamFailure::Unavailable
                    | UpstreamFailure::NotReady
            );
            if !retryable || attempt >= self.retries {
                return Err(self.failed(failure));
            }
            let wait = failure
                .retry_after
                .unwrap_or_else(|| BASE_BACKOFF * 2u32.saturating_pow(attempt));
            if wait > MAX_RETRY_AFTER {
                return Err(self.failed(failure));
            }
            metrics::counter!("basalt_upstream_retries_total", "served" => self.served.clone())
                .increment(1);
            tracing::debug!(
                served = %self.served,
                attempt = attempt + 1,
                wait_ms = wait.as_millis() as u64,
                reason = %failure.message,
                "retrying upstream"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The error a failed call ends with, counted per served model and kind.
    fn failed(&self, failure: Failure) -> ModelError {
        count_failure(&self.served, failure.failure);
        failure.into_error()
    }

    /// A non-2xx answer as a failure, with the server's own message when it sent one.
    async fn refusal(&self, response: Response) -> Failure {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let body = response.text().await.unwrap_or_default();
        let detail = upstream_message(&body);
        let failure = match status {
            StatusCode::TOO_MANY_REQUESTS => UpstreamFailure::Throttled,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => UpstreamFailure::Unauthorized,
            StatusCode::SERVICE_UNAVAILABLE if detail.to_lowercase().contains("loading") => {
                UpstreamFailure::NotReady
            }
            s if s.is_server_error() => UpstreamFailure::Unavailable,
            _ => UpstreamFailure::Rejected,
        };
        let message = match failure {
            UpstreamFailure::Unauthorized => format!(
                "The model server for `{}` refused basalt's credentials ({status}); check the API key its catalog entry names in api_key_env.",
                self.served
            ),
            UpstreamFailure::Rejected => format!("The model server for `{}` rejected the request: {detail}", self.served),
            _ => format!("The model server for `{}` answered {status}: {detail}", self.served),
        };
        Failure {
            failure,
            message,
            retry_after,
        }
    }

    fn transport_failure(&self, error: &reqwest::Error) -> Failure {
        // reqwest's messages name the URL but never headers, so no key can leak through them.
        let (failure, message) = if error.is_timeout() {
            (
                UpstreamFailure::Timeout,
                format!(
                    "The model server for `{}` did not answer within {:.1} s.",
                    self.served,
                    self.timeout.as_secs_f64()
                ),
            )
        } else {
            (
                UpstreamFailure::Unavailable,
                format!(
                    "The model server for `{}` at {} cannot be reached: {}",
                    self.served,
                    self.base_url,
                    error_chain(error)
                ),
            )
        };
        Failure {
            failure,
            message,
            retry_after: None,
        }
    }

    /// POSTs `body` as JSON to `path` (see [`Upstream::send`]); `authorize` adds the provider's
    /// headers, given the API key when the catalog names one. The body is serialized once and
    /// shared by every attempt.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        whole: bool,
        authorize: impl Fn(RequestBuilder, Option<&str>) -> RequestBuilder,
    ) -> Result<Answer, ModelError> {
        let body = bytes::Bytes::from(
            serde_json::to_vec(body).map_err(|e| ModelError::Generation(e.to_string()))?,
        );
        let url = self.endpoint(path);
        let key = self.api_key.as_deref();
        self.send(whole, |client| {
            let request = client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            Ok(authorize(request, key))
        })
        .await
    }

    /// Describes failures of this server's answers; cheap to clone into a stream.
    pub(crate) fn reporter(&self) -> Reporter {
        Reporter {
            served: self.served.clone(),
            timeout: self.timeout,
        }
    }

    /// Reads a whole answer.
    pub(crate) async fn bytes(&self, answer: Answer) -> Result<bytes::Bytes, ModelError> {
        answer
            .response
            .bytes()
            .await
            .map_err(|e| self.reporter().body_failure(&e))
    }

    /// Reads a whole JSON answer.
    pub(crate) async fn json(&self, answer: Answer) -> Result<serde_json::Value, ModelError> {
        let bytes = self.bytes(answer).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.reporter().bad_answer(format!("not JSON ({e})")))
    }
}

/// Turns failures met while reading an answer into [`ModelError`]s naming the served model.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    served: String,
    timeout: Duration,
}

impl Reporter {
    /// A failure while reading a streamed or whole body after the answer started.
    pub(crate) fn body_failure(&self, error: &reqwest::Error) -> ModelError {
        if error.is_timeout() {
            count_failure(&self.served, UpstreamFailure::Timeout);
            return ModelError::Upstream {
                failure: UpstreamFailure::Timeout,
                message: format!(
                    "The model server for `{}` stopped sending for {:.1} s.",
                    self.served,
                    self.timeout.as_secs_f64()
                ),
            };
        }
        self.bad_answer(format!("the answer was cut off: {}", error_chain(error)))
    }

    pub(crate) fn bad_answer(&self, what: impl std::fmt::Display) -> ModelError {
        count_failure(&self.served, UpstreamFailure::BadAnswer);
        ModelError::Upstream {
            failure: UpstreamFailure::BadAnswer,
            message: format!(
                "The model server for `{}` sent a bad answer: {what}",
                self.served
            ),
        }
    }
}

/// `stream`, holding the concurrency slot of the answer it reads until it ends or is dropped.
pub(crate) fn hold_slot<S: futures::Stream + Send + 'static>(
    permit: OwnedSemaphorePermit,
    stream: S,
) -> impl futures::Stream<Item = S::Item> + Send + 'static {
    use futures::StreamExt;
    stream.map(move |item| {
        let _held = &permit;
        item
    })
}

struct Failure {
    failure: UpstreamFailure,
    message: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn into_error(self) -> ModelError {
        ModelError::Upstream {
            failure: self.failure,
            message: self.message,
        }
    }
}

/// Folds an upstream's stream of pieces (SSE events, event-stream frames) into Converse stream
/// events. `step` turns one piece into events and says whether the answer is complete; the
/// first error ends the stream, and a stream that stops before `step` said complete ends with
/// `cut_short`'s error, never as a quietly truncated answer.
pub(crate) fn fold_stream<T: Send + 'static>(
    pieces: impl futures::Stream<Item = Result<T, ModelError>> + Send + 'static,
    mut step: impl FnMut(T) -> Result<(Vec<StreamEvent>, bool), ModelError> + Send + 'static,
    cut_short: impl Fn() -> ModelError + Send + 'static,
) -> impl futures::Stream<Item = Result<StreamEvent, ModelError>> + Send {
    use futures::StreamExt;
    let mut finished = false;
    pieces
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .flat_map(move |piece| {
            let out: Vec<Result<StreamEvent, ModelError>> = match piece {
                _ if finished => Vec::new(),
                Some(Ok(piece)) => match step(piece) {
                    Ok((events, complete)) => {
                        finished = complete;
                        events.into_iter().map(Ok).collect()
                    }
                    Err(e) => {
                        finished = true;
                        vec![Err(e)]
                    }
                },
                Some(Err(e)) => {
                    finished = true;
                    vec![Err(e)]
                }
                None => {
                    finished = true;
                    vec![Err(cut_short())]
                }
            };
            futures::stream::iter(out)
        })
}

/// `basalt_upstream_errors_total{served, failure}` for Prometheus.
fn count_failure(served: &str, failure: UpstreamFailure) {
    let failure = match failure {
        UpstreamFailure::Throttled => "throttled",
        UpstreamFailure::Timeout => "timeout",
        UpstreamFailure::NotReady => "not_ready",
        UpstreamFailure::Unavailable => "unavailable",
        UpstreamFailure::BadAnswer => "bad_answer",
        UpstreamFailure::Rejected => "rejected",
        UpstreamFailure::Unauthorized => "unauthorized",
    };
    metrics::counter!("basalt_upstream_errors_total", "served" => served.to_string(), "failure" => failure)
        .increment(1);
}

fn seconds(value: f64, field: &str, served: &str) -> Result<Duration, ModelError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ModelError::Config(format!(
                "served model `{served}`: {field} must be a positive number of seconds, got {value}"
            ))
        })
}

/// The human part of an error body: OpenAI's and Anthropic's `error.message`, Bedrock's
/// `message`, or the start of the text.
fn upstream_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("Message"))
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("detail").filter(|e| e.is_string()))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    });
    let text = message.unwrap_or_else(|| body.trim().to_string());
    if text.is_empty() {
        return "no details".into();
    }
    text.chars().take(500).collect()
}

/// An error and its causes on one line ("error sending request: connection refused").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn upstream_messages_come_from_the_usual_error_shapes() {
        assert_eq!(
            upstream_message(r#"{"error": {"message": "model not found", "type": "x"}}"#),
            "model not found"
        );
        assert_eq!(
            upstream_message(r#"{"message": "Too many tokens"}"#),
            "Too many tokens"
        );
        assert_eq!(upstream_message(r#"{"detail": "Not Found"}"#), "Not Found");
        assert_eq!(upstream_message("  plain text  "), "plain text");
        assert_eq!(upstream_message(""), "no details");
        assert_eq!(upstream_message(&"x".repeat(900)).len(), 500);
    }

    #[test]
    fn settings_are_checked() {
        let config: RemoteConfig =
            toml::from_str("base_url = \"http://127.0.0.1:1/v1/\"\nmodel = \"m\"\ntimeout_s = 0\n")
                .unwrap();
        assert!(Upstream::new("x", &config, "http://default").is_err());
        let config: RemoteConfig = toml::from_str(
            "base_url = \"http://127.0.0.1:1/v1/\"\nmodel = \"m\"\napi_key_env = \"BASALT_TEST_UNSET_KEY_VAR\"\n",
        )
        .unwrap();
        let err = Upstream::new("x", &config, "http://default")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("$BASALT_TEST_UNSET_KEY_VAR"), "{err}");
        let config: RemoteConfig =
            toml::from_str("base_url = \"http://127.0.0.1:1/v1/\"\nmodel = \"m\"\n").unwrap();
        let upstream = Upstream::new("x", &config, "http://default").unwrap();
        assert_eq!(
            upstream.url("/chat/completions"),
            "http://127.0.0.1:1/v1/chat/completions"
        );
        let endpoint = upstream.endpoint("/chat/completions");
        assert_eq!(endpoint.as_str(), "http://127.0.0.1:1/v1/chat/completions");
        assert_eq!(upstream.endpoint("/chat/completions"), endpoint);
        assert_eq!(upstream.endpoint("/embeddings").path(), "/v1/embeddings");
        let config: RemoteConfig =
            toml::from_str("base_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n").unwrap();
        let bare = Upstream::new("x", &config, "http://default").unwrap();
        assert_eq!(
            bare.endpoint("/v1/messages").as_str(),
            "http://127.0.0.1:1/v1/messages"
        );
        for bad in ["127.0.0.1:8000/v1", "ftp://host/v1", "not a url"] {
            let config: RemoteConfig =
                toml::from_str(&format!("base_url = \"{bad}\"\nmodel = \"m\"\n")).unwrap();
            let err = Upstream::new("x", &config, "http://default")
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("not an http(s) URL"), "{bad}: {err}");
        }
        assert!(
            toml::from_str::<RemoteConfig>("base_url = \"u\"\nmodel = \"m\"\nkey = \"k\"\n")
                .is_err()
        );
    }
}
