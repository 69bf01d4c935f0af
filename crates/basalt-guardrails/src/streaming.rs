//! Guardrails on streamed answers: ConverseStream's `guardrailConfig` (with its
//! `streamProcessingMode`) and InvokeModelWithResponseStream's guardrail headers (with the body's
//! `amazon-bedrock-guardrailConfig.streamProcessingMode`).
//!
//! The input is checked first, as for Converse. The answer's text is then cut into batches as it
//! is generated ([`Batcher`]: at the first sentence end past [`MIN_BATCH_CHARS`], else at a space
//! once [`MAX_BATCH_CHARS`] are waiting, and at the end of each text block), and each batch is
//! checked as OUTPUT, beside the request's grounding source and query when it tagged them. Each
//! check is one entry of the trace's `outputAssessments`.
//!
//! - `sync` (the default): a batch is sent only once it passed (masked, where the guardrail
//!   anonymizes). A blocked batch never leaves: the model's stream is dropped at once (the local
//!   engine stops generating at its next token) and the answer ends with the blocked-output
//!   message and stop reason `guardrail_intervened`.
//! - `async`: text is sent as it comes while its batches are checked beside it. When one is
//!   blocked, nothing more of the answer is sent and it ends the same way; what was sent before
//!   may hold what was blocked (Bedrock's documented trade-off). The block and message ends wait
//!   for the checks still running. Bedrock does not mask in this mode, and neither does basalt:
//!   an ANONYMIZE finding is reported in the trace, but its text has already gone out unmasked.
//!
//! Relevance (contextual grounding) follows Bedrock's rule for streams: an answer is relevant
//! when any of its batches is, so a batch judged irrelevant is released, and the answer is
//! blocked at its end only if none was relevant.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use basalt_codecs::{InvocationMetrics, StreamEncoder, INVOCATION_METRICS_KEY};
use basalt_models::{BedrockRuntime, CountTokensInput, EventStream, InvokeFormat, ModelError};
use basalt_types::{ConverseRequest, Metrics, StopReason, StreamEvent, TokenUsage};
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::inline::{
    blocked_output, events_of, has_blocked, intervened, verdict, InlineGuardrail, InputVerdict,
    TraceParts, Verdict,
};
use crate::service::Guardrails;
use crate::{GuardrailError, Result};

/// How a streamed answer is checked (`GuardrailStreamConfiguration.streamProcessingMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StreamMode {
    /// Each batch is checked before it is sent.
    #[default]
    Sync,
    /// Text is sent at once and checked beside the stream.
    Async,
}

/// A batch ends at the first sentence end after this many characters...
pub const MIN_BATCH_CHARS: usize = 80;
/// ...or, when no sentence ends, at the last space before this many (one guardrail text unit).
pub const MAX_BATCH_CHARS: usize = 1000;

/// One event of a guarded stream.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardedEvent {
    pub event: StreamEvent,
    /// On the closing `Metadata` event only: what the guardrail did over the whole call.
    pub outcome: Option<GuardOutcome>,
}

/// What a guardrail did over a streamed call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardOutcome {
    /// Whether it blocked or masked anything, on the input or the answer.
    pub intervened: bool,
    /// `{"guardrail": {...}}`, when the call asked for a trace.
    pub trace: Option<Value>,
}

/// A guarded ConverseStream answer.
pub type GuardedStream = Pin<Box<dyn Stream<Item = Result<GuardedEvent>> + Send>>;

/// A guarded InvokeModelWithResponseStream answer: the chunks' JSON bytes, in the model's format.
pub type GuardedChunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + Send>>;

/// Cuts one text block's streamed text into the batches the guardrail checks. The batches,
/// concatenated, are the text exactly.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    pending: String,
}

impl Batcher {
    /// Adds a delta; the batches it completes.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.pending.push_str(text);
        let mut batches = Vec::new();
        while let Some(cut) = self.cut() {
            let rest = self.pending.split_off(cut);
            batches.push(std::mem::replace(&mut self.pending, rest));
        }
        batches
    }

    /// What is left when the block ends.
    pub fn finish(&mut self) -> Option<String> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }

    /// Where the next batch ends: after the first sentence end from [`MIN_BATCH_CHARS`] on (a
    /// line break, or `.`, `!` or `?` with the whitespace after it, once that has arrived); else,
    /// once [`MAX_BATCH_CHARS`] are waiting, after the last whitespace before them (or right
    /// there, when there is none).
    fn cut(&self) -> Option<usize> {
        let mut chars = self.pending.char_indices().peekable();
        let mut count = 0;
        let mut after_space = None;
        while let Some((at, c)) = chars.next() {
            count += 1;
            let end = at + c.len_utf8();
            if count >= MIN_BATCH_CHARS {
                if c == '\n' {
                    return Some(end);
                }
                if matches!(c, '.' | '!' | '?') {
                    if let Some(&(next_at, next)) = chars.peek() {
                        if next.is_whitespace() {
                            return Some(next_at + next.len_utf8());
                        }
                    }
                }
            }
            if c.is_whitespace() {
                after_space = Some(end);
            }
            if count == MAX_BATCH_CHARS {
                return Some(after_space.unwrap_or(end));
            }
        }
        None
    }
}

