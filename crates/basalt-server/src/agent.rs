//! bedrock-agent through its generated trait: every operation basalt serves is one method that
//! calls the domain with the operation's typed input and returns its typed output;
//! `basalt_api::bedrock_agent::dispatch` decodes and encodes. Knowledge bases, data sources and
//! ingestion jobs are served today.

use axum::response::Response;
use basalt_api::bedrock_agent::{self as api, BedrockAgent};
use basalt_api::RequestContext;
use basalt_knowledge_bases::KnowledgeBases;

use crate::routes::Call;
use crate::{ApiError, AppState};

pub(crate) fn knowledge_bases(state: &AppState) -> Result<&KnowledgeBases, ApiError> {
    state
        .knowledge_bases
        .as_ref()
        .ok_or_else(ApiError::no_metadata_store)
}

/// The route-table handler for every bedrock-agent operation served through the trait.
pub async fn operation(state: AppState, call: Call) -> Result<Response, ApiError> {
    let service = Agent { state: &state };
    let output = api::dispatch(&service, &call.context, call.operation, call.input).await;
    crate::routes::answer(call.status, output)
}

struct Agent<'a> {
    state: &'a AppState,
}

impl Agent<'_> {
    fn knowledge_bases(&self) -> Result<&KnowledgeBases, ApiError> {
        knowledge_bases(self.state)
    }
}

impl BedrockAgent for Agent<'_> {
    type Error = ApiError;

    async fn create_knowledge_base(
        &self,
        _ctx: &RequestContext,
        input: api::CreateKnowledgeBaseRequest,
    ) -> Result<api::CreateKnowledgeBaseResponse, ApiError> {
        let catalog = self.state.runtime.catalog();
        Ok(self
            .knowledge_bases()?
            .create_knowledge_base(catalog, input)
            .await?)
    }

    async fn get_knowledge_base(
        &self,
        _ctx: &RequestContext,
        input: api::GetKnowledgeBaseRequest,
    ) -> Result<api::GetKnowledgeBaseResponse, ApiError> {
        Ok(self.knowledge_bases()?.get_knowledge_base(input).await?)
    }

    async fn list_knowledge_bases(
        &self,
        _ctx: &RequestContext,
        input: api::ListKnowledgeBasesRequest,
    ) -> Result<api::ListKnowledgeBasesResponse, ApiError> {
        Ok(self.knowledge_bases()?.list_knowledge_bases(input).await?)
    }

    async fn update_knowledge_base(
        &self,
        _ctx: &RequestContext,
        input: api::UpdateKnowledgeBaseRequest,
    ) -> Result<api::UpdateKnowledgeBaseResponse, ApiError> {
        let catalog = self.state.runtime.catalog();
        Ok(self
            .knowledge_bases()?
            .update_knowledge_base(catalog, input)
            .await?)
    }

    async fn delete_knowledge_base(
        &self,
        _ctx: &RequestContext,
        input: api::DeleteKnowledgeBaseRequest,
    ) -> Result<api::DeleteKnowledgeBaseResponse, ApiError> {
        Ok(self.knowledge_bases()?.delete_knowledge_base(input).await?)
    }

    async fn create_data_source(
        &self,
        _ctx: &RequestContext,
        input: api::CreateDataSourceRequest,
    ) -> Result<api::CreateDataSourceResponse, ApiError> {
        Ok(self.knowledge_bases()?.create_data_source(input).await?)
    }

    async fn get_data_source(
        &self,
        _ctx: &RequestContext,
        input: api::GetDataSourceRequest,
    ) -> Result<api::GetDataSourceResponse, ApiError> {
        Ok(self.knowledge_bases()?.get_data_source(input).await?)
    }

    async fn list_data_sources(
        &self,
        _ctx: &RequestContext,
        input: api::ListDataSourcesRequest,
    ) -> Result<api::ListDataSourcesResponse, ApiError> {
        Ok(self.knowledge_bases()?.list_data_sources(input).await?)
    }

    async fn update_data_source(
        &self,
        _ctx: &RequestContext,
        input: api::UpdateDataSourceRequest,
    ) -> Result<api::UpdateDataSourceResponse, ApiError> {
        Ok(self.knowledge_bases()?.update_data_source(input).await?)
    }

    async fn delete_data_source(
        &self,
        _ctx: &RequestContext,
        input: api::DeleteDataSourceRequest,
    ) -> Result<api::DeleteDataSourceResponse, ApiError> {
        Ok(self.knowledge_bases()?.delete_data_source(input).await?)
    }

    async fn start_ingestion_job(
        &self,
        _ctx: &RequestContext,
        input: api::StartIngestionJobRequest,
    ) -> Result<api::StartIngestionJobResponse, ApiError> {
        Ok(self.knowledge_bases()?.start_ingestion_job(input).await?)
    }

    async fn get_ingestion_job(
        &self,
        _ctx: &RequestContext,
        input: api::GetIngestionJobRequest,
    ) -> Result<api::GetIngestionJobResponse, ApiError> {
        Ok(self.knowledge_bases()?.get_ingestion_job(input).await?)
    }

    async fn list_ingestion_jobs(
        &self,
        _ctx: &RequestContext,
        input: api::ListIngestionJobsRequest,
    ) -> Result<api::ListIngestionJobsResponse, ApiError> {
        Ok(self.knowledge_bases()?.list_ingestion_jobs(input).await?)
    }

    async fn stop_ingestion_job(
        &self,
        _ctx: &RequestContext,
        input: api::StopIngestionJobRequest,
    ) -> Result<api::StopIngestionJobResponse, ApiError> {
        Ok(self.knowledge_bases()?.stop_ingestion_job(input).await?)
    }
}
