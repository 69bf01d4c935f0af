//! Where chunks live once embedded: the [`KnowledgeIndex`] trait (what Bedrock's
//! `storageConfiguration` names) and its embedded implementation.
//!
//! The trait is shaped so a PostgreSQL + pgvector store can follow: a document's chunks are
//! replaced as a unit (`DELETE ... WHERE document_id = $1` + `INSERT`), vector search is
//! `ORDER BY embedding <=> $1 LIMIT k`, text search is `ts_rank` over a `tsvector` column, and
//! filters are evaluated where the store can (a `WHERE` on a `jsonb` column) or on candidates.

mod embedded;
mod vectors;

use async_trait::async_trait;

use crate::error::Result;
use crate::filter::RetrievalFilter;
use crate::metadata::Metadata;

pub use embedded::EmbeddedIndex;

/// One chunk as the ingestion runner hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    /// Unique in the index (Bedrock's `x-amz-bedrock-kb-chunk-id`).
    pub chunk_id: String,
    /// The document the chunk came from; deleting or re-ingesting it replaces all its chunks.
    pub document_id: String,
    /// The document's location, e.g. `s3://bucket/key`, returned as `location.s3Location.uri`.
    pub source_uri: String,
    /// The text that was embedded and is searched.
    pub text: String,
    /// For hierarchical chunking: the parent chunk's text, which retrieval returns instead.
    pub parent_text: Option<String>,
    pub vector: Vec<f32>,
    /// Attributes filters test, built-in ones (`x-amz-bedrock-kb-source-uri`, ...) included.
    pub metadata: Metadata,
}

/// A chunk found by a search, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub chunk_id: String,
    pub document_id: String,
    pub source_uri: String,
    pub text: String,
    pub parent_text: Option<String>,
    pub metadata: Metadata,
    /// Vector search: `(1 + cosine) / 2`, in [0, 1] as OpenSearch's `cosinesimil` reports it.
    /// Text search: the BM25 score (unbounded).
    pub score: f32,
}

/// A knowledge base's search index. Writes become visible to searches, and durable, at
/// [`KnowledgeIndex::flush`]; a process that dies before then leaves the index as of the
/// previous flush.
#[async_trait]
pub trait KnowledgeIndex: Send + Sync {
    /// Replaces every chunk of `document_id` with `chunks` (all of which must name it).
    async fn upsert_document(&self, document_id: &str, chunks: Vec<ChunkRecord>) -> Result<()>;
    /// Removes every chunk of `document_id`; returns how many there were.
    async fn delete_document(&self, document_id: &str) -> Result<usize>;
    /// The `k` chunks nearest `vector` by cosine among those `filter` admits.
    async fn vector_search(
        &self,
        vector: &[f32],
        k: usize,
        filter: Option<&RetrievalFilter>,
    ) -> Result<Vec<SearchHit>>;
    /// The `k` best chunks for `query` by BM25 among those `filter` admits.
    async fn text_search(
        &self,
        query: &str,
        k: usize,
        filter: Option<&RetrievalFilter>,
    ) -> Result<Vec<SearchHit>>;
    /// Chunks searchable now.
    async fn count(&self) -> Result<usize>;
    /// Makes every write so far durable and visible, atomically.
    async fn flush(&self) -> Result<()>;
}