impl Guardrails {
    /// ConverseStream with a guardrail: the input checked, then the model's answer streamed
    /// through the guardrail in `guard`'s processing mode. The closing `Metadata` event carries
    /// the outcome (and the trace, when asked for).
    pub async fn converse_stream(
        self: &Arc<Self>,
        runtime: &BedrockRuntime,
        model_id: &str,
        request: ConverseRequest,
        guard: &InlineGuardrail,
    ) -> Result<GuardedStream> {
        let started = Instant::now();
        let mut parts = TraceParts::default();
        let request = match self.check_input(guard, request, &mut parts).await? {
            InputVerdict::Blocked { message } => {
                let outcome = GuardOutcome {
                    intervened: true,
                    trace: self.trace(guard, parts),
                };
                return Ok(closed_stream(
                    events_of(&blocked_output(message, started)),
                    outcome,
                ));
            }
            InputVerdict::Proceed { request } => *request,
        };
        // The prompt's size, for the usage of an answer cut short: its model never reports it.
        let input_tokens = runtime
            .count_tokens(
                model_id,
                CountTokensInput::Converse(Box::new(request.clone())),
            )
            .unwrap_or(0);
        let model = runtime.converse_stream(model_id, request).await?;
        Ok(self.guard_stream(guard, parts, model, input_tokens, started))
    }

    /// InvokeModelWithResponseStream with a guardrail: the body read with the model's own format
    /// (less its `amazon-bedrock-guardrailConfig`), guarded as a ConverseStream call, and
    /// answered as that format's chunks; the final chunk (the one with
    /// `amazon-bedrock-invocationMetrics`) carries `amazon-bedrock-guardrailAction`
    /// INTERVENED/NONE and, when asked, `amazon-bedrock-trace`.
    pub async fn invoke_model_stream(
        self: &Arc<Self>,
        runtime: &BedrockRuntime,
        model_id: &str,
        body: &[u8],
        guard: &InlineGuardrail,
    ) -> Result<GuardedChunks> {
        let started = Instant::now();
        let (model, _) = runtime.catalog().resolve(model_id)?;
        let Some(InvokeFormat::Chat(format)) = model.body_format else {
            return Err(GuardrailError::Validation(format!(
                "Guardrails apply to text generation; {} is not a text model.",
                model.model_id
            )));
        };
        let mut guard = guard.clone();
        let body = guard.take_body_config(body)?;
        let request = basalt_codecs::decode_request(format, &body).map_err(ModelError::from)?;
        let encoder = StreamEncoder::new(format, &model.model_id);
        let encoder = match runtime.count_tokens(
            model_id,
            CountTokensInput::Converse(Box::new(request.clone())),
        ) {
            Ok(tokens) => encoder.with_input_tokens(tokens),
            Err(_) => encoder,
        };
        let events = self
            .converse_stream(runtime, model_id, request, &guard)
            .await?;
        Ok(Box::pin(encode_chunks(events, encoder, started)))
    }

    /// The model's `events` through the guardrail, on a task of their own; dropping the returned
    /// stream (a client gone) ends the task and with it the model's stream.
    pub(crate) fn guard_stream(
        self: &Arc<Self>,
        guard: &InlineGuardrail,
        parts: TraceParts,
        model: EventStream,
        input_tokens: u32,
        started: Instant,
    ) -> GuardedStream {
        let (sender, receiver) = mpsc::channel(32);
        let run = Run {
            guardrails: self.clone(),
            guard: guard.clone(),
            input_intervened: parts.input.as_ref().is_some_and(intervened),
            parts,
            started,
            input_tokens,
            sender,
            deltas: 0,
            blocks: Vec::new(),
            checks: FuturesOrdered::new(),
            masked: false,
            irrelevant: None,
            relevant: false,
            stop: None,
            usage: None,
        };
        tokio::spawn(run.drive(model));
        Box::pin(futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        ))
    }
}

/// A finished list of events as a guarded stream, the outcome on its `Metadata`.
fn closed_stream(events: Vec<StreamEvent>, outcome: GuardOutcome) -> GuardedStream {
    let events: Vec<Result<GuardedEvent>> = events
        .into_iter()
        .map(|event| {
            let outcome = matches!(event, StreamEvent::Metadata { .. }).then(|| outcome.clone());
            Ok(GuardedEvent { event, outcome })
        })
        .collect();
    Box::pin(futures::stream::iter(events))
}

