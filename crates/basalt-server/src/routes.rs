//! The route table: which Bedrock operations basalt implements, and the handler for each.
//! Everything else in the four service models answers `NotImplemented` naming the operation.

use std::future::Future;
use std::pin::Pin;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{agent, agent_runtime, bedrock, runtime, ApiError, AppState};

/// One operation call, bound and validated against the service model.
pub struct Call {
    /// The operation's name in its service model (`CreateKnowledgeBase`).
    pub operation: &'static str,
    /// The HTTP status of a successful answer, as the model says (202 for some bedrock-agent
    /// writes).
    pub status: u16,
    /// The request id and caller, handed to the domain.
    pub context: basalt_api::RequestContext,
    /// The operation's input shape as JSON: path labels, query, headers and body members.
    pub input: Value,
    /// The raw body when the operation's payload is a blob (InvokeModel's `body`).
    pub payload: Option<Bytes>,
}

impl Call {
    pub fn string(&self, member: &str) -> Result<String, ApiError> {
        self.input
            .get(member)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::validation(format!("{member} is required.")))
    }

    pub fn optional_string(&self, member: &str) -> Option<String> {
        self.input
            .get(member)
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The input, or one member of it, as a domain type; serde's complaint names the field.
    pub fn decode<T: DeserializeOwned>(&self, member: Option<&str>) -> Result<T, ApiError> {
        let value = match member {
            Some(name) => self.input.get(name).cloned().unwrap_or(Value::Null),
            None => self.input.clone(),
        };
        serde_json::from_value(value)
            .map_err(|e| ApiError::validation(format!("Malformed input request: {e}")))
    }
}

/// The answer of an operation served through its service trait: the encoded output with the
/// model's `responseCode` (202 where Bedrock answers 202), or the error.
pub(crate) fn answer(
    status: u16,
    output: Result<Value, basalt_api::Dispatch<ApiError>>,
) -> Result<Response, ApiError> {
    let output = output.map_err(ApiError::from_dispatch)?;
    let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    Ok((status, axum::Json(output)).into_response())
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>>;
pub type Handler = fn(AppState, Call) -> HandlerFuture;

macro_rules! handler {
    ($f:path) => {{
        fn call(state: AppState, call: Call) -> HandlerFuture {
            Box::pin($f(state, call))
        }
        call as Handler
    }};
}

/// Every bedrock-agent operation served goes through the generated trait's `dispatch`.
const AGENT: Handler = handler!(agent::operation);
const BEDROCK: Handler = handler!(bedrock::operation);
const RUNTIME: Handler = handler!(runtime::operation);
const AGENT_RUNTIME: Handler = handler!(agent_runtime::operation);

const ROUTES: &[(&str, &str, Handler)] = &[
    ("bedrock-runtime", "Converse", handler!(runtime::converse)),
    (
        "bedrock-runtime",
        "ConverseStream",
        handler!(runtime::converse_stream),
    ),
    (
        "bedrock-runtime",
        "InvokeModel",
        handler!(runtime::invoke_model),
    ),
    (
        "bedrock-runtime",
        "InvokeModelWithResponseStream",
        handler!(runtime::invoke_model_with_response_stream),
    ),
    ("bedrock-runtime", "CountTokens", RUNTIME),
    ("bedrock-runtime", "ApplyGuardrail", RUNTIME),
    ("bedrock", "ListFoundationModels", BEDROCK),
    ("bedrock", "GetFoundationModel", BEDROCK),
    ("bedrock", "ListInferenceProfiles", BEDROCK),
    ("bedrock", "GetInferenceProfile", BEDROCK),
    ("bedrock", "CreateGuardrail", BEDROCK),
    ("bedrock", "GetGuardrail", BEDROCK),
    ("bedrock", "UpdateGuardrail", BEDROCK),
    ("bedrock", "DeleteGuardrail", BEDROCK),
    ("bedrock", "ListGuardrails", BEDROCK),
    ("bedrock", "CreateGuardrailVersion", BEDROCK),
    ("bedrock", "ListTagsForResource", BEDROCK),
    ("bedrock", "TagResource", BEDROCK),
    ("bedrock", "UntagResource", BEDROCK),
    ("bedrock-agent", "CreateKnowledgeBase", AGENT),
    ("bedrock-agent", "GetKnowledgeBase", AGENT),
    ("bedrock-agent", "ListKnowledgeBases", AGENT),
    ("bedrock-agent", "UpdateKnowledgeBase", AGENT),
    ("bedrock-agent", "DeleteKnowledgeBase", AGENT),
    ("bedrock-agent", "CreateDataSource", AGENT),
    ("bedrock-agent", "GetDataSource", AGENT),
    ("bedrock-agent", "ListDataSources", AGENT),
    ("bedrock-agent", "UpdateDataSource", AGENT),
    ("bedrock-agent", "DeleteDataSource", AGENT),
    ("bedrock-agent", "StartIngestionJob", AGENT),
    ("bedrock-agent", "GetIngestionJob", AGENT),
    ("bedrock-agent", "ListIngestionJobs", AGENT),
    ("bedrock-agent", "StopIngestionJob", AGENT),
    ("bedrock-agent-runtime", "Retrieve", AGENT_RUNTIME),
    (
        "bedrock-agent-runtime",
        "RetrieveAndGenerate",
        AGENT_RUNTIME,
    ),
    (
        "bedrock-agent-runtime",
        "RetrieveAndGenerateStream",
        handler!(agent_runtime::retrieve_and_generate_stream),
    ),
];

pub fn handler(service: &str, operation: &str) -> Option<Handler> {
    ROUTES
        .iter()
        .find(|(s, o, _)| *s == service && *o == operation)
        .map(|(_, _, h)| *h)
}

/// `(service, operation)` pairs basalt implements, for the coverage report.
pub fn implemented_operations() -> impl Iterator<Item = (&'static str, &'static str)> {
    ROUTES.iter().map(|(s, o, _)| (*s, *o))
}
