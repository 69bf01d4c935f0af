use axum::response::{IntoResponse, Response};
use basalt_models::{ModelError, UpstreamFailure};
use basalt_wire::{AwsError, AwsErrorCode};

/// An error on its way to the client, always in AWS's shape.
#[derive(Debug)]
pub struct ApiError(pub AwsError);

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError(AwsError::new(AwsErrorCode::ValidationException, message))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError(AwsError::new(
            AwsErrorCode::ResourceNotFoundException,
            message,
        ))
    }

    /// A service that needs the metadata store, on a server started without one.
    pub fn no_metadata_store() -> Self {
        ApiError(AwsError::new(
            AwsErrorCode::InternalServerException,
            "this server was started without a metadata store",
        ))
    }

    /// A failure inside the server (the metadata store, an index, a file): what went wrong is
    /// logged with an error id, and the client gets only the id, never paths or driver text.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let error_id = uuid::Uuid::new_v4();
        tracing::error!(%error_id, error = %detail, "internal error");
        ApiError(AwsError::new(
            AwsErrorCode::InternalServerException,
            format!(
                "basalt hit an internal error (error id {error_id}); the server log has the details."
            ),
        ))
    }
}

impl From<AwsError> for ApiError {
    fn from(error: AwsError) -> Self {
        ApiError(error)
    }
}

/// An operation of a generated service trait that basalt has not written yet.
impl From<basalt_api::NotImplemented> for ApiError {
    fn from(missing: basalt_api::NotImplemented) -> Self {
        ApiError(AwsError::new(
            AwsErrorCode::NotImplemented,
            format!(
                "basalt does not implement {} yet. See `basalt coverage` for the operations it serves.",
                missing.0
            ),
        ))
    }
}

impl ApiError {
    /// Why a generated `dispatch` gave no answer. The input was bound and validated against the
    /// model first, so a decode failure is a value the model allows but the types cannot hold.
    pub fn from_dispatch(failure: basalt_api::Dispatch<ApiError>) -> Self {
        use basalt_api::Dispatch;
        match failure {
            Dispatch::Service(error) => error,
            Dispatch::Decode(error) => {
                ApiError::validation(format!("Malformed input request: {error}"))
            }
            Dispatch::Encode(error) => {
                tracing::error!(%error, "an answer could not be written as JSON");
                ApiError(AwsError::new(
                    AwsErrorCode::InternalServerException,
                    "The answer could not be encoded.",
                ))
            }
            Dispatch::UnknownOperation => ApiError(AwsError::new(
                AwsErrorCode::InternalServerException,
                "The route table sent an operation its service trait does not serve.",
            )),
        }
    }
}

/// bedrock-agent's errors; its ConflictException is a 409.
impl From<basalt_knowledge_bases::KnowledgeBaseError> for ApiError {
    fn from(error: basalt_knowledge_bases::KnowledgeBaseError) -> Self {
        use basalt_knowledge_bases::KnowledgeBaseError;
        let message = error.to_string();
        ApiError(match error {
            KnowledgeBaseError::Validation(_) => {
                AwsError::new(AwsErrorCode::ValidationException, message)
            }
            KnowledgeBaseError::NotFound(_) => {
                AwsError::new(AwsErrorCode::ResourceNotFoundException, message)
            }
            KnowledgeBaseError::Conflict(_) => {
                AwsError::new(AwsErrorCode::ConflictException, message)
                    .with_status(http::StatusCode::CONFLICT)
            }
            KnowledgeBaseError::Store(_) => return ApiError::internal(message),
            KnowledgeBaseError::Model(model_error) => return ApiError::from(model_error),
            KnowledgeBaseError::Guardrail(guardrail_error) => {
                return ApiError::from(guardrail_error)
            }
            KnowledgeBaseError::Index(basalt_kb::KbError::Validation { .. }) => {
                AwsError::new(AwsErrorCode::ValidationException, message)
            }
            KnowledgeBaseError::Index(_) | KnowledgeBaseError::Internal(_) => {
                return ApiError::internal(message)
            }
        })
    }
}