/// One batch's check: the batch, and ApplyGuardrail's answer on it.
type Check = Pin<Box<dyn Future<Output = (String, Result<Value>)> + Send>>;

/// A text block of the answer as it streams.
struct Block {
    index: u32,
    batcher: Batcher,
    /// All the model said in it, for `enabled_full` traces.
    text: String,
    /// Whether its `contentBlockStop` is still to be sent.
    open: bool,
}

/// What the stream loop saw next.
enum Next {
    /// The client went away.
    Gone,
    Checked((String, Result<Value>)),
    Model(Option<std::result::Result<StreamEvent, ModelError>>),
}

/// How the model's part of the stream ended.
enum End {
    Finished,
    Blocked(String),
    Gone,
}

/// The state of one guarded stream.
struct Run {
    guardrails: Arc<Guardrails>,
    guard: InlineGuardrail,
    parts: TraceParts,
    input_intervened: bool,
    started: Instant,
    input_tokens: u32,
    sender: mpsc::Sender<Result<GuardedEvent>>,
    /// Text deltas seen: the output tokens of an answer cut short (local engines send one per
    /// token).
    deltas: u32,
    blocks: Vec<Block>,
    /// `async` mode's checks under way, in batch order.
    checks: FuturesOrdered<Check>,
    /// Whether a released batch was masked.
    masked: bool,
    /// The blocked message of a batch that failed relevance alone, and whether any batch passed
    /// it: relevance is decided over the whole answer.
    irrelevant: Option<String>,
    relevant: bool,
    /// The model's stop and usage, held until the last batch is judged.
    stop: Option<(StopReason, Option<String>)>,
    usage: Option<TokenUsage>,
}

impl Run {
    async fn drive(mut self, model: EventStream) {
        let end = match self.pump(model).await {
            Ok(end) => end,
            Err(error) => {
                let _ = self.sender.send(Err(error)).await;
                return;
            }
        };
        // The model's stream is dropped by now: the generation stops with it.
        let result = match end {
            End::Gone => return,
            End::Blocked(message) => self.end_blocked(message).await,
            End::Finished => self.finish().await,
        };
        if let Err(error) = result {
            let _ = self.sender.send(Err(error)).await;
        }
    }

    /// Reads the model until it ends or the guardrail blocks; `model` is dropped on return.
    async fn pump(&mut self, mut model: EventStream) -> Result<End> {
        let watch = self.sender.clone();
        loop {
            let next = tokio::select! {
                biased;
                () = watch.closed() => Next::Gone,
                Some(checked) = self.checks.next(), if !self.checks.is_empty() => Next::Checked(checked),
                event = model.next() => Next::Model(event),
            };
            let blocked = match next {
                Next::Gone => return Ok(End::Gone),
                Next::Checked((batch, answer)) => self.judge(batch, answer?).await?.blocked(),
                Next::Model(None) => return Ok(End::Finished),
                Next::Model(Some(Err(error))) => return Err(error.into()),
                Next::Model(Some(Ok(event))) => self.on_event(event).await?,
            };
            if let Some(message) = blocked {
                return Ok(End::Blocked(message));
            }
        }
    }

    /// One model event; the blocked message when the guardrail blocked.
    async fn on_event(&mut self, event: StreamEvent) -> Result<Option<String>> {
        match event {
            StreamEvent::ContentBlockDelta { index, text } => {
                self.deltas += 1;
                let block = self.block(index);
                block.text.push_str(&text);
                let batches = block.batcher.push(&text);
                if self.guard.mode == StreamMode::Async {
                    self.send(StreamEvent::ContentBlockDelta { index, text })
                        .await;
                }
                for batch in batches {
                    if let Some(message) = self.check(index, batch).await? {
                        return Ok(Some(message));
                    }
                }
            }
            StreamEvent::ContentBlockStop { index } => {
                if let Some(message) = self.flush().await? {
                    return Ok(Some(message));
                }
                if let Some(block) = self.blocks.iter_mut().find(|b| b.index == index) {
                    block.open = false;
                }
                self.send(event).await;
            }
            StreamEvent::MessageStop {
                stop_reason,
                stop_sequence,
            } => self.stop = Some((stop_reason, stop_sequence)),
            StreamEvent::Metadata { usage, .. } => self.usage = Some(usage),
            StreamEvent::MessageStart { .. }
            | StreamEvent::ToolUseStart { .. }
            | StreamEvent::ToolUseDelta { .. } => {
                if let Some(message) = self.flush().await? {
                    return Ok(Some(message));
                }
                self.send(event).await;
            }
        }
        Ok(None)
    }

