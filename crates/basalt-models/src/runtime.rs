//! The bedrock-runtime domain: Converse, InvokeModel and CountTokens over the catalog's providers.
//! Plain inputs in, plain outputs out; nothing here knows about HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use basalt_codecs::{BodyFormat, EmbeddingFormat, EmbeddingOutput, StreamEncoder, Truncate};
use basalt_types::{ContentBlock, ConverseOutput, ConverseRequest, Role, StreamEvent, TokenUsage};
use futures::{Stream, StreamExt};

use crate::catalog::{Catalog, FoundationModel, InvokeFormat};
use crate::embedding::{EmbeddingProvider, LocalEmbeddingProvider};
use crate::local::LocalLlamaProvider;
use crate::remote::anthropic::AnthropicProvider;
use crate::remote::bedrock::BedrockProvider;
use crate::remote::openai::{OpenAiChatProvider, OpenAiEmbeddingProvider};
use crate::{ChatProvider, EventStream, ModelError, ProviderConfig, WithFallback};

/// The input of CountTokens: the body of an InvokeModel call, or a Converse request.
#[derive(Debug, Clone)]
pub enum CountTokensInput {
    InvokeModel { body: Vec<u8> },
    Converse(Box<ConverseRequest>),
}

/// A finished InvokeModel call: the provider-format body and the numbers for Bedrock's headers.
#[derive(Debug, Clone)]
pub struct InvokeOutput {
    pub body: Vec<u8>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub latency_ms: u64,
}

/// A streamed InvokeModel answer: provider-format chunks, each one JSON document.
pub type ChunkStream = std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>, ModelError>> + Send>>;

/// A running served model: something that chats or something that embeds.
#[derive(Clone)]
pub enum ServedModel {
    Chat(Arc<dyn ChatProvider>),
    Embedding(Arc<dyn EmbeddingProvider>),
}

/// What an embedding call produced, ready for the OpenAI-compatible API or a body codec.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub per_text_tokens: Vec<u32>,
    /// The id the vectors are for (after resolving profiles and ARNs).
    pub model_id: String,
}

pub struct BedrockRuntime {
    catalog: Arc<Catalog>,
    served: BTreeMap<String, ServedModel>,
}

impl BedrockRuntime {
    /// Starts a provider for every served model in the catalog.
    pub fn start(catalog: Arc<Catalog>, models_dir: &Path) -> Result<Self, ModelError> {
        let mut served = BTreeMap::new();
        for (name, config) in &catalog.served {
            let model = match config {
                ProviderConfig::LocalLlama(local) => ServedModel::Chat(Arc::new(
                    LocalLlamaProvider::start(name, local, models_dir)?,
                )),
                ProviderConfig::LocalEmbedding(local) => ServedModel::Embedding(Arc::new(
                    LocalEmbeddingProvider::start(name, local, models_dir)?,
                )),
                ProviderConfig::OpenAi(remote) => {
                    ServedModel::Chat(Arc::new(OpenAiChatProvider::start(name, remote)?))
                }
                ProviderConfig::OpenAiEmbedding(remote) => {
                    let dimensions = remote.dimensions.ok_or_else(|| {
                        ModelError::Config(format!(
                            "served model `{name}`: an openai-embedding model needs `dimensions` (its vector length)"
                        ))
                    })?;
                    ServedModel::Embedding(Arc::new(OpenAiEmbeddingProvider::start(
                        name, remote, dimensions,
                    )?))
                }
                ProviderConfig::Anthropic(remote) => {
                    ServedModel::Chat(Arc::new(AnthropicProvider::start(name, remote)?))
                }
                ProviderConfig::Bedrock(remote) => {
                    ServedModel::Chat(Arc::new(BedrockProvider::start(name, remote)?))
                }
            };
            served.insert(name.clone(), model);
        }
        // Chat models with a fallback answer through it; the catalog checked kinds and names.
        for (name, config) in &catalog.served {
            let Some(fallback_name) = config.fallback() else {
                continue;
            };
            if let (Some(ServedModel::Chat(primary)), Some(ServedModel::Chat(fallback))) =
                (served.get(name), served.get(fallback_name))
            {
                let wrapped = WithFallback {
                    primary: primary.clone(),
                    fallback: fallback.clone(),
                    fallback_name: fallback_name.to_string(),
                };
                served.insert(name.clone(), ServedModel::Chat(Arc::new(wrapped)));
            }
        }
        Ok(BedrockRuntime { catalog, served })
    }

