//! AWS errors as a table: each [`AwsErrorCode`] row is the `x-amzn-ErrorType` name an SDK matches
//! on and the HTTP status Bedrock answers with. Statuses come from the `"error": {"httpStatusCode"}`
//! traits of the error shapes in botocore's `bedrock-runtime` and `bedrock` service models; the
//! signature errors follow the AWS common-errors pages. Where the four Bedrock services disagree
//! (bedrock-agent sends `ConflictException` as 409 and `ServiceQuotaExceededException` as 402),
//! the row holds the runtime/control-plane status and the caller overrides it with
//! [`AwsError::with_status`].
//!
//! The rest-json error body is `{"message": "..."}`: botocore's `RestJSONParser` takes the code from
//! the `x-amzn-ErrorType` header (cut at the first `:`) and the message from `message`, and
//! aws-sdk-rust reads the same header and member.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value};

/// Generates [`AwsErrorCode`] and its table from one list of `Variant => status` rows, so a row
/// cannot exist without a status.
macro_rules! aws_error_codes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal, $status:literal;)+) => {
        /// An AWS error type, as sent in `x-amzn-ErrorType`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AwsErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl AwsErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [AwsErrorCode] = &[$(AwsErrorCode::$variant,)+];

            /// The name SDKs match on (`x-amzn-ErrorType`, `e.response['Error']['Code']`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(AwsErrorCode::$variant => $name,)+
                }
            }

            /// The HTTP status Bedrock answers this error with.
            pub fn status(self) -> StatusCode {
                let code: u16 = match self {
                    $(AwsErrorCode::$variant => $status,)+
                };
                // Every literal in the table is a valid status; the fallback is unreachable.
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    };
}

aws_error_codes! {
    ValidationException => "ValidationException", 400;
    AccessDeniedException => "AccessDeniedException", 403;
    ResourceNotFoundException => "ResourceNotFoundException", 404;
    /// bedrock control plane: the resource is used by another resource.
    ResourceInUseException => "ResourceInUseException", 400;
    ThrottlingException => "ThrottlingException", 429;
    /// 400 in bedrock-runtime/bedrock/bedrock-agent-runtime, 402 in bedrock-agent.
    ServiceQuotaExceededException => "ServiceQuotaExceededException", 400;
    /// 400 in bedrock-runtime/bedrock, 409 in bedrock-agent and bedrock-agent-runtime.
    ConflictException => "ConflictException", 400;
    TooManyTagsException => "TooManyTagsException", 400;
    InternalServerException => "InternalServerException", 500;
    ModelTimeoutException => "ModelTimeoutException", 408;
    /// 429 in bedrock-runtime, 424 in bedrock-agent-runtime.
    ModelNotReadyException => "ModelNotReadyException", 429;
    ModelErrorException => "ModelErrorException", 424;
    ModelStreamErrorException => "ModelStreamErrorException", 424;
    /// bedrock-agent-runtime: a resource the agent depends on failed.
    DependencyFailedException => "DependencyFailedException", 424;
    /// bedrock-agent-runtime: a downstream service answered badly.
    BadGatewayException => "BadGatewayException", 502;
    ServiceUnavailableException => "ServiceUnavailableException", 503;
    /// Unknown access key id.
    UnrecognizedClientException => "UnrecognizedClientException", 403;
    InvalidSignatureException => "InvalidSignatureException", 403;
    /// Malformed `Authorization` header or presigned query.
    IncompleteSignatureException => "IncompleteSignatureException", 400;
    MissingAuthenticationTokenException => "MissingAuthenticationTokenException", 403;
    /// No operation is bound to this method and path.
    UnknownOperationException => "UnknownOperationException", 404;
    /// The operation exists in Bedrock but basalt does not implement it yet.
    NotImplemented => "NotImplemented", 501;
    RequestEntityTooLarge => "RequestEntityTooLargeException", 413;
}

