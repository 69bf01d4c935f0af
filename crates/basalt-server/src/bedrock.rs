//! bedrock (the control plane) through its generated trait: the model catalog, inference
//! profiles and guardrails. Each method calls the domain with the operation's typed input;
//! `basalt_api::bedrock::dispatch` decodes and encodes.

use axum::response::Response;
use basalt_api::bedrock::{self as api, Bedrock};
use basalt_api::RequestContext;
use basalt_guardrails::Guardrails;

use crate::routes::Call;
use crate::{ApiError, AppState};

/// The route-table handler for every bedrock operation served through the trait.
pub async fn operation(state: AppState, call: Call) -> Result<Response, ApiError> {
    let service = Control { state: &state };
    let output = api::dispatch(&service, &call.context, call.operation, call.input).await;
    crate::routes::answer(call.status, output)
}

/// The guardrails service; none when the server runs without a metadata store.
pub(crate) fn guardrails(state: &AppState) -> Result<&Guardrails, ApiError> {
    state
        .guardrails
        .as_deref()
        .ok_or_else(ApiError::no_metadata_store)
}

struct Control<'a> {
    state: &'a AppState,
}

impl Control<'_> {
    fn guardrails(&self) -> Result<&Guardrails, ApiError> {
        guardrails(self.state)
    }
}

impl Bedrock for Control<'_> {
    type Error = ApiError;

    async fn list_foundation_models(
        &self,
        _ctx: &RequestContext,
        input: api::ListFoundationModelsRequest,
    ) -> Result<api::ListFoundationModelsResponse, ApiError> {
        Ok(self.state.runtime.catalog().list_foundation_models(input)?)
    }

    async fn get_foundation_model(
        &self,
        _ctx: &RequestContext,
        input: api::GetFoundationModelRequest,
    ) -> Result<api::GetFoundationModelResponse, ApiError> {
        Ok(self.state.runtime.catalog().get_foundation_model(input)?)
    }

    async fn list_inference_profiles(
        &self,
        _ctx: &RequestContext,
        input: api::ListInferenceProfilesRequest,
    ) -> Result<api::ListInferenceProfilesResponse, ApiError> {
        Ok(self
            .state
            .runtime
            .catalog()
            .list_inference_profiles(input)?)
    }

    async fn get_inference_profile(
        &self,
        _ctx: &RequestContext,
        input: api::GetInferenceProfileRequest,
    ) -> Result<api::GetInferenceProfileResponse, ApiError> {
        Ok(self.state.runtime.catalog().get_inference_profile(input)?)
    }

    async fn create_guardrail(
        &self,
        _ctx: &RequestContext,
        input: api::CreateGuardrailRequest,
    ) -> Result<api::CreateGuardrailResponse, ApiError> {
        Ok(self.guardrails()?.create_guardrail(input).await?)
    }

    async fn get_guardrail(
        &self,
        _ctx: &RequestContext,
        input: api::GetGuardrailRequest,
    ) -> Result<api::GetGuardrailResponse, ApiError> {
        Ok(self.guardrails()?.get_guardrail(input).await?)
    }

    async fn update_guardrail(
        &self,
        _ctx: &RequestContext,
        input: api::UpdateGuardrailRequest,
    ) -> Result<api::UpdateGuardrailResponse, ApiError> {
        Ok(self.guardrails()?.update_guardrail(input).await?)
    }

    async fn delete_guardrail(
        &self,
        _ctx: &RequestContext,
        input: api::DeleteGuardrailRequest,
    ) -> Result<api::DeleteGuardrailResponse, ApiError> {
        Ok(self.guardrails()?.delete_guardrail(input).await?)
    }

    async fn list_guardrails(
        &self,
        _ctx: &RequestContext,
        input: api::ListGuardrailsRequest,
    ) -> Result<api::ListGuardrailsResponse, ApiError> {
        Ok(self.guardrails()?.list_guardrails(input).await?)
    }

    async fn create_guardrail_version(
        &self,
        _ctx: &RequestContext,
        input: api::CreateGuardrailVersionRequest,
    ) -> Result<api::CreateGuardrailVersionResponse, ApiError> {
        Ok(self.guardrails()?.create_guardrail_version(input).await?)
    }

    async fn list_tags_for_resource(
        &self,
        _ctx: &RequestContext,
        input: api::ListTagsForResourceRequest,
    ) -> Result<api::ListTagsForResourceResponse, ApiError> {
        Ok(self.guardrails()?.list_tags_for_resource(input).await?)
    }

    async fn tag_resource(
        &self,
        _ctx: &RequestContext,
        input: api::TagResourceRequest,
    ) -> Result<api::TagResourceResponse, ApiError> {
        Ok(self.guardrails()?.tag_resource(input).await?)
    }

    async fn untag_resource(
        &self,
        _ctx: &RequestContext,
        input: api::UntagResourceRequest,
    ) -> Result<api::UntagResourceResponse, ApiError> {
        Ok(self.guardrails()?.untag_resource(input).await?)
    }
}