    fn block(&mut self, index: u32) -> &mut Block {
        let at = match self.blocks.iter().position(|b| b.index == index) {
            Some(at) => at,
            None => {
                self.blocks.push(Block {
                    index,
                    batcher: Batcher::default(),
                    text: String::new(),
                    open: true,
                });
                self.blocks.len() - 1
            }
        };
        &mut self.blocks[at]
    }

    /// Checks what every block still holds, and (in `async` mode) waits for the checks under
    /// way: called before an event that must not pass text still unjudged.
    async fn flush(&mut self) -> Result<Option<String>> {
        let rests: Vec<(u32, String)> = self
            .blocks
            .iter_mut()
            .filter_map(|b| b.batcher.finish().map(|rest| (b.index, rest)))
            .collect();
        for (index, rest) in rests {
            if let Some(message) = self.check(index, rest).await? {
                return Ok(Some(message));
            }
        }
        while let Some((batch, answer)) = self.checks.next().await {
            if let Some(message) = self.judge(batch, answer?).await?.blocked() {
                return Ok(Some(message));
            }
        }
        Ok(None)
    }

    /// One batch through the guardrail: in `sync` mode judged now and released when it
    /// passes; in `async` mode (already sent) queued to be judged beside the stream.
    async fn check(&mut self, index: u32, batch: String) -> Result<Option<String>> {
        let check = self.check_of(batch);
        if self.guard.mode == StreamMode::Async {
            self.checks.push_back(check);
            return Ok(None);
        }
        let (batch, answer) = check.await;
        match self.judge(batch, answer?).await? {
            Judged::Release(text) => {
                self.send(StreamEvent::ContentBlockDelta { index, text })
                    .await;
                Ok(None)
            }
            Judged::Blocked(message) => Ok(Some(message)),
        }
    }

    fn check_of(&self, batch: String) -> Check {
        let guardrails = self.guardrails.clone();
        let guard = self.guard.clone();
        let references = self.parts.references.clone();
        Box::pin(async move {
            let answer = guardrails
                .apply_texts(&guard, "OUTPUT", std::slice::from_ref(&batch), &references)
                .await;
            (batch, answer)
        })
    }

    /// What a batch's check means for the stream; its assessment goes to the trace.
    async fn judge(&mut self, batch: String, answer: Value) -> Result<Judged> {
        let assessment = answer["assessments"][0].clone();
        let relevance = relevance(&assessment);
        self.parts.outputs.push(assessment);
        if relevance == Some(Relevance::Relevant) {
            self.relevant = true;
        }
        Ok(match verdict(&answer) {
            Verdict::Pass => Judged::Release(batch),
            Verdict::Blocked(message) if relevance == Some(Relevance::BlocksAlone) => {
                self.irrelevant.get_or_insert(message);
                if has_masked(&answer["assessments"][0]) && self.guard.mode == StreamMode::Sync {
                    // The blocked answer holds no masked text: ask again without the references.
                    let answer = self
                        .guardrails
                        .apply_texts(&self.guard, "OUTPUT", std::slice::from_ref(&batch), &[])
                        .await?;
                    self.release_masked(batch, verdict(&answer))
                } else {
                    Judged::Release(batch)
                }
            }
            Verdict::Blocked(message) => Judged::Blocked(message),
            masked @ Verdict::Masked(_) => self.release_masked(batch, masked),
        })
    }

    fn release_masked(&mut self, batch: String, verdict: Verdict) -> Judged {
        match verdict {
            Verdict::Masked(texts) if self.guard.mode == StreamMode::Sync => {
                self.masked = true;
                Judged::Release(texts.into_iter().next().unwrap_or_default())
            }
            Verdict::Blocked(message) => Judged::Blocked(message),
            // `async`: the text has gone out as it was; the finding stays in the trace.
            _ => Judged::Release(batch),
        }
    }

    /// Ends an answer the guardrail blocked: the blocked message in the open text block (or a
    /// new one), stop reason `guardrail_intervened`.
    async fn end_blocked(&mut self, message: String) -> Result<()> {
        let index = match self.blocks.iter().rev().find(|b| b.open) {
            Some(block) => block.index,
            None => self.blocks.iter().map(|b| b.index + 1).max().unwrap_or(0),
        };
        self.send(StreamEvent::ContentBlockDelta {
            index,
            text: message,
        })
        .await;
        self.send(StreamEvent::ContentBlockStop { index }).await;
        self.close(StopReason::GuardrailIntervened, None, true)
            .await;
        Ok(())
    }