    /// A runtime over providers built elsewhere (tests, embedding applications).
    pub fn with_providers(catalog: Arc<Catalog>, served: BTreeMap<String, ServedModel>) -> Self {
        BedrockRuntime { catalog, served }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The catalog entry and running model that answer `model_id`.
    fn served_for(&self, model_id: &str) -> Result<(&FoundationModel, &ServedModel), ModelError> {
        let (model, _) = self.catalog.resolve(model_id)?;
        let Some(served) = &model.serve_with else {
            let outputs = model.output_modalities.join(", ");
            return Err(ModelError::NotServed {
                model_id: model.model_id.clone(),
                reason: format!(
                    "it outputs {outputs} and no provider for {outputs} output is configured. Point its catalog entry at a provider with `serve_with`."
                ),
            });
        };
        let running = self
            .served
            .get(served)
            .ok_or_else(|| ModelError::NotServed {
                model_id: model.model_id.clone(),
                reason: format!("served model `{served}` is not running"),
            })?;
        Ok((model, running))
    }

    /// The chat model behind `model_id`, for operations only chat models have.
    fn provider_for(
        &self,
        model_id: &str,
    ) -> Result<(&FoundationModel, Arc<dyn ChatProvider>), ModelError> {
        match self.served_for(model_id)? {
            (model, ServedModel::Chat(provider)) => Ok((model, provider.clone())),
            (model, ServedModel::Embedding(_)) => Err(ModelError::Validation(format!(
                "The model {} is an embedding model; it answers InvokeModel with its embedding body, not Converse or streaming.",
                model.model_id
            ))),
        }
    }

    pub async fn converse(
        &self,
        model_id: &str,
        request: ConverseRequest,
    ) -> Result<ConverseOutput, ModelError> {
        let (model, provider) = self.provider_for(model_id)?;
        let request = prepare(request, provider.as_ref())?;
        let output = provider.converse(request).await;
        record_outcome(&model.model_id, output.as_ref().map(|o| &o.usage));
        output
    }

    pub async fn converse_stream(
        &self,
        model_id: &str,
        request: ConverseRequest,
    ) -> Result<EventStream, ModelError> {
        let (model, provider) = self.provider_for(model_id)?;
        let request = prepare(request, provider.as_ref())?;
        let events = provider.converse_stream(request).await;
        counted(model.model_id.clone(), events)
    }

    pub async fn invoke_model(
        &self,
        model_id: &str,
        body: &[u8],
    ) -> Result<InvokeOutput, ModelError> {
        let started = Instant::now();
        let (model, served) = self.served_for(model_id)?;
        let (format, provider) = match (invoke_format(model)?, served) {
            (InvokeFormat::Chat(format), ServedModel::Chat(provider)) => (format, provider),
            (InvokeFormat::Embedding(format), ServedModel::Embedding(provider)) => {
                return self
                    .invoke_embedding(model, format, provider.as_ref(), body, started)
                    .await
            }
            _ => return Err(mismatched(model)),
        };
        if let Some(native) = provider.native_invoke() {
            let answer = native.invoke(body.to_vec()).await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    record_outcome(&model.model_id, Err(&e));
                    return Err(e);
                }
            };
            let usage = TokenUsage::new(answer.input_tokens, answer.output_tokens);
            record_outcome(&model.model_id, Ok(&usage));
            return Ok(InvokeOutput {
                body: answer.body,
                input_tokens: answer.input_tokens,
                output_tokens: answer.output_tokens,
                latency_ms: started.elapsed().as_millis() as u64,
            });
        }
        let request = prepare(
            basalt_codecs::decode_request(format, body)?,
            provider.as_ref(),
        )?;
        let output = provider.converse(request).await;
        record_outcome(&model.model_id, output.as_ref().map(|o| &o.usage));
        let output = output?;
        let body = basalt_codecs::encode_response(format, &output, &model.model_id);
        Ok(InvokeOutput {
            body: serde_json::to_vec(&body).map_err(|e| ModelError::Generation(e.to_string()))?,
            input_tokens: output.usage.input_tokens,
            output_tokens: output.usage.output_tokens,
            latency_ms: started.elapsed().as_millis() as u64,
        })
    }

    async fn invoke_embedding(
        &self,
        model: &FoundationModel,
        format: EmbeddingFormat,
        provider: &dyn EmbeddingProvider,
        body: &[u8],
        started: Instant,
    ) -> Result<InvokeOutput, ModelError> {
        let request = basalt_codecs::decode_embedding_request(format, body)?;
        let dimensions = request.dimensions.or(model.dimensions);
        let output = embed_texts(
            provider,
            request.texts.clone(),
            request.truncate,
            dimensions,
        )
        .await?;
        let input_tokens = output.per_text_tokens.iter().sum();
        record_outcome(&model.model_id, Ok(&TokenUsage::new(input_tokens, 0)));
        let output = EmbeddingOutput {
            vectors: output.vectors,
            input_tokens,
            per_text_tokens: output.per_text_tokens,
        };
        let body =
            basalt_codecs::encode_embedding_response(format, &request, &output, &model.model_id);
        Ok(InvokeOutput {
            body: serde_json::to_vec(&body).map_err(|e| ModelError::Generation(e.to_string()))?,
            input_tokens,
            output_tokens: 0,
            latency_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Embeds texts with the model behind `model_id` (OpenAI-compatible `/v1/embeddings`).
    pub async fn embed(
        &self,
        model_id: &str,
        texts: Vec<String>,
        dimensions: Option<u32>,
    ) -> Result<Embeddings, ModelError> {
        let (model, served) = self.served_for(model_id)?;
        let ServedModel::Embedding(provider) = served else {
            return Err(ModelError::Validation(format!(
                "The model {} is not an embedding model.",
                model.model_id
            )));
        };
        let mut output = embed_texts(
            provider.as_ref(),
            texts,
            Truncate::End,
            dimensions.or(model.dimensions),
        )
        .await?;
        output.model_id = model.model_id.clone();
        let tokens = output.per_text_tokens.iter().sum();
        record_outcome(&model.model_id, Ok(&TokenUsage::new(tokens, 0)));
        Ok(output)
    }

    /// [`Self::embed`] for work that shares the model with API callers (ingestion, guardrail
    /// policies): a full model queue is waited out, up to about 10 s, instead of failing the
    /// work with ThrottlingException.
    pub async fn embed_when_ready(
        &self,
        model_id: &str,
        texts: Vec<String>,
        dimensions: Option<u32>,
    ) -> Result<Embeddings, ModelError> {
        const RETRIES: u64 = 20;
        let mut attempt = 0;
        loop {
            match self.embed(model_id, texts.clone(), dimensions).await {
                Err(ModelError::Throttled { .. }) if attempt < RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// The `tokenizer.json` of the embedding model behind `model_id`, if it has one here.
    pub fn embedding_tokenizer(&self, model_id: &str) -> Result<Option<PathBuf>, ModelError> {
        match self.served_for(model_id)? {
            (_, ServedModel::Embedding(provider)) => Ok(provider.tokenizer_path()),
            (model, ServedModel::Chat(_)) => Err(ModelError::Validation(format!(
                "The model {} is not an embedding model.",
                model.model_id
            ))),
        }
    }

    pub async fn invoke_model_stream(
        &self,
        model_id: &str,
        body: &[u8],
    ) -> Result<ChunkStream, ModelError> {
        let started = Instant::now();
        let (model, provider) = self.provider_for(model_id)?;
        let format = chat_format(model)?;
        if let Some(native) = provider.native_invoke() {
            let model_id = model.model_id.clone();
            let chunks = match native.invoke_stream(body.to_vec()).await {
                Ok(chunks) => chunks,
                Err(e) => {
                    record_outcome(&model_id, Err(&e));
                    return Err(e);
                }
            };
            // Bedrock's last chunk reports the call's tokens under amazon-bedrock-invocationMetrics.
            return Ok(Box::pin(chunks.inspect(move |chunk| match chunk {
                Ok(bytes) => {
                    if let Some(usage) = invocation_metrics_usage(bytes) {
                        record_outcome(&model_id, Ok(&usage));
                    }
                }
                Err(e) => record_outcome(&model_id, Err(e)),
            })));
        }
        let request = prepare(
            basalt_codecs::decode_request(format, body)?,
            provider.as_ref(),
        )?;
        // Anthropic's message_start and Titan's first chunk report the prompt size up front.
        // Remote servers count only as they answer; their final chunk carries the real count.
        let encoder = match provider.count_tokens(&request) {
            Ok(tokens) => StreamEncoder::new(format, &model.model_id).with_input_tokens(tokens),
            Err(_) => StreamEncoder::new(format, &model.model_id),
        };
        let events = counted(
            model.model_id.clone(),
            provider.converse_stream(request).await,
        )?;
        Ok(Box::pin(encode_chunks(events, encoder, started)))
    }

    pub fn count_tokens(&self, model_id: &str, input: CountTokensInput) -> Result<u32, ModelError> {
        let (model, provider) = self.provider_for(model_id)?;
        let request = match input {
            CountTokensInput::Converse(request) => *request,
            CountTokensInput::InvokeModel { body } => {
                basalt_codecs::decode_request(chat_format(model)?, &body)?
            }
        };
        check_conversation(&request)?;
        provider.count_tokens(&request)
    }
}

/// Embeds and fits every vector to `dimensions` (zero-padding up; never truncating).
async fn embed_texts(
    provider: &dyn EmbeddingProvider,
    texts: Vec<String>,
    truncate: Truncate,
    dimensions: Option<u32>,
) -> Result<Embeddings, ModelError> {
    let native = provider.native_dimensions();
    let embedded = provider.embed(texts, truncate).await?;
    let mut vectors = Vec::with_capacity(embedded.len());
    let mut per_text_tokens = Vec::with_capacity(embedded.len());
    for text in embedded {
        vectors.push(basalt_codecs::fit_dimensions(
            &text.vector,
            dimensions.unwrap_or(native),
            native,
        )?);
        per_text_tokens.push(text.tokens);
    }
    Ok(Embeddings {
        vectors,
        per_text_tokens,
        model_id: String::new(),
    })
}

fn invoke_format(model: &FoundationModel) -> Result<InvokeFormat, ModelError> {
    model.body_format.ok_or_else(|| ModelError::NotServed {
        model_id: model.model_id.clone(),
        reason: "no InvokeModel body format is configured for it".into(),
    })
}

fn chat_format(model: &FoundationModel) -> Result<BodyFormat, ModelError> {
    match invoke_format(model)? {
        InvokeFormat::Chat(format) => Ok(format),
        InvokeFormat::Embedding(_) => Err(mismatched(model)),
    }
}

fn mismatched(model: &FoundationModel) -> ModelError {
    ModelError::Config(format!(
        "model catalog: {} names a body format that its served model cannot answer",
        model.model_id
    ))
}

/// Bedrock's checks that hold for every model, then the model's own limits.
/// Counts one call and its tokens per catalog model id (Prometheus, through the `metrics`
/// facade; labels are catalog ids, so their number is bounded).
fn record_outcome(model_id: &str, usage: Result<&TokenUsage, &ModelError>) {
    let counters = ModelCounters::of(model_id);
    match usage {
        Ok(usage) => {
            counters.ok.increment(1);
            counters
                .input_tokens
                .increment(u64::from(usage.input_tokens));
            counters
                .output_tokens
                .increment(u64::from(usage.output_tokens));
        }
        Err(_) => counters.error.increment(1),
    }
}

/// One model's counters, registered on its first call and reused: building a labelled key per
/// request costs allocations on the hot path of a gateway.
struct ModelCounters {
    ok: metrics::Counter,
    error: metrics::Counter,
    input_tokens: metrics::Counter,
    output_tokens: metrics::Counter,
}

impl ModelCounters {
    fn of(model_id: &str) -> std::sync::Arc<ModelCounters> {
        use std::collections::HashMap;
        use std::sync::{Arc, OnceLock, RwLock};
        static ALL: OnceLock<RwLock<HashMap<String, Arc<ModelCounters>>>> = OnceLock::new();
        let all = ALL.get_or_init(Default::default);
        if let Some(counters) = all.read().ok().and_then(|m| m.get(model_id).cloned()) {
            return counters;
        }
        let model = model_id.to_string();
        let counters = Arc::new(ModelCounters {
            ok: metrics::counter!("basalt_model_invocations_total", "model" => model.clone(), "outcome" => "ok"),
            error: metrics::counter!("basalt_model_invocations_total", "model" => model.clone(), "outcome" => "error"),
            input_tokens: metrics::counter!("basalt_model_tokens_total", "model" => model.clone(), "direction" => "input"),
            output_tokens: metrics::counter!("basalt_model_tokens_total", "model" => model.clone(), "direction" => "output"),
        });
        if let Ok(mut map) = all.write() {
            map.insert(model, counters.clone());
        }
        counters
    }
}

/// The token counts of a chunk carrying `amazon-bedrock-invocationMetrics`, if this one does.
fn invocation_metrics_usage(chunk: &[u8]) -> Option<TokenUsage> {
    // Only the last chunk carries it: skip parsing every other chunk of a passed-through stream.
    let key = basalt_codecs::INVOCATION_METRICS_KEY.as_bytes();
    if !chunk.windows(key.len()).any(|w| w == key) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(chunk).ok()?;
    let metrics = value.get(basalt_codecs::INVOCATION_METRICS_KEY)?;
    let count = |field: &str| {
        metrics
            .get(field)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0) as u32
    };
    Some(TokenUsage::new(
        count("inputTokenCount"),
        count("outputTokenCount"),
    ))
}

/// A stream that records its outcome when it ends: the usage of its `Metadata` event, or its error.
fn counted(
    model_id: String,
    events: Result<EventStream, ModelError>,
) -> Result<EventStream, ModelError> {
    let events = match events {
        Ok(events) => events,
        Err(e) => {
            record_outcome(&model_id, Err(&e));
            return Err(e);
        }
    };
    Ok(Box::pin(events.inspect(move |event| match event {
        Ok(StreamEvent::Metadata { usage, .. }) => record_outcome(&model_id, Ok(usage)),
        Err(e) => record_outcome(&model_id, Err(e)),
        Ok(_) => {}
    })))
}

fn prepare(
    mut request: ConverseRequest,
    provider: &dyn ChatProvider,
) -> Result<ConverseRequest, ModelError> {
    check_conversation(&request)?;
    if request.guardrail_config.is_some() {
        // Answering without the guardrail would be a silent failure of a safety control.
        return Err(ModelError::Validation(
            "guardrailConfig: basalt does not apply guardrails yet; remove guardrailConfig to call the model without one."
                .into(),
        ));
    }
    let limits = provider.limits();
    if let Some(max_tokens) = request.inference_config.max_tokens {
        if max_tokens < 1 {
            return Err(ModelError::Validation(
                "The value of inferenceConfig.maxTokens must be at least 1.".into(),
            ));
        }
        if max_tokens > i64::from(limits.max_output_tokens) {
            return Err(ModelError::Validation(format!(
                "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum tokens value that is lower than {limit}.",
                limit = limits.max_output_tokens
            )));
        }
    }
    if let Some(t) = request.inference_config.temperature {
        if !(0.0..=1.0).contains(&t) {
            return Err(ModelError::Validation(format!(
                "inferenceConfig.temperature must be between 0 and 1; got {t}."
            )));
        }
    }
    if let Some(p) = request.inference_config.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(ModelError::Validation(format!(
                "inferenceConfig.topP must be between 0 and 1; got {p}."
            )));
        }
    }
    if request.inference_config.top_k.is_none() {
        request.inference_config.top_k = additional_top_k(&request)?;
    }
    Ok(request)
}

/// `additionalModelRequestFields.top_k` (Anthropic's and Nova's spelling, also `topK`).
fn additional_top_k(request: &ConverseRequest) -> Result<Option<i64>, ModelError> {
    let Some(fields) = &request.additional_model_request_fields else {
        return Ok(None);
    };
    let Some(value) = fields.get("top_k").or_else(|| fields.get("topK")) else {
        return Ok(None);
    };
    match value.as_i64() {
        Some(k) if k >= 0 => Ok(Some(k)),
        _ => Err(ModelError::Validation(format!(
            "additionalModelRequestFields.top_k must be a non-negative integer; got {value}."
        ))),
    }
}

/// The conversation rules Bedrock enforces before any model runs.
pub fn check_conversation(request: &ConverseRequest) -> Result<(), ModelError> {
    let Some(first) = request.messages.first() else {
        return Err(ModelError::Validation(
            "The messages field is empty. A conversation must start with a user message. Add a message and try again."
                .into(),
        ));
    };
    if first.role != Role::User {
        return Err(ModelError::Validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message."
                .into(),
        ));
    }
    for (i, pair) in request.messages.windows(2).enumerate() {
        if pair[0].role == pair[1].role {
            return Err(ModelError::Validation(format!(
                "A conversation must alternate between user and assistant roles (messages.{} and messages.{} are both {}). Make sure the conversation alternates between user and assistant roles and try again.",
                i,
                i + 1,
                pair[1].role.as_str()
            )));
        }
    }
    for (i, message) in request.messages.iter().enumerate() {
        if message.content.is_empty() {
            return Err(ModelError::Validation(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        for (j, block) in message.content.iter().enumerate() {
            if let ContentBlock::Text(text) = block {
                if text.trim().is_empty() {
                    return Err(ModelError::Validation(format!(
                        "The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
                    )));
                }
            }
        }
    }
    for (i, block) in request.system.iter().enumerate() {
        if block.as_text().is_some_and(|t| t.trim().is_empty()) {
            return Err(ModelError::Validation(format!(
                "The text field in the SystemContentBlock object at system.{i} is blank. Add text to the text field, and try again."
            )));
        }
    }
    Ok(())
}

/// Re-encodes Converse events as a provider's chunks; the last chunk carries Bedrock's invocation metrics.
fn encode_chunks(
    events: EventStream,
    mut encoder: StreamEncoder,
    started: Instant,
) -> impl Stream<Item = Result<Vec<u8>, ModelError>> + Send {
    let mut first_byte_ms: Option<u64> = None;
    events.flat_map(move |event| {
        let chunks: Vec<Result<Vec<u8>, ModelError>> = match event {
            Err(e) => vec![Err(e)],
            Ok(event) => {
                let elapsed_ms = started.elapsed().as_millis() as u64;
                if first_byte_ms.is_none() && matches!(event, StreamEvent::ContentBlockDelta { .. })
                {
                    first_byte_ms = Some(elapsed_ms);
                }
                let latency = basalt_codecs::InvocationMetrics {
                    invocation_latency_ms: elapsed_ms,
                    first_byte_latency_ms: first_byte_ms.unwrap_or(elapsed_ms),
                };
                encoder
                    .encode(&event, &latency)
                    .into_iter()
                    .map(|chunk| {
                        serde_json::to_vec(&chunk)
                            .map_err(|e| ModelError::Generation(e.to_string()))
                    })
                    .collect()
            }
        };
        futures::stream::iter(chunks)
    })
}
