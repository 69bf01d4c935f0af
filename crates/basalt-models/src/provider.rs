use std::pin::Pin;

use async_trait::async_trait;
use basalt_types::{ConverseOutput, ConverseRequest, StreamEvent};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use crate::ModelError;

/// A streamed answer. Dropping it cancels the generation behind it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ModelError>> + Send>>;

/// What a served model accepts, for request checks done before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelLimits {
    pub context_length: u32,
    pub max_output_tokens: u32,
}

/// One served model, whatever runs it: the local engine today, remote servers later.
#[async_trait]
pub trait ChatProvider: Send + Sync {
    fn limits(&self) -> ModelLimits;

    /// Input tokens the request would use, counted by the model's own tokenizer and template.
    fn count_tokens(&self, request: &ConverseRequest) -> Result<u32, ModelError>;

    async fn converse_stream(&self, request: ConverseRequest) -> Result<EventStream, ModelError>;

    /// A whole answer: the stream, collected. Providers with a cheaper non-streamed path override it.
    async fn converse(&self, request: ConverseRequest) -> Result<ConverseOutput, ModelError> {
        let stream = self.converse_stream(request).await?;
        collect_stream(stream).await
    }
}

/// Folds a stream of events into the answer a non-streaming call returns.
pub async fn collect_stream(mut stream: EventStream) -> Result<ConverseOutput, ModelError> {
    use basalt_types::{Message, Metrics, Role, StopReason, TokenUsage};

    let mut text = String::new();
    let mut role = Role::Assistant;
    let mut stop = (StopReason::EndTurn, None);
    let mut usage = TokenUsage::default();
    let mut metrics = Metrics::default();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::MessageStart { role: r } => role = r,
            StreamEvent::ContentBlockDelta { text: delta, .. } => text.push_str(&delta),
            StreamEvent::ContentBlockStop { .. } => {}
            StreamEvent::MessageStop { stop_reason, stop_sequence } => stop = (stop_reason, stop_sequence),
            StreamEvent::Metadata { usage: u, metrics: m } => {
                usage = u;
                metrics = m;
            }
        }
    }
    Ok(ConverseOutput {
        message: Message::text(role, text),
        stop_reason: stop.0,
        stop_sequence: stop.1,
        usage,
        metrics,
    })
}

/// How to run a served model, as written in the catalog's `[served.NAME]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "provider", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProviderConfig {
    /// A GGUF model on the in-process llama.cpp engine.
    LocalLlama(crate::local::LocalLlamaConfig),
}