impl AwsErrorCode {
    /// Looks a code up by its `x-amzn-ErrorType` name (anything after a `:` is ignored, as
    /// botocore does).
    pub fn from_name(name: &str) -> Option<AwsErrorCode> {
        let name = name.split(':').next().unwrap_or(name);
        AwsErrorCode::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// The member name of this error in an event-stream union (`modelStreamErrorException`),
    /// which is what `:exception-type` carries in a response stream.
    pub fn stream_exception_name(self) -> String {
        let name = self.name();
        let mut chars = name.chars();
        match chars.next() {
            Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
            None => String::new(),
        }
    }
}

impl std::fmt::Display for AwsErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An AWS error ready to be sent: a code, a message, the status (the code's unless overridden)
/// and any extra members of the error shape (`originalStatusCode`, `resourceName`, ...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub code: AwsErrorCode,
    pub message: String,
    status: StatusCode,
    members: Map<String, Value>,
}

impl AwsError {
    pub fn new(code: AwsErrorCode, message: impl Into<String>) -> Self {
        AwsError {
            code,
            message: message.into(),
            status: code.status(),
            members: Map::new(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ValidationException, message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::AccessDeniedException, message)
    }
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ResourceNotFoundException, message)
    }
    pub fn resource_in_use(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ResourceInUseException, message)
    }
    pub fn throttling(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ThrottlingException, message)
    }
    pub fn service_quota_exceeded(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ServiceQuotaExceededException, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ConflictException, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::InternalServerException, message)
    }
    pub fn model_timeout(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ModelTimeoutException, message)
    }
    pub fn model_not_ready(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ModelNotReadyException, message)
    }
    pub fn model_error(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ModelErrorException, message)
    }
    pub fn model_stream_error(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ModelStreamErrorException, message)
    }
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::ServiceUnavailableException, message)
    }
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::UnknownOperationException, message)
    }
    /// An operation Bedrock has and basalt does not implement yet.
    pub fn not_implemented(operation: &str) -> Self {
        Self::new(
            AwsErrorCode::NotImplemented,
            format!("The operation {operation} is not implemented by basalt."),
        )
    }
    pub fn request_entity_too_large(message: impl Into<String>) -> Self {
        Self::new(AwsErrorCode::RequestEntityTooLarge, message)
    }

    /// Overrides the table's status, for the services that send a code with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a member of the error shape beside `message` (e.g. `originalStatusCode` of
    /// `ModelErrorException`). A member named `message` is ignored.
    pub fn with_member(mut self, name: &str, value: impl Into<Value>) -> Self {
        if name != "message" {
            self.members.insert(name.to_owned(), value.into());
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body: `{"message": ..., <members>}`.
    pub fn body_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("message".to_owned(), Value::String(self.message.clone()));
        for (name, value) in &self.members {
            body.insert(name.clone(), value.clone());
        }
        Value::Object(body)
    }

    /// The rest-json error response: status, headers (`x-amzn-ErrorType`, `x-amzn-RequestId`,
    /// `Content-Type`) and body. A request id that is not a valid header value is left out.
    pub fn into_http_parts(
        self,
        request_id: &str,
    ) -> (StatusCode, Vec<(HeaderName, HeaderValue)>, Bytes) {
        let mut headers = vec![
            (
                HeaderName::from_static("x-amzn-errortype"),
                HeaderValue::from_static(self.code.name()),
            ),
            (
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ];
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.push((HeaderName::from_static("x-amzn-requestid"), id));
        }
        let body = Bytes::from(self.body_json().to_string());
        (self.status, headers, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn header<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for code in AwsErrorCode::ALL {
            assert!(seen.insert(code.name()), "duplicate name {}", code.name());
            assert_eq!(AwsErrorCode::from_name(code.name()), Some(*code));
        }
        assert_eq!(
            AwsErrorCode::from_name("ValidationException:http://internal.amazon.com/coral/"),
            Some(AwsErrorCode::ValidationException)
        );
        assert_eq!(AwsErrorCode::from_name("NoSuchThing"), None);
    }

    #[test]
    fn statuses_match_the_bedrock_models() {
        use AwsErrorCode::*;
        // From bedrock-runtime 2023-09-30 / bedrock 2023-04-20 service-2.json error traits.
        let expected = [
            (ValidationException, 400),
            (AccessDeniedException, 403),
            (ResourceNotFoundException, 404),
            (ThrottlingException, 429),
            (ServiceQuotaExceededException, 400),
            (ConflictException, 400),
            (InternalServerException, 500),
            (ModelTimeoutException, 408),
            (ModelNotReadyException, 429),
            (ModelErrorException, 424),
            (ModelStreamErrorException, 424),
            (ServiceUnavailableException, 503),
            (MissingAuthenticationTokenException, 403),
            (NotImplemented, 501),
            (RequestEntityTooLarge, 413),
        ];
        for (code, status) in expected {
            assert_eq!(code.status().as_u16(), status, "{code}");
        }
    }

    #[test]
    fn stream_exception_name_is_lower_camel() {
        assert_eq!(
            AwsErrorCode::ModelStreamErrorException.stream_exception_name(),
            "modelStreamErrorException"
        );
        assert_eq!(
            AwsErrorCode::ValidationException.stream_exception_name(),
            "validationException"
        );
    }

    #[test]
    fn http_parts_are_rest_json() {
        let (status, headers, body) =
            AwsError::validation("Malformed input request: \"x\"").into_http_parts("req-1");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            header(&headers, "x-amzn-errortype"),
            Some("ValidationException")
        );
        assert_eq!(header(&headers, "x-amzn-requestid"), Some("req-1"));
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&body).expect("json body");
        assert_eq!(
            body,
            serde_json::json!({"message": "Malformed input request: \"x\""})
        );
    }

    #[test]
    fn status_override_and_members() {
        let err = AwsError::conflict("busy")
            .with_status(StatusCode::CONFLICT)
            .with_member("resourceName", "kb-1")
            .with_member("message", "ignored");
        assert_eq!(err.status(), StatusCode::CONFLICT);
        let (status, headers, body) = err.into_http_parts("not\nvalid");
        assert_eq!(status.as_u16(), 409);
        assert_eq!(header(&headers, "x-amzn-requestid"), None);
        let body: Value = serde_json::from_slice(&body).expect("json body");
        assert_eq!(
            body,
            serde_json::json!({"message": "busy", "resourceName": "kb-1"})
        );
    }

    #[test]
    fn not_implemented_names_the_operation() {
        let err = AwsError::not_implemented("CreateModelCopyJob");
        assert_eq!(err.status().as_u16(), 501);
        assert!(err.message.contains("CreateModelCopyJob"));
        assert_eq!(err.to_string(), format!("NotImplemented: {}", err.message));
    }
}
