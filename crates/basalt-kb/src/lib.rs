//! basalt-kb: the knowledge-base domain. It owns how documents become searchable chunks and how
//! a query finds them: Bedrock's chunking strategies (`FIXED_SIZE`, `HIERARCHICAL`, `SEMANTIC`,
//! `NONE`), `<file>.metadata.json` sidecars, the `RetrievalFilter` grammar, the
//! [`KnowledgeIndex`] trait with an embedded implementation (tantivy BM25 + brute-force cosine,
//! persisted under a directory), and Retrieve's `SEMANTIC` / `HYBRID` search with rank fusion.
//!
//! It is a library: no HTTP, no metadata database, no object store. The ingestion job runner
//! feeds it documents; the Retrieve handler calls [`retrieve`]. Tokenizer and embedding model
//! come in through [`TokenCounter`] and [`Embedder`], so any engine can be plugged in.
//!
//! Entry points:
//! - ingestion: [`parse_metadata_file`] per sidecar, [`ChunkingConfiguration::from_json`] once
//!   per data source, [`ingest_document`] per new or changed file,
//!   [`KnowledgeIndex::delete_document`] per removed file, [`KnowledgeIndex::flush`] at the end;
//! - Retrieve: [`RetrievalFilter::parse`] and [`SearchType::parse`] on the request, then
//!   [`retrieve`].
//!
//! One [`EmbeddedIndex`] per knowledge-base directory per process (tantivy locks it); clone it
//! to share between the runner and the handlers.

pub mod chunking;
mod error;
pub mod filter;
pub mod index;
mod ingest;
pub mod metadata;
pub mod retrieve;
mod tokens;

pub use chunking::{chunk_document, Chunk, ChunkingConfiguration, ParentChunk};
pub use error::{KbError, Result};
pub use filter::RetrievalFilter;
pub use index::{ChunkRecord, EmbeddedIndex, KnowledgeIndex, SearchHit};
pub use ingest::{ingest_document, DocumentToIngest};
pub use metadata::{parse_metadata_file, AttributeValue, DocumentMetadata, Metadata};
pub use retrieve::{
    retrieve, with_builtin_attributes, Fusion, RetrievalResult, RetrieveRequest, SearchType,
};
pub use tokens::{Embedder, TokenCounter, TokenizerJson, WordTokens};
