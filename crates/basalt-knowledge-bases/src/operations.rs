//! The bedrock-agent operations on knowledge bases, data sources and ingestion jobs, as typed
//! calls: each takes the operation's generated input (`basalt_api::bedrock_agent`) and returns
//! its output. The checks and the stored documents (Bedrock's own shapes, kept as JSON in the
//! metadata store) are in `knowledge_bases.rs` and `ingestion.rs`; a stored document is read
//! back into the generated output type here, so what the store holds and what the wire says
//! cannot drift apart unnoticed.

use basalt_api::bedrock_agent as api;
use basalt_api::bedrock_agent_runtime as runtime_api;
use basalt_models::Catalog;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::{GenerationStream, KnowledgeBaseError, KnowledgeBases, Page};

impl KnowledgeBases {
    pub async fn create_knowledge_base(
        &self,
        catalog: &Catalog,
        input: api::CreateKnowledgeBaseRequest,
    ) -> Result<api::CreateKnowledgeBaseResponse, KnowledgeBaseError> {
        let created = self
            .create_knowledge_base_json(catalog, &to_document(&input)?)
            .await?;
        Ok(api::CreateKnowledgeBaseResponse {
            knowledge_base: from_document(created)?,
        })
    }

    pub async fn get_knowledge_base(
        &self,
        input: api::GetKnowledgeBaseRequest,
    ) -> Result<api::GetKnowledgeBaseResponse, KnowledgeBaseError> {
        let found = self
            .get_knowledge_base_json(&input.knowledge_base_id)
            .await?;
        Ok(api::GetKnowledgeBaseResponse {
            knowledge_base: from_document(found)?,
        })
    }

    pub async fn list_knowledge_bases(
        &self,
        input: api::ListKnowledgeBasesRequest,
    ) -> Result<api::ListKnowledgeBasesResponse, KnowledgeBaseError> {
        let page = self
            .list_knowledge_bases_json(max_results(input.max_results), input.next_token.as_deref())
            .await?;
        let (knowledge_base_summaries, next_token) = summaries(page)?;
        Ok(api::ListKnowledgeBasesResponse {
            knowledge_base_summaries,
            next_token,
        })
    }

    pub async fn update_knowledge_base(
        &self,
        catalog: &Catalog,
        input: api::UpdateKnowledgeBaseRequest,
    ) -> Result<api::UpdateKnowledgeBaseResponse, KnowledgeBaseError> {
        let updated = self
            .update_knowledge_base_json(catalog, &to_document(&input)?)
            .await?;
        Ok(api::UpdateKnowledgeBaseResponse {
            knowledge_base: from_document(updated)?,
        })
    }

    pub async fn delete_knowledge_base(
        &self,
        input: api::DeleteKnowledgeBaseRequest,
    ) -> Result<api::DeleteKnowledgeBaseResponse, KnowledgeBaseError> {
        let deleted = self
            .delete_knowledge_base_json(&input.knowledge_base_id)
            .await?;
        from_document(deleted)
    }

    pub async fn create_data_source(
        &self,
        input: api::CreateDataSourceRequest,
    ) -> Result<api::CreateDataSourceResponse, KnowledgeBaseError> {
        let created = self.create_data_source_json(&to_document(&input)?).await?;
        Ok(api::CreateDataSourceResponse {
            data_source: from_document(created)?,
        })
    }

    pub async fn get_data_source(
        &self,
        input: api::GetDataSourceRequest,
    ) -> Result<api::GetDataSourceResponse, KnowledgeBaseError> {
        let found = self
            .get_data_source_json(&input.knowledge_base_id, &input.data_source_id)
            .await?;
        Ok(api::GetDataSourceResponse {
            data_source: from_document(found)?,
        })
    }

    pub async fn list_data_sources(
        &self,
        input: api::ListDataSourcesRequest,
    ) -> Result<api::ListDataSourcesResponse, KnowledgeBaseError> {
        let page = self
            .list_data_sources_json(
                &input.knowledge_base_id,
                max_results(input.max_results),
                input.next_token.as_deref(),
            )
            .await?;
        let (data_source_summaries, next_token) = summaries(page)?;
        Ok(api::ListDataSourcesResponse {
            data_source_summaries,
            next_token,
        })
    }

    pub async fn update_data_source(
        &self,
        input: api::UpdateDataSourceRequest,
    ) -> Result<api::UpdateDataSourceResponse, KnowledgeBaseError> {
        let updated = self.update_data_source_json(&to_document(&input)?).await?;
        Ok(api::UpdateDataSourceResponse {
            data_source: from_document(updated)?,
        })
    }