    /// Ends an answer the model finished: the last batches judged, then the stop and metadata.
    async fn finish(&mut self) -> Result<()> {
        if let Some(message) = self.flush().await? {
            return self.end_blocked(message).await;
        }
        if let (Some(message), false) = (self.irrelevant.take(), self.relevant) {
            return self.end_blocked(message).await;
        }
        for index in self
            .blocks
            .iter()
            .filter(|b| b.open)
            .map(|b| b.index)
            .collect::<Vec<_>>()
        {
            self.send(StreamEvent::ContentBlockStop { index }).await;
        }
        let (stop_reason, stop_sequence) = self.stop.take().unwrap_or((StopReason::EndTurn, None));
        if self.masked {
            self.close(StopReason::GuardrailIntervened, None, true)
                .await;
        } else {
            self.close(stop_reason, stop_sequence, false).await;
        }
        Ok(())
    }

    /// The `messageStop` and the closing `metadata` with the outcome.
    async fn close(
        &mut self,
        stop_reason: StopReason,
        stop_sequence: Option<String>,
        intervened: bool,
    ) {
        self.send(StreamEvent::MessageStop {
            stop_reason,
            stop_sequence,
        })
        .await;
        let usage = self
            .usage
            .unwrap_or_else(|| TokenUsage::new(self.input_tokens, self.deltas));
        let mut parts = std::mem::take(&mut self.parts);
        parts.model_output = self.blocks.iter().map(|b| b.text.clone()).collect();
        let outcome = GuardOutcome {
            intervened: intervened || self.input_intervened,
            trace: self.guardrails.trace(&self.guard, parts),
        };
        let metadata = StreamEvent::Metadata {
            usage,
            metrics: Metrics {
                latency_ms: self.started.elapsed().as_millis() as u64,
            },
        };
        let _ = self
            .sender
            .send(Ok(GuardedEvent {
                event: metadata,
                outcome: Some(outcome),
            }))
            .await;
    }

    /// Sends one event; a client gone is noticed by the stream loop. (`&mut`: the run is `Send`,
    /// not `Sync`.)
    async fn send(&mut self, event: StreamEvent) {
        let _ = self
            .sender
            .send(Ok(GuardedEvent {
                event,
                outcome: None,
            }))
            .await;
    }
}

/// What a batch's check means for the stream.
enum Judged {
    /// Send this text (the batch, or its masked form).
    Release(String),
    /// Stop: this is the blocked message.
    Blocked(String),
}

impl Judged {
    fn blocked(self) -> Option<String> {
        match self {
            Judged::Release(_) => None,
            Judged::Blocked(message) => Some(message),
        }
    }
}

/// What an assessment says of relevance, when it has a RELEVANCE filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relevance {
    Relevant,
    /// Irrelevant, and the filter blocks; nothing else in the assessment does.
    BlocksAlone,
    /// Irrelevant, and either the filter does not block or something else does too.
    Irrelevant,
}

fn relevance(assessment: &Value) -> Option<Relevance> {
    let filters = assessment
        .pointer("/contextualGroundingPolicy/filters")?
        .as_array()?;
    let filter = filters.iter().find(|f| f["type"] == "RELEVANCE")?;
    if filter["detected"] != true {
        return Some(Relevance::Relevant);
    }
    if filter["action"] != "BLOCKED" {
        return Some(Relevance::Irrelevant);
    }
    let mut rest = assessment.clone();
    if let Some(Value::Array(filters)) = rest.pointer_mut("/contextualGroundingPolicy/filters") {
        filters.retain(|f| f["type"] != "RELEVANCE");
    }
    Some(if has_blocked(&rest) {
        Relevance::Irrelevant
    } else {
        Relevance::BlocksAlone
    })
}

fn has_masked(assessment: &Value) -> bool {
    match assessment {
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| (k == "action" && v == "ANONYMIZED") || has_masked(v)),
        Value::Array(a) => a.iter().any(has_masked),
        _ => false,
    }
}

/// A guarded stream as a body format's chunks; the final chunk gets the guardrail's action
/// and trace.
fn encode_chunks(
    events: GuardedStream,
    mut encoder: StreamEncoder,
    started: Instant,
) -> impl Stream<Item = Result<Vec<u8>>> + Send {
    let mut first_byte_ms: Option<u64> = None;
    events.flat_map(move |item| {
        let chunks: Vec<Result<Vec<u8>>> = match item {
            Err(error) => vec![Err(error)],
            Ok(GuardedEvent { event, outcome }) => {
                let elapsed_ms = started.elapsed().as_millis() as u64;
                if first_byte_ms.is_none() && matches!(event, StreamEvent::ContentBlockDelta { .. })
                {
                    first_byte_ms = Some(elapsed_ms);
                }
                let latency = InvocationMetrics {
                    invocation_latency_ms: elapsed_ms,
                    first_byte_latency_ms: first_byte_ms.unwrap_or(elapsed_ms),
                };
                let mut chunks = encoder.encode(&event, &latency);
                if let Some(outcome) = outcome {
                    mark_final_chunk(&mut chunks, outcome);
                }
                chunks
                    .iter()
                    .map(|chunk| {
                        serde_json::to_vec(chunk)
                            .map_err(|e| GuardrailError::Validation(e.to_string()))
                    })
                    .collect()
            }
        };
        futures::stream::iter(chunks)
    })
}

