//! bedrock-agent-runtime: Retrieve and RetrieveAndGenerate through the generated
//! `BedrockAgentRuntime` trait; RetrieveAndGenerateStream (an event stream) by hand.

use axum::response::Response;
use basalt_api::bedrock_agent_runtime::{self as api, BedrockAgentRuntime};
use basalt_api::RequestContext;
use basalt_knowledge_bases::{GenerationEvent, KnowledgeBaseError};
use basalt_wire::{AwsError, AwsErrorCode};
use futures::StreamExt;

use crate::agent::knowledge_bases;
use crate::routes::Call;
use crate::stream::{event_stream_response_with, EncodedEvent};
use crate::{ApiError, AppState};

/// The route-table handler for every bedrock-agent-runtime operation served through the trait.
pub async fn operation(state: AppState, call: Call) -> Result<Response, ApiError> {
    let service = AgentRuntime { state: &state };
    let output = api::dispatch(&service, &call.context, call.operation, call.input).await;
    crate::routes::answer(call.status, output)
}

struct AgentRuntime<'a> {
    state: &'a AppState,
}

impl BedrockAgentRuntime for AgentRuntime<'_> {
    type Error = ApiError;

    async fn retrieve(
        &self,
        _ctx: &RequestContext,
        input: api::RetrieveRequest,
    ) -> Result<api::RetrieveResponse, ApiError> {
        Ok(knowledge_bases(self.state)?.retrieve(input).await?)
    }

    async fn retrieve_and_generate(
        &self,
        _ctx: &RequestContext,
        input: api::RetrieveAndGenerateRequest,
    ) -> Result<api::RetrieveAndGenerateResponse, ApiError> {
        knowledge_bases(self.state)?
            .retrieve_and_generate(input)
            .await
            .map_err(service_error)
    }
}

pub async fn retrieve_and_generate_stream(
    state: AppState,
    call: Call,
) -> Result<Response, ApiError> {
    let input: api::RetrieveAndGenerateStreamRequest = call.decode(None)?;
    let generated = knowledge_bases(&state)?
        .retrieve_and_generate_stream(input)
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
