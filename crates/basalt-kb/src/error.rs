//! One error enum for the crate; the server maps each variant to a Bedrock error in one place.

/// What can go wrong in chunking, indexing or retrieval.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// Input the caller sent is malformed (a filter, a chunking configuration, a sidecar);
    /// `path` names the field as Bedrock does, e.g. `filter.andAll[1].greaterThan.value`.
    #[error("{path}: {message}")]
    Validation { path: String, message: String },
    /// A `<file>.metadata.json` sidecar that is not valid; the ingestion job reports it per file.
    #[error("metadata file: {0}")]
    Metadata(String),
    /// The tokenizer could not read the text.
    #[error("tokenizer: {0}")]
    Tokenize(String),
    /// The embedding model failed or returned the wrong number or size of vectors.
    #[error("embedding: {0}")]
    Embedding(String),
    /// A vector whose length differs from the index's.
    #[error("vector has {got} dimensions, the index holds {expected}")]
    Dimensions { expected: usize, got: usize },
    /// The on-disk index is unreadable or a write failed.
    #[error("index storage: {0}")]
    Storage(String),
}

impl KbError {
    pub(crate) fn validation(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<tantivy::TantivyError> for KbError {
    fn from(e: tantivy::TantivyError) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<std::io::Error> for KbError {
    fn from(e: std::io::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

pub type Result<T, E = KbError> = std::result::Result<T, E>;
