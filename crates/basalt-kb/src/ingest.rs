//! One document into the index: chunk, embed, replace its chunks. The ingestion job runner
//! calls [`ingest_document`] per new or changed file and [`KnowledgeIndex::flush`] when done.

use crate::chunking::{chunk_document, ChunkingConfiguration};
use crate::error::{KbError, Result};
use crate::index::{ChunkRecord, KnowledgeIndex};
use crate::metadata::DocumentMetadata;
use crate::retrieve::with_builtin_attributes;
use crate::tokens::{Embedder, TokenCounter};

/// A parsed document, ready to index.
#[derive(Debug, Clone)]
pub struct DocumentToIngest<'a> {
    /// Stable id of the document in the knowledge base (the runner may use the source URI).
    pub document_id: &'a str,
    /// Where it came from, e.g. `s3://bucket/key.pdf`.
    pub source_uri: &'a str,
    pub data_source_id: &'a str,
    /// The document as text (basalt-documents turns pdf/docx/html into this).
    pub text: &'a str,
    /// From its `<file>.metadata.json`, or empty.
    pub metadata: &'a DocumentMetadata,
}

/// Chunks and embeds `document` and replaces its chunks in `index` (visible after flush).
/// Returns how many chunks it now has. Chunk ids are `<document_id>#<n>`, so re-ingesting an
/// unchanged document gives the same ids.
pub async fn ingest_document(
    index: &dyn KnowledgeIndex,
    counter: &dyn TokenCounter,
    embedder: &dyn Embedder,
    config: &ChunkingConfiguration,
    document: DocumentToIngest<'_>,
) -> Result<usize> {
    let chunks = chunk_document(document.text, config, counter, embedder).await?;
    // Attributes marked includeForEmbedding are embedded with every chunk's text.
    let prefix = document.metadata.embedding_prefix();
    let inputs: Vec<String> = chunks
        .iter()
        .map(|c| format!("{prefix}{}", c.text))
        .collect();
    let vectors = if inputs.is_empty() {
        Vec::new()
    } else {
        embedder.embed(inputs).await?
    };
    if vectors.len() != chunks.len() {
        return Err(KbError::Embedding(format!(
            "asked for {} vectors, got {}",
            chunks.len(),
            vectors.len()
        )));
    }
    let records: Vec<ChunkRecord> = chunks
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(|(n, (chunk, vector))| {
            let chunk_id = format!("{}#{n}", document.document_id);
            ChunkRecord {
                metadata: with_builtin_attributes(
                    document.metadata.attributes.clone(),
                    document.source_uri,
                    &chunk_id,
                    document.data_source_id,
                ),
                chunk_id,
                document_id: document.document_id.to_string(),
                source_uri: document.source_uri.to_string(),
                text: chunk.text,
                parent_text: chunk.parent.map(|p| p.text),
                vector,
            }
        })
        .collect();
    let count = records.len();
    index.upsert_document(document.document_id, records).await?;
    Ok(count)
}