    pub async fn delete_data_source(
        &self,
        input: api::DeleteDataSourceRequest,
    ) -> Result<api::DeleteDataSourceResponse, KnowledgeBaseError> {
        let deleted = self
            .delete_data_source_json(&input.knowledge_base_id, &input.data_source_id)
            .await?;
        from_document(deleted)
    }

    pub async fn start_ingestion_job(
        &self,
        input: api::StartIngestionJobRequest,
    ) -> Result<api::StartIngestionJobResponse, KnowledgeBaseError> {
        let job = self.start_ingestion_job_json(&to_document(&input)?).await?;
        Ok(api::StartIngestionJobResponse {
            ingestion_job: from_document(job)?,
        })
    }

    pub async fn get_ingestion_job(
        &self,
        input: api::GetIngestionJobRequest,
    ) -> Result<api::GetIngestionJobResponse, KnowledgeBaseError> {
        let job = self
            .get_ingestion_job_json(
                &input.knowledge_base_id,
                &input.data_source_id,
                &input.ingestion_job_id,
            )
            .await?;
        Ok(api::GetIngestionJobResponse {
            ingestion_job: from_document(job)?,
        })
    }

    pub async fn list_ingestion_jobs(
        &self,
        input: api::ListIngestionJobsRequest,
    ) -> Result<api::ListIngestionJobsResponse, KnowledgeBaseError> {
        let page = self.list_ingestion_jobs_json(&to_document(&input)?).await?;
        let (ingestion_job_summaries, next_token) = summaries(page)?;
        Ok(api::ListIngestionJobsResponse {
            ingestion_job_summaries,
            next_token,
        })
    }

    pub async fn stop_ingestion_job(
        &self,
        input: api::StopIngestionJobRequest,
    ) -> Result<api::StopIngestionJobResponse, KnowledgeBaseError> {
        let job = self
            .stop_ingestion_job_json(
                &input.knowledge_base_id,
                &input.data_source_id,
                &input.ingestion_job_id,
            )
            .await?;
        Ok(api::StopIngestionJobResponse {
            ingestion_job: from_document(job)?,
        })
    }
}

/// `maxResults` as the listing takes it (the model bounds it to 1..=1000 before this runs).
fn max_results(requested: Option<i32>) -> Option<u32> {
    requested.and_then(|n| u32::try_from(n).ok())
}

/// bedrock-agent-runtime's operations on knowledge bases.
impl KnowledgeBases {
    pub async fn retrieve(
        &self,
        input: runtime_api::RetrieveRequest,
    ) -> Result<runtime_api::RetrieveResponse, KnowledgeBaseError> {
        from_document(self.retrieve_json(&to_document(&input)?).await?)
    }

    /// RetrieveAndGenerate, through the model pipeline (guarded when the request's
    /// `generationConfiguration` names a guardrail).
    pub async fn retrieve_and_generate(
        &self,
        input: runtime_api::RetrieveAndGenerateRequest,
    ) -> Result<runtime_api::RetrieveAndGenerateResponse, KnowledgeBaseError> {
        from_document(
            self.retrieve_and_generate_json(&to_document(&input)?)
                .await?,
        )
    }

    /// RetrieveAndGenerateStream: the session, then the stream's events.
    pub async fn retrieve_and_generate_stream(
        &self,
        input: runtime_api::RetrieveAndGenerateStreamRequest,
    ) -> Result<GenerationStream, KnowledgeBaseError> {
        self.retrieve_and_generate_stream_json(&to_document(&input)?)
            .await
    }
}

fn to_document(input: &impl Serialize) -> Result<Value, KnowledgeBaseError> {
    serde_json::to_value(input)
        .map_err(|e| KnowledgeBaseError::Internal(format!("cannot read the request: {e}")))
}

/// A stored document (or one built for an answer) as the operation's output type. A document
/// that does not fit is this server's fault, never the caller's.
fn from_document<T: DeserializeOwned>(document: Value) -> Result<T, KnowledgeBaseError> {
    serde_json::from_value(document).map_err(|e| {
        KnowledgeBaseError::Internal(format!(
            "a stored record does not have the shape {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

fn summaries<T: DeserializeOwned>(
    page: Page,
) -> Result<(Vec<T>, Option<String>), KnowledgeBaseError> {
    let items = page
        .items
        .into_iter()
        .map(from_document)
        .collect::<Result<_, _>>()?;
    Ok((items, page.next_token))
}
