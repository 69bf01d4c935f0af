//! The per-stream encoder that turns [`StreamEvent`]s into a body format's chunk JSONs.
//!
//! Bedrock puts `amazon-bedrock-invocationMetrics` on the last chunk of every
//! InvokeModelWithResponseStream answer. Token counts and latency arrive with the
//! `Metadata` event, after `MessageStop`, so formats whose last chunk is the stop chunk hold the
//! stop back until `Metadata` (or [`StreamEncoder::finish`]) comes.

use basalt_types::{StopReason, StreamEvent, TokenUsage};
use serde_json::{json, Value};

use crate::{anthropic, meta_llama, mistral, nova, titan_text, BodyFormat};

/// The latencies the caller measured, passed with every event: the encoder has no clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvocationMetrics {
    /// Milliseconds from request to now (to the last token, when passed with `Metadata`).
    pub invocation_latency_ms: u64,
    /// Milliseconds from request to the first token; 0 while unknown.
    pub first_byte_latency_ms: u64,
}

/// The numbers Bedrock appends to the last streamed chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FinalMetrics {
    pub input_token_count: u32,
    pub output_token_count: u32,
    pub invocation_latency: u64,
    pub first_byte_latency: u64,
}

impl FinalMetrics {
    pub fn to_json(self) -> Value {
        json!({
            "inputTokenCount": self.input_token_count,
            "outputTokenCount": self.output_token_count,
            "invocationLatency": self.invocation_latency,
            "firstByteLatency": self.first_byte_latency,
        })
    }
}

/// The member name Bedrock gives the metrics on the last chunk.
pub const INVOCATION_METRICS_KEY: &str = "amazon-bedrock-invocationMetrics";

/// Adds the invocation metrics to a chunk object.
pub(crate) fn with_metrics(mut chunk: Value, metrics: &FinalMetrics) -> Value {
    if let Value::Object(map) = &mut chunk {
        map.insert(INVOCATION_METRICS_KEY.to_string(), metrics.to_json());
    }
    chunk
}

/// The event handling shared by the text-completion formats (Titan Text, Meta Llama, Mistral):
/// one chunk per text delta, the stop held back until `Metadata` so that the final chunk can
/// carry the stop reason together with the invocation metrics.
pub(crate) fn encode_completion_event(
    state: &mut StreamState,
    event: &StreamEvent,
    delta_chunk: impl Fn(&StreamState, &str) -> Value,
    final_chunk: impl Fn(&mut StreamState, &FinalMetrics) -> Value,
) -> Vec<Value> {
    match event {
        // These formats complete text; they have no way to carry a tool call.
        StreamEvent::MessageStart { .. }
        | StreamEvent::ContentBlockStop { .. }
        | StreamEvent::ToolUseStart { .. }
        | StreamEvent::ToolUseDelta { .. } => Vec::new(),
        StreamEvent::ContentBlockDelta { text, .. } => vec![delta_chunk(state, text)],
        StreamEvent::MessageStop {
            stop_reason,
            stop_sequence,
        } => {
            state.pending_stop = Some((*stop_reason, stop_sequence.clone()));
            Vec::new()
        }
        StreamEvent::Metadata { usage, metrics } => {
            let invocation = state.metrics(Some(usage), Some(metrics.latency_ms));
            vec![final_chunk(state, &invocation)]
        }
    }
}

/// The last chunk of the formats that count per chunk (Titan Text, Meta Llama): `chunk` builds it
/// from the state to report (the prompt count included when no earlier chunk carried it) and the
/// final output token count; the invocation metrics are added and the stream is closed.
pub(crate) fn counted_final_chunk(
    state: &mut StreamState,
    metrics: &FinalMetrics,
    chunk: impl Fn(&StreamState, u32) -> Value,
) -> Value {
    let mut counts = state.clone();
    if !state.sent_first_chunk {
        counts.input_tokens = Some(metrics.input_token_count);
    }
    state.finished = true;
    with_metrics(chunk(&counts, metrics.output_token_count), metrics)
}

/// What every format's encoder needs to remember between events.
#[derive(Debug, Clone)]
pub(crate) struct StreamState {
    pub model_id: String,
    /// Anthropic's `msg_bdrk_...` id, fixed for the stream.
    pub message_id: String,
    /// Prompt tokens, when the caller knows them before the first chunk.
    pub input_tokens: Option<u32>,
    /// The latencies passed with the latest event.
    pub latency: InvocationMetrics,
    /// Text deltas seen so far: the running output-token count in formats that report one
    /// per chunk (local engines emit one delta per token).
    pub deltas: u32,
    /// Whether any chunk has gone out (formats that put prompt counts on the first chunk only).
    pub sent_first_chunk: bool,
    /// Content blocks whose start chunk has gone out (Anthropic).
    pub open_blocks: Vec<u32>,
    /// The stop held back until the metrics are known.
    pub pending_stop: Option<(StopReason, Option<String>)>,
    /// Set once the final chunk has gone out; later events produce nothing.
    pub finished: bool,
}

