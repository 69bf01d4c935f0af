//! Bedrock knowledge bases. The bedrock-agent control plane for knowledge bases and their data
//! sources as Bedrock defines them, checked beyond what the service model can say (which
//! configuration a `type` needs, that the embedding model is one the catalog serves) and kept
//! in the metadata store. The operations take and return the generated
//! `basalt_api::bedrock_agent` types (`operations.rs`); nothing here knows about HTTP.
//! bedrock-agent-runtime's Retrieve and RetrieveAndGenerate (plain and streamed) run here too, over
//! the same knowledge bases: `retrieval`, `generation`, `citations`, `sessions`.
//!
//! A knowledge base is ACTIVE as soon as it is created: its embedded index is made on first
//! ingestion. Every Bedrock `storageConfiguration` type is accepted and stored; until an
//! external engine is configured for one, the embedded store serves it.

mod citations;
mod engines;
mod generation;
mod ingestion;
mod knowledge_bases;
mod operations;
mod retrieval;
mod sessions;
mod storage;

pub use generation::{GenerationEvent, GenerationStream};
pub use ingestion::IngestionStatistics;
pub use knowledge_bases::KnowledgeBases;
pub(crate) use knowledge_bases::Page;
pub use storage::{StorageBackend, StorageMapping, STORAGE_TYPES};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum KnowledgeBaseError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] basalt_store::StoreError),
    /// The embedding or generation model refused or failed.
    #[error(transparent)]
    Model(#[from] basalt_models::ModelError),
    /// Chunking, the index or retrieval failed; its validation errors are the caller's.
    #[error(transparent)]
    Index(#[from] basalt_kb::KbError),
    /// A guardrail RetrieveAndGenerate names refused the call or failed.
    #[error(transparent)]
    Guardrail(#[from] basalt_guardrails::GuardrailError),
    /// Something on this server is missing or broken (not the caller's fault).
    #[error("{0}")]
    Internal(String),
}

impl From<basalt_pipeline::PipelineError> for KnowledgeBaseError {
    fn from(error: basalt_pipeline::PipelineError) -> Self {
        use basalt_pipeline::PipelineError;
        match error {
            PipelineError::Model(e) => KnowledgeBaseError::Model(e),
            PipelineError::Guardrail(e) => KnowledgeBaseError::Guardrail(e),
            e @ PipelineError::NoGuardrails(_) => KnowledgeBaseError::Internal(e.to_string()),
        }
    }
}
