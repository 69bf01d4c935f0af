//! The HTTP face of basalt: one axum app on one port for the four Bedrock services.
//!
//! Every AWS request takes the same path: SigV4 (`auth`), then the botocore service models
//! resolve the operation, bind and validate its input (`entry`), then the route table
//! (`routes`) calls one thin handler, which calls the domain and encodes its answer.
//! Domain errors become AWS errors in exactly one place (`error`).

mod agent;
mod agent_runtime;
mod auth;
mod bedrock;
mod entry;
mod error;
mod limits;
pub mod metrics;
mod openai;
mod routes;
mod runtime;
mod s3;
mod stream;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use axum::Router;
use basalt_guardrails::Guardrails;
use basalt_knowledge_bases::KnowledgeBases;
use basalt_models::BedrockRuntime;
use basalt_pipeline::ModelPipeline;
use basalt_s3::S3Store;

pub use auth::{AuthConfig, AuthMode, Credential};
pub use error::ApiError;
pub use limits::Limits;
pub use routes::implemented_operations;

/// Settings the server needs beyond the domain services.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub auth: AuthConfig,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Requests handled at once, and how long one may take.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth: AuthConfig::default(),
            max_body_bytes: 25 * 1024 * 1024,
            limits: Limits::default(),
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<AppInner>,
    objects: Option<Arc<S3Store>>,
    knowledge_bases: Option<KnowledgeBases>,
    guardrails: Option<Arc<Guardrails>>,
}

pub struct AppInner {
    /// Catalog, embeddings and CountTokens; model calls go through `pipeline`.
    pub runtime: Arc<BedrockRuntime>,
    /// Every model call: guarded when the request names a guardrail.
    pub pipeline: Arc<ModelPipeline>,
    pub config: ServerConfig,
}

impl AppState {
    /// Serves `pipeline`'s models; its guardrails (if any) guard the calls that name one.
    pub fn new(pipeline: Arc<ModelPipeline>, config: ServerConfig) -> Self {
        AppState {
            inner: Arc::new(AppInner {
                runtime: pipeline.runtime().clone(),
                pipeline,
                config,
            }),
            objects: None,
            knowledge_bases: None,
            guardrails: None,
        }
    }

    /// Serves bedrock-agent's knowledge-base operations from `knowledge_bases`. Without it, they
    /// answer InternalServerException saying there is no metadata store.
    pub fn with_knowledge_bases(mut self, knowledge_bases: KnowledgeBases) -> Self {
        self.knowledge_bases = Some(knowledge_bases);
        self
    }

    /// Serves the guardrail operations (the `bedrock` control plane and ApplyGuardrail) from
    /// `guardrails`. Without it, they answer InternalServerException saying there is no store.
    pub fn with_guardrails(mut self, guardrails: Arc<Guardrails>) -> Self {
        self.guardrails = Some(guardrails);
        self
    }

    /// Serves the S3 API subset (requests signed for `s3`) from `objects`. Without it, S3
    /// requests answer NotImplemented.
    pub fn with_objects(mut self, objects: Arc<S3Store>) -> Self {
        self.objects = Some(objects);
        self
    }

    /// The object store behind the S3 API, when there is one (knowledge-base data sources read it).
    pub fn objects(&self) -> Option<&Arc<S3Store>> {
        self.objects.as_ref()
    }
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.inner
    }
}

/// The whole application: our own endpoints first, then every AWS operation through `entry`.
pub fn app(state: AppState) -> Router {
    metrics::install();
    let limits = state.config.limits;
    let routes = Router::new()
        // OpenAI-compatible API (no Bedrock operation lives under /v1): errors in OpenAI's shape.
        .route(
            "/v1/chat/completions",
            post(openai::chat_completions).fallback(openai::method_not_allowed),
        )
        .route(
            "/v1/embeddings",
            post(openai::embeddings).fallback(openai::method_not_allowed),
        )
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{id}", get(openai::retrieve_model))
        .route("/v1/{*rest}", any(openai::unknown_endpoint))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .fallback(entry::aws_request);
    limits::apply(routes, limits)
        // Health and metrics stay reachable when the limits refuse everything else.
        .route("/metrics", get(metrics::render))
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

/// Serves the app on `listener` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
