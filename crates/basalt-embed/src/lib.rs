//! basalt-embed: the local embedding engine. It owns a BERT-family sentence-transformers model
//! (candle, CPU) on a dedicated OS thread fed by a bounded queue; concurrent requests are
//! batched into one forward pass. It reads the model directory the way sentence-transformers
//! does (`modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`) so vectors match.
//!
//! It is a pure engine: it knows nothing of Bedrock or HTTP. The caller maps InvokeModel bodies
//! (Titan, Cohere) onto [`EmbedOptions`] and [`EmbedError`] variants onto Bedrock errors.

mod bert;
mod engine;
mod error;
mod model;
mod worker;

pub use engine::{
    EmbedOptions, Embedding, EmbeddingConfig, EmbeddingEngine, EmbeddingModelInfo, Truncate,
};
pub use error::EmbedError;
pub use model::Pooling;
