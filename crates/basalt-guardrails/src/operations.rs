//! The guardrail operations as typed calls: bedrock's control plane (Create/Get/Update/Delete/
//! ListGuardrails, CreateGuardrailVersion, the tag operations for guardrail ARNs) and
//! bedrock-runtime's ApplyGuardrail. Each takes the operation's generated input and returns its
//! output; the definition checks and stored documents (Bedrock's own shapes, as JSON in the
//! metadata store) are in `service.rs` and `definition.rs`.

use basalt_api::bedrock as api;
use basalt_api::bedrock_runtime as runtime_api;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::service::Guardrails;
use crate::{GuardrailError, Result};

impl Guardrails {
    pub async fn create_guardrail(
        &self,
        input: api::CreateGuardrailRequest,
    ) -> Result<api::CreateGuardrailResponse> {
        from_document(self.create_json(&to_document(&input)?).await?)
    }

    pub async fn get_guardrail(
        &self,
        input: api::GetGuardrailRequest,
    ) -> Result<api::GetGuardrailResponse> {
        let found = self
            .get_record(
                &input.guardrail_identifier,
                input.guardrail_version.as_deref(),
            )
            .await?;
        from_document(found)
    }

    pub async fn update_guardrail(
        &self,
        input: api::UpdateGuardrailRequest,
    ) -> Result<api::UpdateGuardrailResponse> {
        from_document(self.update_json(&to_document(&input)?).await?)
    }

    pub async fn delete_guardrail(
        &self,
        input: api::DeleteGuardrailRequest,
    ) -> Result<api::DeleteGuardrailResponse> {
        self.delete_record(
            &input.guardrail_identifier,
            input.guardrail_version.as_deref(),
        )
        .await?;
        Ok(api::DeleteGuardrailResponse::default())
    }

    pub async fn list_guardrails(
        &self,
        input: api::ListGuardrailsRequest,
    ) -> Result<api::ListGuardrailsResponse> {
        let max_results = input
            .max_results
            .map(|n| u32::try_from(n.clamp(1, 1000)).unwrap_or(1000));
        let page = self
            .list_record(
                input.guardrail_identifier.as_deref(),
                max_results,
                input.next_token.as_deref(),
            )
            .await?;
        Ok(api::ListGuardrailsResponse {
            guardrails: page
                .items
                .into_iter()
                .map(from_document)
                .collect::<Result<_>>()?,
            next_token: page.next_token,
        })
    }

    pub async fn create_guardrail_version(
        &self,
        input: api::CreateGuardrailVersionRequest,
    ) -> Result<api::CreateGuardrailVersionResponse> {
        from_document(self.create_version_json(&to_document(&input)?).await?)
    }

    /// ListTagsForResource; basalt keeps tags for guardrails only, so any other ARN is unknown.
    pub async fn list_tags_for_resource(
        &self,
        input: api::ListTagsForResourceRequest,
    ) -> Result<api::ListTagsForResourceResponse> {
        let arn = guardrail_arn(&input.resource_arn)?;
        from_document(self.list_tags_json(arn).await?)
    }

    pub async fn tag_resource(
        &self,
        input: api::TagResourceRequest,
    ) -> Result<api::TagResourceResponse> {
        let arn = guardrail_arn(&input.resource_arn)?;
        let tags = to_document(&input.tags)?;
        self.tag_json(arn, Some(&tags)).await?;
        Ok(api::TagResourceResponse::default())
    }

    pub async fn untag_resource(
        &self,
        input: api::UntagResourceRequest,
    ) -> Result<api::UntagResourceResponse> {
        let arn = guardrail_arn(&input.resource_arn)?;
        self.untag_json(arn, &input.tag_keys).await?;
        Ok(api::UntagResourceResponse::default())
    }

    /// ApplyGuardrail (bedrock-runtime).
    pub async fn apply_guardrail(
        &self,
        input: runtime_api::ApplyGuardrailRequest,
    ) -> Result<runtime_api::ApplyGuardrailResponse> {
        let answer = self
            .apply(
                &input.guardrail_identifier,
                &input.guardrail_version,
                &to_document(&input)?,
            )
            .await?;
        from_document(answer)
    }
}

/// The tag operations name any Bedrock resource; basalt keeps tags for guardrails.
fn guardrail_arn(arn: &str) -> Result<&str> {
    if Guardrails::is_guardrail_arn(arn) {
        Ok(arn)
    } else {
        Err(GuardrailError::NotFound(format!(
            "The resource {arn} does not exist: basalt keeps tags for guardrails only."
        )))
    }
}

/// An operation's input as the JSON document the definition code reads.
fn to_document(input: &impl Serialize) -> Result<Value> {
    serde_json::to_value(input)
        .map_err(|e| GuardrailError::Validation(format!("cannot read the request: {e}")))
}

/// A stored document (or an answer built as JSON) as the operation's output type. One that does
/// not fit is this server's fault, never the caller's.
fn from_document<T: DeserializeOwned>(document: Value) -> Result<T> {
    serde_json::from_value(document).map_err(|e| {
        GuardrailError::Internal(format!(
            "a guardrail document does not have the shape {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}