/// Guardrail errors; `bedrock` sends ConflictException and TooManyTagsException as 400.
impl From<basalt_guardrails::GuardrailError> for ApiError {
    fn from(error: basalt_guardrails::GuardrailError) -> Self {
        use basalt_guardrails::GuardrailError;
        let message = error.to_string();
        let code = match error {
            GuardrailError::Validation(_) => AwsErrorCode::ValidationException,
            GuardrailError::NotFound(_) => AwsErrorCode::ResourceNotFoundException,
            GuardrailError::Conflict(_) => AwsErrorCode::ConflictException,
            GuardrailError::TooManyTags(_) => AwsErrorCode::TooManyTagsException,
            GuardrailError::Model(model_error) => return ApiError::from(model_error),
            GuardrailError::Store(_)
            | GuardrailError::Embedding(_)
            | GuardrailError::Internal(_) => return ApiError::internal(message),
        };
        ApiError(AwsError::new(code, message))
    }
}

/// The model pipeline's errors are its model's or its guardrail's.
impl From<basalt_pipeline::PipelineError> for ApiError {
    fn from(error: basalt_pipeline::PipelineError) -> Self {
        use basalt_pipeline::PipelineError;
        match error {
            PipelineError::Model(e) => ApiError::from(e),
            PipelineError::Guardrail(e) => ApiError::from(e),
            e @ PipelineError::NoGuardrails(_) => ApiError(AwsError::new(
                AwsErrorCode::InternalServerException,
                e.to_string(),
            )),
        }
    }
}

/// The one place domain errors meet AWS error codes. No wildcard: a new variant needs a row.
impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        let code = match &error {
            ModelError::UnknownModel(_)
            | ModelError::NotServed { .. }
            | ModelError::Validation(_)
            | ModelError::Codec(_)
            | ModelError::ContextWindowExceeded { .. } => AwsErrorCode::ValidationException,
            ModelError::NotFound(_) => AwsErrorCode::ResourceNotFoundException,
            ModelError::Throttled { .. } => AwsErrorCode::ThrottlingException,
            ModelError::Generation(_) => AwsErrorCode::ModelErrorException,
            ModelError::Config(_) => return ApiError::internal(error),
            ModelError::Upstream { failure, .. } => match failure {
                UpstreamFailure::Throttled => AwsErrorCode::ThrottlingException,
                UpstreamFailure::Timeout => AwsErrorCode::ModelTimeoutException,
                UpstreamFailure::NotReady => AwsErrorCode::ModelNotReadyException,
                UpstreamFailure::Unavailable => AwsErrorCode::ServiceUnavailableException,
                UpstreamFailure::BadAnswer => AwsErrorCode::ModelErrorException,
                UpstreamFailure::Rejected => AwsErrorCode::ValidationException,
                UpstreamFailure::Unauthorized => AwsErrorCode::InternalServerException,
            },
        };
        ApiError(AwsError::new(code, error.to_string()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        if self.0.code.status().is_server_error() {
            tracing::warn!(code = self.0.code.name(), message = %self.0.message, "request failed");
        } else {
            tracing::debug!(code = self.0.code.name(), message = %self.0.message, "request rejected");
        }
        let (status, headers, body) = self.0.into_http_parts(&request_id);
        let mut response = (status, body).into_response();
        for (name, value) in headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_knowledge_bases::KnowledgeBaseError;

    #[test]
    fn internal_failures_reach_the_client_as_an_error_id_only() {
        let ApiError(error) = ApiError::from(KnowledgeBaseError::Internal(
            "opening the index: /srv/basalt/knowledge-bases/KB1: Permission denied".into(),
        ));
        assert_eq!(error.code, AwsErrorCode::InternalServerException);
        assert!(!error.message.contains("/srv/basalt"), "{}", error.message);
        assert!(error.message.contains("error id"), "{}", error.message);
        // The caller's own mistakes keep their words.
        let ApiError(error) = ApiError::from(KnowledgeBaseError::Validation("name is bad".into()));
        assert_eq!(error.message, "name is bad");
    }
}
