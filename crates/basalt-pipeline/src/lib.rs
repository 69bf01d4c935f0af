//! basalt-pipeline: the one way the domain calls a model.
//!
//! Every caller that asks a model something — Converse, InvokeModel, the OpenAI API,
//! RetrieveAndGenerate, and the agents, flows, prompts and jobs built on them — goes through
//! [`ModelPipeline`]: the input checked by the call's guardrail, the model (local or remote,
//! with tools, structured output and documents as the request says), the answer checked on the
//! way out, sync or streamed, with the guardrail's trace. Callers do not choose between a
//! guarded and a plain path; the request does.

use std::pin::Pin;
use std::sync::Arc;

use basalt_guardrails::{GuardrailError, Guardrails, InlineGuardrail, TextVerdict};
use basalt_models::{BedrockRuntime, InvokeOutput, ModelError};
use basalt_types::{ConverseOutput, ConverseRequest};
use futures::{Stream, StreamExt};
use serde_json::Value;

pub use basalt_guardrails::{GuardOutcome, GuardedEvent as Event};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The model refused or failed (unknown model, bad request for it, engine failure).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The guardrail refused the call (unknown guardrail, bad configuration) or failed.
    #[error(transparent)]
    Guardrail(#[from] GuardrailError),
    /// A guardrail was named, and this server runs without a metadata store to keep them.
    #[error("guardrail {0} cannot be applied: this server runs without a metadata store")]
    NoGuardrails(String),
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// A model's answer and what its guardrail did.
#[derive(Debug, Clone)]
pub struct Answer {
    pub output: ConverseOutput,
    /// `{"guardrail": {...}}`, when the call's guardrail was asked for a trace.
    pub trace: Option<Value>,
    /// Whether a guardrail blocked or masked anything, on the input or the answer.
    pub intervened: bool,
}

/// A streamed answer: Converse stream events; the closing `Metadata` event carries the
/// guardrail's outcome when the call named one.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event>> + Send>>;

/// A streamed InvokeModel answer: the chunks' JSON bytes, in the model's own body format.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + Send>>;

/// Where an InvokeModel call's guardrail comes from: its
/// `X-Amzn-Bedrock-GuardrailIdentifier` / `-GuardrailVersion` / `-Trace` headers.
#[derive(Debug, Clone, Default)]
pub struct InvokeGuardrail<'a> {
    pub identifier: Option<&'a str>,
    pub version: Option<&'a str>,
    pub trace: Option<&'a str>,
}

/// A text some caller guards on its own (RetrieveAndGenerate's question and answer).
#[derive(Debug, Clone, Copy)]
pub struct TextCheck<'a> {
    pub guardrail_id: &'a str,
    pub guardrail_version: &'a str,
    /// `INPUT` or `OUTPUT`.
    pub source: &'a str,
    pub text: &'a str,
    /// What a contextual grounding policy judges the text against: the grounding source and
    /// the query.
    pub grounding: Option<(&'a str, &'a str)>,
}

/// The model runtime and the guardrails, together.
pub struct ModelPipeline {
    runtime: Arc<BedrockRuntime>,
    guardrails: Option<Arc<Guardrails>>,
}

impl ModelPipeline {
    /// `guardrails` is `None` when the server runs without a metadata store: calls naming a
    /// guardrail are then refused rather than run unguarded.
    pub fn new(runtime: Arc<BedrockRuntime>, guardrails: Option<Arc<Guardrails>>) -> Self {
        Self {
            runtime,
            guardrails,
        }
    }

    /// The runtime underneath, for what is not a model call (the catalog, embeddings,
    /// CountTokens).
    pub fn runtime(&self) -> &Arc<BedrockRuntime> {
        &self.runtime
    }

    fn guardrails(&self, named: &str) -> Result<&Arc<Guardrails>> {
        self.guardrails
            .as_ref()
            .ok_or_else(|| PipelineError::NoGuardrails(named.to_string()))
    }

    /// Converse: guarded when `request.guardrail_config` names a guardrail.
    pub async fn converse(&self, model_id: &str, request: ConverseRequest) -> Result<Answer> {
        basalt_guardrails::refuse_guard_content_without_guardrail(&request)?;
        let Some(config) = request.guardrail_config.clone() else {
            let output = self.runtime.converse(model_id, request).await?;
            return Ok(Answer {
                output,
                trace: None,
                intervened: false,
            });
        };
        let guard = InlineGuardrail::from_converse(&config)?;
        let guarded = self
            .guardrails(guard.identifier())?
            .converse(&self.runtime, model_id, request, &guard)
            .await?;
        Ok(Answer {
            output: guarded.output,
            trace: guarded.trace,
            intervened: guarded.intervened,
        })
    }

    /// ConverseStream: guarded (in the configuration's `streamProcessingMode`) when
    /// `request.guardrail_config` names a guardrail.
    pub async fn converse_stream(
        &self,
        model_id: &str,
        request: ConverseRequest,
    ) -> Result<EventStream> {
        basalt_guardrails::refuse_guard_content_without_guardrail(&request)?;
        let Some(config) = request.guardrail_config.clone() else {
            let events = self.runtime.converse_stream(model_id, request).await?;
            return Ok(Box::pin(events.map(|event| {
                event
                    .map(|event| Event {
                        event,
                        outcome: None,
                    })
                    .map_err(PipelineError::from)
            })));
        };
        let guard = InlineGuardrail::from_converse(&config)?;
        let events = self
            .guardrails(guard.identifier())?
            .converse_stream(&self.runtime, model_id, request, &guard)
            .await?;
        Ok(Box::pin(events.map(|e| e.map_err(PipelineError::from))))
    }

    /// InvokeModel with the model's own body format; guarded when the headers name a guardrail.
    pub async fn invoke_model(
        &self,
        model_id: &str,
        body: &[u8],
        guardrail: InvokeGuardrail<'_>,
    ) -> Result<InvokeOutput> {
        match invoke_guard(&guardrail)? {
            None => Ok(self.runtime.invoke_model(model_id, body).await?),
            Some(guard) => Ok(self
                .guardrails(guard.identifier())?
                .invoke_model(&self.runtime, model_id, body, &guard)
                .await?),
        }
    }

    /// InvokeModelWithResponseStream; guarded when the headers name a guardrail.
    pub async fn invoke_model_stream(
        &self,
        model_id: &str,
        body: &[u8],
        guardrail: InvokeGuardrail<'_>,
    ) -> Result<ChunkStream> {
        match invoke_guard(&guardrail)? {
            None => {
                let chunks = self.runtime.invoke_model_stream(model_id, body).await?;
                Ok(Box::pin(chunks.map(|c| c.map_err(PipelineError::from))))
            }
            Some(guard) => {
                let chunks = self
                    .guardrails(guard.identifier())?
                    .invoke_model_stream(&self.runtime, model_id, body, &guard)
                    .await?;
                Ok(Box::pin(chunks.map(|c| c.map_err(PipelineError::from))))
            }
        }
    }

    /// One text checked against a guardrail version; an unknown guardrail or version is
    /// `NotFound`.
    pub async fn check_text(&self, check: TextCheck<'_>) -> Result<TextVerdict> {
        Ok(self
            .guardrails(check.guardrail_id)?
            .check_text(
                check.guardrail_id,
                check.guardrail_version,
                check.source,
                check.text,
                check.grounding,
            )
            .await?)
    }
}

fn invoke_guard(guardrail: &InvokeGuardrail<'_>) -> Result<Option<InlineGuardrail>> {
    Ok(InlineGuardrail::from_invoke(
        guardrail.identifier,
        guardrail.version,
        guardrail.trace,
    )?)
}
