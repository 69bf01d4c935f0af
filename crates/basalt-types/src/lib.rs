//! The Converse shape: the lingua franca of basalt's domain.
//!
//! Every request that reaches a model — Converse, or an InvokeModel body decoded by its
//! provider codec — becomes a [`ConverseRequest`]; every answer is a [`ConverseOutput`] or a
//! stream of [`StreamEvent`]s. The serde names are Bedrock's own wire names, so these types
//! (de)serialize straight from and to the `bedrock-runtime` JSON. This crate knows nothing
//! about HTTP, providers or storage.

mod converse;
mod stream;

pub use converse::*;
pub use stream::*;