/// Bedrock's guardrail members on the chunk that carries the invocation metrics.
fn mark_final_chunk(chunks: &mut [Value], outcome: GuardOutcome) {
    let last = chunks
        .iter_mut()
        .rev()
        .find(|c| c.get(INVOCATION_METRICS_KEY).is_some());
    if let Some(Value::Object(chunk)) = last {
        chunk.insert(
            "amazon-bedrock-guardrailAction".into(),
            json!(if outcome.intervened {
                "INTERVENED"
            } else {
                "NONE"
            }),
        );
        if let Some(trace) = outcome.trace {
            chunk.insert("amazon-bedrock-trace".into(), trace);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicBool, Ordering};

    use basalt_store::MetadataStore;
    use basalt_types::Role;

    use super::*;

    fn batches_of(deltas: &[&str]) -> Vec<String> {
        let mut batcher = Batcher::default();
        let mut out: Vec<String> = deltas.iter().flat_map(|d| batcher.push(d)).collect();
        out.extend(batcher.finish());
        out
    }

    #[test]
    fn batches_end_at_sentences_and_rejoin_to_the_text() {
        let first =
            "The weather is nice today and the sun is shining over the quiet green hills again.";
        let text = format!("{first} Short one. And the rest");
        assert!(first.chars().count() >= MIN_BATCH_CHARS);
        let whole = batches_of(&[&text]);
        assert_eq!(
            whole,
            vec![format!("{first} "), "Short one. And the rest".to_string()]
        );
        // Token by token, the same batches: a sentence end waits for the space after it.
        let tokens: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        assert_eq!(batches_of(&tokens), whole);
        // A point inside a number or a word is no sentence end.
        let numbers = format!(
            "{} pi is 3.14159 and e.g.this stays.",
            "x".repeat(MIN_BATCH_CHARS)
        );
        assert_eq!(batches_of(&[&numbers]), vec![numbers.clone()]);
    }

    #[test]
    fn long_text_without_sentences_is_cut_at_a_space() {
        let text = "word ".repeat(MAX_BATCH_CHARS / 5 * 2 + 3);
        let batches = batches_of(&[&text]);
        assert_eq!(batches.concat(), text);
        assert!(batches.len() >= 2, "{batches:?}");
        for batch in &batches[..batches.len() - 1] {
            assert!(batch.chars().count() <= MAX_BATCH_CHARS);
            assert!(batch.ends_with(' '), "{batch:?}");
        }
        let unbroken = "x".repeat(MAX_BATCH_CHARS + 10);
        let batches = batches_of(&[&unbroken]);
        assert_eq!(batches[0].chars().count(), MAX_BATCH_CHARS);
        assert_eq!(batches.concat(), unbroken);
        assert!(batches_of(&[]).is_empty());
    }

    async fn guardrails(config: Value) -> (Arc<Guardrails>, String) {
        let store = MetadataStore::in_memory().await.unwrap();
        let guardrails = Guardrails::new(store, "us-east-1", "000000000000");
        let mut input = json!({"name": "g", "blockedInputMessaging": "Blocked input.",
                               "blockedOutputsMessaging": "Blocked output."});
        input
            .as_object_mut()
            .unwrap()
            .extend(config.as_object().unwrap().clone());
        let id = guardrails.create_json(&input).await.unwrap()["guardrailId"]
            .as_str()
            .unwrap()
            .to_string();
        (Arc::new(guardrails), id)
    }

    fn guard(id: &str, mode: &str) -> InlineGuardrail {
        InlineGuardrail::from_converse(
            &json!({"guardrailIdentifier": id, "guardrailVersion": "DRAFT",
            "trace": "enabled", "streamProcessingMode": mode}),
        )
        .unwrap()
    }

    /// A model that says `deltas`, then (when `forever`) keeps talking; `dropped` is set when
    /// its stream is dropped.
    fn model(deltas: &[&str], forever: bool, dropped: Arc<AtomicBool>) -> EventStream {
        struct OnDrop(Arc<AtomicBool>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let mut events = vec![StreamEvent::MessageStart {
            role: Role::Assistant,
        }];
        events.extend(deltas.iter().map(|d| StreamEvent::ContentBlockDelta {
            index: 0,
            text: d.to_string(),
        }));
        let head = futures::stream::iter(events.into_iter().map(Ok));
        let marker = OnDrop(dropped);
        let tail: EventStream =
            if forever {
                Box::pin(futures::stream::unfold(marker, |marker| async move {
                    tokio::task::yield_now().await;
                    let delta = StreamEvent::ContentBlockDelta {
                        index: 0,
                        text: "and more words. ".into(),
                    };
                    Some((Ok(delta), marker))
                }))
            } else {
                let end = vec![
                    StreamEvent::ContentBlockStop { index: 0 },
                    StreamEvent::MessageStop {
                        stop_reason: StopReason::EndTurn,
                        stop_sequence: None,
                    },
                    StreamEvent::Metadata {
                        usage: TokenUsage::new(5, deltas.len() as u32),
                        metrics: Metrics { latency_ms: 1 },
                    },
                ];
                Box::pin(futures::stream::iter(end.into_iter().map(Ok)).chain(
                    futures::stream::unfold(marker, |_marker| async move { None }),
                ))
            };
        Box::pin(head.chain(tail))
    }

    async fn collect(stream: GuardedStream) -> (String, Vec<GuardedEvent>) {
        let events: Vec<GuardedEvent> = stream.map(|e| e.unwrap()).collect().await;
        let text = events
            .iter()
            .filter_map(|e| match &e.event {
                StreamEvent::ContentBlockDelta { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        (text, events)
    }

    fn stop_reason(events: &[GuardedEvent]) -> StopReason {
        events
            .iter()
            .find_map(|e| match e.event {
                StreamEvent::MessageStop { stop_reason, .. } => Some(stop_reason),
                _ => None,
            })
            .unwrap()
    }

    const SAFE: &str =
        "The weather is nice today and the sun is shining over the quiet green hills again. ";

    #[tokio::test]
    async fn sync_mode_never_sends_the_blocked_batch_and_stops_the_model() {
        let (guardrails, id) =
            guardrails(json!({"wordPolicyConfig": {"wordsConfig": [{"text": "swordfish"}]}})).await;
        let dropped = Arc::new(AtomicBool::new(false));
        let deltas = [SAFE, "My code word is sword", "fish. ", "Goodbye."];
        let stream = guardrails.guard_stream(
            &guard(&id, "sync"),
            TraceParts::default(),
            model(&deltas, true, dropped.clone()),
            7,
            Instant::now(),
        );
        let (text, events) = collect(stream).await;
        assert_eq!(text, format!("{SAFE}Blocked output."));
        assert!(!text.contains("swordfish"));
        assert_eq!(stop_reason(&events), StopReason::GuardrailIntervened);
        assert!(dropped.load(Ordering::SeqCst), "the model was not stopped");
        let last = events.last().unwrap();
        let StreamEvent::Metadata { usage, .. } = last.event else {
            panic!("{last:?}")
        };
        assert_eq!(usage.input_tokens, 7);
        let outcome = last.outcome.clone().unwrap();
        assert!(outcome.intervened);
        let assessments = &outcome.trace.unwrap()["guardrail"]["outputAssessments"][&id];
        // The safe batch passed, the next was blocked.
        assert_eq!(assessments.as_array().unwrap().len(), 2);
        assert_eq!(
            assessments[1]["wordPolicy"]["customWords"][0]["match"],
            "swordfish"
        );
    }

    #[tokio::test]
    async fn async_mode_sends_at_once_and_ends_with_the_intervention() {
        let (guardrails, id) =
            guardrails(json!({"wordPolicyConfig": {"wordsConfig": [{"text": "swordfish"}]}})).await;
        let dropped = Arc::new(AtomicBool::new(false));
        let deltas = [SAFE, "My code word is swordfish. ", "Goodbye."];
        let stream = guardrails.guard_stream(
            &guard(&id, "async"),
            TraceParts::default(),
            model(&deltas, true, dropped.clone()),
            7,
            Instant::now(),
        );
        let (text, events) = collect(stream).await;
        // What was sent before the check came back may hold the blocked word (Bedrock's
        // trade-off); the answer then ends with the blocked message.
        assert!(text.starts_with(SAFE), "{text}");
        assert!(text.ends_with("Blocked output."), "{text}");
        assert_eq!(stop_reason(&events), StopReason::GuardrailIntervened);
        assert!(events.last().unwrap().outcome.as_ref().unwrap().intervened);
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn benign_answers_pass_unchanged_in_both_modes() {
        let (guardrails, id) =
            guardrails(json!({"wordPolicyConfig": {"wordsConfig": [{"text": "swordfish"}]}})).await;
        let deltas = [SAFE, "Nothing to see here. ", "Goodbye", "."];
        for mode in ["sync", "async"] {
            let stream = guardrails.guard_stream(
                &guard(&id, mode),
                TraceParts::default(),
                model(&deltas, false, Arc::new(AtomicBool::new(false))),
                7,
                Instant::now(),
            );
            let (text, events) = collect(stream).await;
            assert_eq!(text, deltas.concat(), "{mode}");
            assert_eq!(stop_reason(&events), StopReason::EndTurn, "{mode}");
            let kinds: Vec<&str> = events
                .iter()
                .map(|e| match e.event {
                    StreamEvent::MessageStart { .. } => "start",
                    StreamEvent::ContentBlockDelta { .. } => "delta",
                    StreamEvent::ContentBlockStop { .. } => "blockStop",
                    StreamEvent::MessageStop { .. } => "stop",
                    StreamEvent::Metadata { .. } => "metadata",
                    _ => "other",
                })
                .collect();
            assert_eq!(kinds.first(), Some(&"start"));
            assert_eq!(kinds[kinds.len() - 3..], ["blockStop", "stop", "metadata"]);
            let outcome = events.last().unwrap().outcome.clone().unwrap();
            assert!(!outcome.intervened, "{mode}");
            let StreamEvent::Metadata { usage, .. } = events.last().unwrap().event else {
                panic!()
            };
            assert_eq!(usage, TokenUsage::new(5, deltas.len() as u32));
        }
    }

    #[tokio::test]
    async fn sync_mode_masks_and_async_mode_reports_only() {
        let (guardrails, id) = guardrails(json!({"sensitiveInformationPolicyConfig": {
            "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]}}))
        .await;
        let deltas = [SAFE, "Write to jane.doe@example.com today."];
        let run = |mode: &str| {
            guardrails.guard_stream(
                &guard(&id, mode),
                TraceParts::default(),
                model(&deltas, false, Arc::new(AtomicBool::new(false))),
                7,
                Instant::now(),
            )
        };
        let (text, events) = collect(run("sync")).await;
        assert_eq!(text, format!("{SAFE}Write to {{EMAIL}} today."));
        assert_eq!(stop_reason(&events), StopReason::GuardrailIntervened);
        let (text, events) = collect(run("async")).await;
        assert_eq!(text, deltas.concat());
        assert_eq!(stop_reason(&events), StopReason::EndTurn);
        let trace = events
            .last()
            .unwrap()
            .outcome
            .clone()
            .unwrap()
            .trace
            .unwrap();
        let found = &trace["guardrail"]["outputAssessments"][&id][1]["sensitiveInformationPolicy"];
        assert_eq!(found["piiEntities"][0]["type"], "EMAIL");
    }

    #[test]
    fn relevance_blocks_alone_only_without_other_blocks() {
        let filters = |relevance: Value| {
            json!({"contextualGroundingPolicy": {"filters": [
                {"type": "GROUNDING", "threshold": 0.5, "score": 0.9, "action": "NONE", "detected": false},
                relevance]}})
        };
        let irrelevant = json!({"type": "RELEVANCE", "threshold": 0.5, "score": 0.1, "action": "BLOCKED", "detected": true});
        assert_eq!(
            relevance(&filters(irrelevant.clone())),
            Some(Relevance::BlocksAlone)
        );
        let mut also_words = filters(irrelevant);
        also_words["wordPolicy"] =
            json!({"customWords": [{"match": "x", "action": "BLOCKED", "detected": true}]});
        assert_eq!(relevance(&also_words), Some(Relevance::Irrelevant));
        let relevant = json!({"type": "RELEVANCE", "threshold": 0.5, "score": 0.9, "action": "NONE", "detected": false});
        assert_eq!(relevance(&filters(relevant)), Some(Relevance::Relevant));
        assert_eq!(relevance(&json!({})), None);
    }

    #[test]
    fn the_final_chunk_carries_the_guardrail_action_and_trace() {
        let mut chunks = vec![
            json!({"type": "message_delta"}),
            json!({"type": "message_stop", INVOCATION_METRICS_KEY: {"inputTokenCount": 1}}),
        ];
        mark_final_chunk(
            &mut chunks,
            GuardOutcome {
                intervened: true,
                trace: Some(json!({"guardrail": {}})),
            },
        );
        assert!(chunks[0].get("amazon-bedrock-guardrailAction").is_none());
        assert_eq!(chunks[1]["amazon-bedrock-guardrailAction"], "INTERVENED");
        assert_eq!(chunks[1]["amazon-bedrock-trace"], json!({"guardrail": {}}));
    }
}