impl StreamState {
    /// Metrics for the final chunk: token counts from the Metadata event when it came, else
    /// what the stream itself saw; latencies from the caller, falling back to the Metadata
    /// event's latency and then to the invocation latency for the first byte.
    pub fn metrics(
        &self,
        usage: Option<&TokenUsage>,
        metadata_latency_ms: Option<u64>,
    ) -> FinalMetrics {
        let invocation_latency = match self.latency.invocation_latency_ms {
            0 => metadata_latency_ms.unwrap_or(0),
            measured => measured,
        };
        let first_byte_latency = match self.latency.first_byte_latency_ms {
            0 => invocation_latency,
            measured => measured,
        };
        FinalMetrics {
            input_token_count: usage.map_or(self.input_tokens.unwrap_or(0), |u| u.input_tokens),
            output_token_count: usage.map_or(self.deltas, |u| u.output_tokens),
            invocation_latency,
            first_byte_latency,
        }
    }

    /// The held-back stop, or `end_turn` if the stream ended without one.
    pub fn take_stop(&mut self) -> (StopReason, Option<String>) {
        self.pending_stop
            .take()
            .unwrap_or((StopReason::EndTurn, None))
    }
}

/// Encodes one InvokeModelWithResponseStream answer; make one per stream.
#[derive(Debug, Clone)]
pub struct StreamEncoder {
    format: BodyFormat,
    state: StreamState,
}

impl StreamEncoder {
    pub fn new(format: BodyFormat, model_id: &str) -> Self {
        StreamEncoder {
            format,
            state: StreamState {
                model_id: model_id.to_string(),
                message_id: anthropic::new_message_id(),
                input_tokens: None,
                latency: InvocationMetrics::default(),
                deltas: 0,
                sent_first_chunk: false,
                open_blocks: Vec::new(),
                pending_stop: None,
                finished: false,
            },
        }
    }

    /// Prompt token count, for formats that report it before the answer ends
    /// (Anthropic `message_start`, Titan and Llama first chunks).
    pub fn with_input_tokens(mut self, input_tokens: u32) -> Self {
        self.state.input_tokens = Some(input_tokens);
        self
    }

    /// The Anthropic message id this stream reports (`msg_bdrk_...`).
    pub fn message_id(&self) -> &str {
        &self.state.message_id
    }

    /// The chunks for one event: zero or more JSON objects, in order. `latency` is what the
    /// caller measured up to this event; the values passed with `Metadata` end up in the
    /// final chunk's metrics.
    pub fn encode(&mut self, event: &StreamEvent, latency: &InvocationMetrics) -> Vec<Value> {
        if self.state.finished {
            return Vec::new();
        }
        let state = &mut self.state;
        state.latency = *latency;
        let chunks = match self.format {
            BodyFormat::AnthropicMessages => anthropic::encode_event(state, event),
            BodyFormat::TitanText => titan_text::encode_event(state, event),
            BodyFormat::MetaLlama => meta_llama::encode_event(state, event),
            BodyFormat::Mistral => mistral::encode_event(state, event),
            BodyFormat::NovaMessages => nova::encode_event(state, event),
        };
        if matches!(event, StreamEvent::ContentBlockDelta { .. }) {
            state.deltas += 1;
        }
        if !chunks.is_empty() {
            state.sent_first_chunk = true;
        }
        chunks
    }

    /// Closes a stream whose `Metadata` event never came, so the client still gets a final
    /// chunk with metrics (token counts from the stream itself). Produces nothing when the
    /// final chunk already went out.
    pub fn finish(&mut self, latency: &InvocationMetrics) -> Vec<Value> {
        if self.state.finished {
            return Vec::new();
        }
        self.state.latency = *latency;
        let metrics = self.state.metrics(None, None);
        let state = &mut self.state;
        let chunks = match self.format {
            BodyFormat::AnthropicMessages => anthropic::final_chunks(state, &metrics),
            BodyFormat::TitanText => vec![titan_text::final_chunk(state, &metrics)],
            BodyFormat::MetaLlama => vec![meta_llama::final_chunk(state, &metrics)],
            BodyFormat::Mistral => vec![mistral::final_chunk(state, &metrics)],
            BodyFormat::NovaMessages => nova::final_chunks(state, &metrics),
        };
        state.finished = true;
        chunks
    }
}
