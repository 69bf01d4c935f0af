//! bedrock-agent-runtime handlers: Retrieve, RetrieveAndGenerate (plain and streamed) and Rerank
//! over knowledge bases.

use std::sync::Arc;

use async_trait::async_trait;
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_guardrails::{GuardrailError, Guardrails, TextVerdict};
use basalt_knowledge_bases::{
    GenerationEvent, GenerationGuard, Grounding, GuardSource, GuardVerdict, KnowledgeBaseError,
};
use basalt_wire::{AwsError, AwsErrorCode};
use futures::StreamExt;

use crate::agent::knowledge_bases;
use crate::routes::Call;
use crate::stream::{event_stream_response_with, EncodedEvent};
use crate::{ApiError, AppState};

pub async fn retrieve(state: AppState, call: Call) -> Result<Response, ApiError> {
    let answer = knowledge_bases(&state)?.retrieve(&call.input).await?;
    Ok(Json(answer).into_response())
}

pub async fn retrieve_and_generate(state: AppState, call: Call) -> Result<Response, ApiError> {
    let answer = knowledge_bases(&state)?
        .retrieve_and_generate(&call.input, generation_guard(&state))
        .await
        .map_err(service_error)?;
    Ok(Json(answer).into_response())
}

pub async fn retrieve_and_generate_stream(
    state: AppState,
    call: Call,
) -> Result<Response, ApiError> {
    let generated = knowledge_bases(&state)?
        .retrieve_and_generate_stream(&call.input, generation_guard(&state))
        .await
        .map_err(service_error)?;
    let events = generated.events.map(|event| event.map_err(service_error));
    let mut response = event_stream_response_with(
        events,
        |event| {
            let (event_type, payload) = match event {
                GenerationEvent::Output(payload) => ("output", payload),
                GenerationEvent::Citation(payload) => ("citation", payload),
                GenerationEvent::Guardrail(payload) => ("guardrail", payload),
            };
            Ok(EncodedEvent {
                event_type,
                payload: payload.to_string().into_bytes(),
            })
        },
        stream_exception,
    );
    if let Ok(session) = http::HeaderValue::from_str(&generated.session_id) {
        response.headers_mut().insert(
            http::HeaderName::from_static("x-amzn-bedrock-knowledge-base-session-id"),
            session,
        );
    }
    Ok(response)
}

/// The guardrails service as RetrieveAndGenerate's guard (none without a metadata store).
fn generation_guard(state: &AppState) -> Option<Arc<dyn GenerationGuard>> {
    state
        .guardrails
        .clone()
        .map(|guardrails| Arc::new(StoredGuardrails(guardrails)) as Arc<dyn GenerationGuard>)
}

/// Guardrails from the store, applied to RetrieveAndGenerate's question and answer.
struct StoredGuardrails(Arc<Guardrails>);

#[async_trait]
impl GenerationGuard for StoredGuardrails {
    async fn check(
        &self,
        guardrail_id: &str,
        guardrail_version: &str,
        source: GuardSource,
        text: &str,
        grounding: Option<&Grounding>,
    ) -> Result<GuardVerdict, KnowledgeBaseError> {
        let grounding = grounding.map(|g| (g.source.as_str(), g.query.as_str()));
        let source = match source {
            GuardSource::Input => "INPUT",
            GuardSource::Output => "OUTPUT",
        };
        let verdict = self
            .0
            .check_text(guardrail_id, guardrail_version, source, text, grounding)
            .await
            .map_err(|e| match e {
                GuardrailError::Validation(m) => KnowledgeBaseError::Validation(m),
                GuardrailError::NotFound(m) => KnowledgeBaseError::NotFound(m),
                GuardrailError::Conflict(m) => KnowledgeBaseError::Conflict(m),
                GuardrailError::Store(e) => KnowledgeBaseError::Store(e),
                GuardrailError::Model(e) => KnowledgeBaseError::Model(e),
                other => KnowledgeBaseError::Internal(format!(
                    "applying guardrail {guardrail_id}: {other}"
                )),
            })?;
        Ok(match verdict {
            TextVerdict::Pass => GuardVerdict::Pass,
            TextVerdict::Blocked(message) => GuardVerdict::Blocked(message),
            TextVerdict::Masked(masked) => GuardVerdict::Masked(masked),
        })
    }
}

pub async fn rerank(state: AppState, call: Call) -> Result<Response, ApiError> {
    let answer = knowledge_bases(&state)?.rerank(&call.input)?;
    Ok(Json(answer).into_response())
}

/// bedrock-agent-runtime has no model exceptions: a model that fails is a dependency that
/// failed, as Bedrock reports it for RetrieveAndGenerate.
fn service_error(error: KnowledgeBaseError) -> ApiError {
    let ApiError(error) = ApiError::from(error);
    let code = match error.code {
        AwsErrorCode::ModelErrorException
        | AwsErrorCode::ModelStreamErrorException
        | AwsErrorCode::ModelTimeoutException
        | AwsErrorCode::ModelNotReadyException => AwsErrorCode::DependencyFailedException,
        AwsErrorCode::ServiceUnavailableException => AwsErrorCode::BadGatewayException,
        _ => return ApiError(error),
    };
    ApiError(AwsError::new(code, error.message))
}

/// The exceptions RetrieveAndGenerateStream's event union models; anything else is internal.
fn stream_exception(error: AwsError) -> AwsError {
    match error.code {
        AwsErrorCode::AccessDeniedException
        | AwsErrorCode::BadGatewayException
        | AwsErrorCode::ConflictException
        | AwsErrorCode::DependencyFailedException
        | AwsErrorCode::InternalServerException
        | AwsErrorCode::ResourceNotFoundException
        | AwsErrorCode::ServiceQuotaExceededException
        | AwsErrorCode::ThrottlingException
        | AwsErrorCode::ValidationException => error,
        _ => AwsError::new(AwsErrorCode::InternalServerException, error.message),
    }
}
