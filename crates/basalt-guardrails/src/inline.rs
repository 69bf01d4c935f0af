//! Guardrails inline on model calls: Converse / ConverseStream `guardrailConfig` and InvokeModel's
//! `X-Amzn-Bedrock-GuardrailIdentifier` / `-GuardrailVersion` / `-Trace` headers.
//!
//! The input is checked first (source INPUT): when `guardContent` blocks are present only they
//! are, else every text block of `messages`. A BLOCK answers the blocked-input message without
//! calling the model (stop reason `guardrail_intervened`, no tokens); an ANONYMIZE sends the
//! masked text to the model. The model's text answer is then checked (source OUTPUT): a BLOCK
//! replaces it with the blocked-output message, an ANONYMIZE with the masked text, both with stop
//! reason `guardrail_intervened`. With trace enabled the answer carries
//! `trace.guardrail.{inputAssessment, outputAssessments}` keyed by guardrail id (and
//! `modelOutput`, the unguarded answer, with `enabled_full`).
//!
//! Streams are checked on the whole answer before any of it is sent (what Bedrock's `sync`
//! processing mode promises); `async` is served the same way, so nothing unchecked ever leaves.

use std::time::Instant;

use basalt_models::{BedrockRuntime, InvokeFormat, InvokeOutput, ModelError};
use basalt_types::{
    ContentBlock, ConverseOutput, ConverseRequest, Message, Metrics, Role, StopReason, StreamEvent,
    SystemContentBlock, TokenUsage,
};
use futures::StreamExt;
use serde_json::{json, Map, Value};

use crate::service::Guardrails;
use crate::{GuardrailError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trace {
    Disabled,
    Enabled,
    Full,
}

/// The guardrail a model call names.
#[derive(Debug, Clone)]
pub struct InlineGuardrail {
    identifier: String,
    version: String,
    trace: Trace,
}

impl InlineGuardrail {
    /// Converse's `guardrailConfig` (GuardrailConfiguration / GuardrailStreamConfiguration).
    pub fn from_converse(config: &Value) -> Result<Self> {
        let member = |name: &str| {
            config
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    GuardrailError::Validation(format!("guardrailConfig.{name} is required."))
                })
        };
        let trace = match config.get("trace").and_then(Value::as_str) {
            None | Some("disabled") => Trace::Disabled,
            Some("enabled") => Trace::Enabled,
            Some("enabled_full") => Trace::Full,
            Some(other) => {
                return Err(GuardrailError::Validation(format!(
                    "guardrailConfig.trace must be enabled, disabled or enabled_full; got {other}."
                )))
            }
        };
        Ok(InlineGuardrail {
            identifier: member("guardrailIdentifier")?.to_string(),
            version: member("guardrailVersion")?.to_string(),
            trace,
        })
    }

    /// InvokeModel's headers; `None` when the call names no guardrail.
    pub fn from_invoke(input: &Value) -> Result<Option<Self>> {
        let header = |name: &str| input.get(name).and_then(Value::as_str);
        let (identifier, version) = match (header("guardrailIdentifier"), header("guardrailVersion")) {
            (None, None) => return Ok(None),
            (Some(identifier), Some(version)) => (identifier, version),
            _ => {
                return Err(GuardrailError::Validation(
                    "X-Amzn-Bedrock-GuardrailIdentifier and X-Amzn-Bedrock-GuardrailVersion go together: set both or neither.".into(),
                ))
            }
        };
        let trace = match header("trace") {
            None | Some("DISABLED") => Trace::Disabled,
            Some("ENABLED") => Trace::Enabled,
            Some("ENABLED_FULL") => Trace::Full,
            Some(other) => {
                return Err(GuardrailError::Validation(format!(
                    "X-Amzn-Bedrock-Trace must be ENABLED, DISABLED or ENABLED_FULL; got {other}."
                )))
            }
        };
        Ok(Some(InlineGuardrail {
            identifier: identifier.to_string(),
            version: version.to_string(),
            trace,
        }))
    }
}

/// `guardContent` marks what a guardrail should check; without a guardrail it means nothing,
/// and Bedrock refuses it.
pub fn refuse_guard_content_without_guardrail(request: &ConverseRequest) -> Result<()> {
    let in_messages = request.messages.iter().any(|m| {
        m.content
            .iter()
            .any(|b| matches!(b, ContentBlock::GuardContent(_)))
    });
    let in_system = request
        .system
        .iter()
        .any(|b| matches!(b, SystemContentBlock::GuardContent(_)));
    if (in_messages || in_system) && request.guardrail_config.is_none() {
        return Err(GuardrailError::Validation(
            "guardContent blocks need a guardrail: set guardrailConfig, or send the content as text blocks.".into(),
        ));
    }
    Ok(())
}

/// A guarded answer and its trace (present when the call asked for one).
#[derive(Debug, Clone)]
pub struct GuardedOutput {
    pub output: ConverseOutput,
    pub trace: Option<Value>,
    /// Whether the guardrail intervened on the input or the output.
    pub intervened: bool,
}

/// Where a guarded input text lives in the request.
#[derive(Debug, Clone, Copy)]
enum Place {
    Message(usize, usize),
    System(usize),
}

/// What the input check decided.
enum InputVerdict {
    Blocked { message: String },
    Proceed { request: Box<ConverseRequest> },
}

/// Trace pieces gathered along the call.
#[derive(Default)]
struct TraceParts {
    input: Option<Value>,
    output: Option<Value>,
    model_output: Vec<String>,
}

impl Guardrails {
    /// Converse with a guardrail.
    pub async fn converse(
        &self,
        runtime: &BedrockRuntime,
        model_id: &str,
        request: ConverseRequest,
        guard: &InlineGuardrail,
    ) -> Result<GuardedOutput> {
        let started = Instant::now();
        let mut parts = TraceParts::default();
        let request = match self.check_input(guard, request, &mut parts).await? {
            InputVerdict::Blocked { message } => {
                return Ok(GuardedOutput {
                    output: blocked_output(message, started),
                    trace: self.trace(guard, parts),
                    intervened: true,
                })
            }
            InputVerdict::Proceed { request } => *request,
        };
        let input_intervened = parts.input.as_ref().is_some_and(intervened);
        let mut output = runtime.converse(model_id, request).await?;
        let output_intervened = self.check_output(guard, &mut output, &mut parts).await?;
        Ok(GuardedOutput {
            output,
            trace: self.trace(guard, parts),
            intervened: input_intervened || output_intervened,
        })
    }

    /// ConverseStream with a guardrail: the events to send, and the trace for the `metadata`
    /// event. The whole answer is checked before the first event is sent.
    pub async fn converse_stream(
        &self,
        runtime: &BedrockRuntime,
        model_id: &str,
        request: ConverseRequest,
        guard: &InlineGuardrail,
    ) -> Result<(Vec<StreamEvent>, Option<Value>)> {
        let started = Instant::now();
        let mut parts = TraceParts::default();
        let request = match self.check_input(guard, request, &mut parts).await? {
            InputVerdict::Blocked { message } => {
                let output = blocked_output(message, started);
                return Ok((events_of(&output), self.trace(guard, parts)));
            }
            InputVerdict::Proceed { request } => *request,
        };
        let mut stream = runtime.converse_stream(model_id, request).await?;
        let mut events = Vec::new();
        while let Some(event) = stream.next().await {
            events.push(event?);
        }
        // The text of each block, in block order.
        let mut texts: Vec<(u32, String)> = Vec::new();
        for event in &events {
            if let StreamEvent::ContentBlockDelta { index, text } = event {
                match texts.iter_mut().find(|(i, _)| i == index) {
                    Some((_, t)) => t.push_str(text),
                    None => texts.push((*index, text.clone())),
                }
            }
        }
        if texts.is_empty() {
            return Ok((events, self.trace(guard, parts)));
        }
        let originals: Vec<String> = texts.iter().map(|(_, t)| t.clone()).collect();
        let answer = self.apply_texts(guard, "OUTPUT", &originals).await?;
        parts.model_output = originals;
        let verdict = verdict(&answer);
        parts.output = Some(answer["assessments"][0].clone());
        let events = match verdict {
            Verdict::Pass => events,
            Verdict::Blocked(message) => {
                let usage = events.iter().find_map(|e| match e {
                    StreamEvent::Metadata { usage, .. } => Some(*usage),
                    _ => None,
                });
                let mut output = blocked_output(message, started);
                output.usage = usage.unwrap_or_default();
                events_of(&output)
            }
            Verdict::Masked(masked) => {
                let mut sent = vec![false; texts.len()];
                let mut out = Vec::with_capacity(events.len());
                for event in events {
                    match event {
                        StreamEvent::ContentBlockDelta { index, .. } => {
                            if let Some(k) = texts.iter().position(|(i, _)| *i == index) {
                                if !sent[k] {
                                    sent[k] = true;
                                    out.push(StreamEvent::ContentBlockDelta {
                                        index,
                                        text: masked.get(k).cloned().unwrap_or_default(),
                                    });
                                }
                            }
                        }
                        StreamEvent::MessageStop { .. } => out.push(StreamEvent::MessageStop {
                            stop_reason: StopReason::GuardrailIntervened,
                            stop_sequence: None,
                        }),
                        other => out.push(other),
                    }
                }
                out
            }
        };
        Ok((events, self.trace(guard, parts)))
    }

    /// InvokeModel with a guardrail: the body is read with the model's own format, guarded as a
    /// Converse call, and answered in that format with Bedrock's `amazon-bedrock-guardrailAction`
    /// (and `amazon-bedrock-trace` when asked).
    pub async fn invoke_model(
        &self,
        runtime: &BedrockRuntime,
        model_id: &str,
        body: &[u8],
        guard: &InlineGuardrail,
    ) -> Result<InvokeOutput> {
        let started = Instant::now();
        let (model, _) = runtime.catalog().resolve(model_id)?;
        let Some(InvokeFormat::Chat(format)) = model.body_format else {
            return Err(GuardrailError::Validation(format!(
                "Guardrails apply to text generation; {} is not a text model.",
                model.model_id
            )));
        };
        let request = basalt_codecs::decode_request(format, body).map_err(ModelError::from)?;
        let guarded = self.converse(runtime, model_id, request, guard).await?;
        let mut answer = basalt_codecs::encode_response(format, &guarded.output, &model.model_id);
        if let Some(object) = answer.as_object_mut() {
            object.insert(
                "amazon-bedrock-guardrailAction".into(),
                json!(if guarded.intervened {
                    "INTERVENED"
                } else {
                    "NONE"
                }),
            );
            if let Some(trace) = guarded.trace {
                object.insert("amazon-bedrock-trace".into(), trace);
            }
        }
        Ok(InvokeOutput {
            body: serde_json::to_vec(&answer)
                .map_err(|e| GuardrailError::Validation(e.to_string()))?,
            input_tokens: guarded.output.usage.input_tokens,
            output_tokens: guarded.output.usage.output_tokens,
            latency_ms: started.elapsed().as_millis() as u64,
        })
    }

    async fn check_input(
        &self,
        guard: &InlineGuardrail,
        mut request: ConverseRequest,
        parts: &mut TraceParts,
    ) -> Result<InputVerdict> {
        request.guardrail_config = None;
        let (places, texts) = input_texts(&request);
        let masked = if texts.is_empty() {
            // Nothing to check, but the guardrail must exist.
            self.get(&guard.identifier, Some(&guard.version)).await?;
            None
        } else {
            let answer = self.apply_texts(guard, "INPUT", &texts).await?;
            let verdict = verdict(&answer);
            parts.input = Some(answer["assessments"][0].clone());
            match verdict {
                Verdict::Blocked(message) => return Ok(InputVerdict::Blocked { message }),
                Verdict::Masked(masked) => Some(masked),
                Verdict::Pass => None,
            }
        };
        let text_at = |k: usize| masked.as_ref().and_then(|m| m.get(k).cloned());
        for (k, place) in places.iter().enumerate() {
            let replacement = text_at(k).unwrap_or_else(|| texts[k].clone());
            match *place {
                Place::Message(i, j) => {
                    request.messages[i].content[j] = ContentBlock::Text(replacement)
                }
                Place::System(i) => request.system[i] = SystemContentBlock::Text(replacement),
            }
        }
        Ok(InputVerdict::Proceed {
            request: Box::new(request),
        })
    }

    /// Checks the answer's text blocks; whether the guardrail intervened.
    async fn check_output(
        &self,
        guard: &InlineGuardrail,
        output: &mut ConverseOutput,
        parts: &mut TraceParts,
    ) -> Result<bool> {
        let positions: Vec<usize> = output
            .message
            .content
            .iter()
            .enumerate()
            .filter(|(_, b)| b.as_text().is_some())
            .map(|(i, _)| i)
            .collect();
        if positions.is_empty() {
            return Ok(false);
        }
        let texts: Vec<String> = positions
            .iter()
            .filter_map(|&i| output.message.content[i].as_text().map(str::to_string))
            .collect();
        let answer = self.apply_texts(guard, "OUTPUT", &texts).await?;
        parts.model_output = texts;
        let verdict = verdict(&answer);
        parts.output = Some(answer["assessments"][0].clone());
        match verdict {
            Verdict::Pass => Ok(false),
            Verdict::Blocked(message) => {
                output.message.content = vec![ContentBlock::Text(message)];
                output.stop_reason = StopReason::GuardrailIntervened;
                output.stop_sequence = None;
                Ok(true)
            }
            Verdict::Masked(masked) => {
                for (k, &i) in positions.iter().enumerate() {
                    if let Some(text) = masked.get(k) {
                        output.message.content[i] = ContentBlock::Text(text.clone());
                    }
                }
                output.stop_reason = StopReason::GuardrailIntervened;
                output.stop_sequence = None;
                Ok(true)
            }
        }
    }

    /// One text checked as `source` (`INPUT` or `OUTPUT`) against a guardrail version, for
    /// callers that guard text of their own (RetrieveAndGenerate's question and answer). An
    /// unknown guardrail or version is `NotFound`.
    pub async fn check_text(
        &self,
        identifier: &str,
        version: &str,
        source: &str,
        text: &str,
    ) -> Result<TextVerdict> {
        let answer = self
            .apply(
                identifier,
                version,
                &json!({"source": source, "content": [{"text": {"text": text}}]}),
            )
            .await?;
        Ok(match verdict(&answer) {
            Verdict::Pass => TextVerdict::Pass,
            Verdict::Blocked(message) => TextVerdict::Blocked(message),
            Verdict::Masked(masked) => {
                TextVerdict::Masked(masked.into_iter().next().unwrap_or_default())
            }
        })
    }

    async fn apply_texts(
        &self,
        guard: &InlineGuardrail,
        source: &str,
        texts: &[String],
    ) -> Result<Value> {
        let content: Vec<Value> = texts.iter().map(|t| json!({"text": {"text": t}})).collect();
        self.apply(
            &guard.identifier,
            &guard.version,
            &json!({"source": source, "content": content}),
        )
        .await
    }

    fn trace(&self, guard: &InlineGuardrail, parts: TraceParts) -> Option<Value> {
        if guard.trace == Trace::Disabled {
            return None;
        }
        let id = guard
            .identifier
            .rsplit_once(":guardrail/")
            .map_or(guard.identifier.as_str(), |(_, id)| id);
        let mut trace = Map::new();
        if let Some(input) = parts.input {
            trace.insert("inputAssessment".into(), json!({ id: input }));
        }
        if let Some(output) = parts.output {
            trace.insert("outputAssessments".into(), json!({ id: [output] }));
        }
        if guard.trace == Trace::Full && !parts.model_output.is_empty() {
            trace.insert("modelOutput".into(), json!(parts.model_output));
        }
        Some(json!({ "guardrail": trace }))
    }
}

/// What a guardrail decided on one text ([`Guardrails::check_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextVerdict {
    /// Nothing to do: the text goes on as it is.
    Pass,
    /// Blocked: the guardrail's blocked message for that side replaces it.
    Blocked(String),
    /// Sensitive information masked: the masked text replaces it.
    Masked(String),
}

enum Verdict {
    Pass,
    Blocked(String),
    Masked(Vec<String>),
}

/// ApplyGuardrail's answer read back: pass, blocked (with the message), or masked texts.
fn verdict(answer: &Value) -> Verdict {
    if answer["action"] != "GUARDRAIL_INTERVENED" {
        return Verdict::Pass;
    }
    let outputs: Vec<String> = answer["outputs"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|t| t["text"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    if has_blocked(&answer["assessments"]) {
        Verdict::Blocked(outputs.into_iter().next().unwrap_or_default())
    } else {
        Verdict::Masked(outputs)
    }
}

fn intervened(assessment: &Value) -> bool {
    has_action(assessment, &["BLOCKED", "ANONYMIZED"])
}

fn has_blocked(value: &Value) -> bool {
    has_action(value, &["BLOCKED"])
}

fn has_action(value: &Value, actions: &[&str]) -> bool {
    match value {
        Value::Object(o) => o.iter().any(|(k, v)| {
            (k == "action" && v.as_str().is_some_and(|a| actions.contains(&a)))
                || has_action(v, actions)
        }),
        Value::Array(a) => a.iter().any(|v| has_action(v, actions)),
        _ => false,
    }
}

/// The texts the input check reads: the `guardContent` blocks when there are any (in messages
/// and system), else every text block of the messages.
fn input_texts(request: &ConverseRequest) -> (Vec<Place>, Vec<String>) {
    let mut places = Vec::new();
    let mut texts = Vec::new();
    let guard_text = |v: &Value| {
        v.pointer("/text/text")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    for (i, block) in request.system.iter().enumerate() {
        if let SystemContentBlock::GuardContent(v) = block {
            if let Some(text) = guard_text(v) {
                places.push(Place::System(i));
                texts.push(text);
            }
        }
    }
    for (i, message) in request.messages.iter().enumerate() {
        for (j, block) in message.content.iter().enumerate() {
            if let ContentBlock::GuardContent(v) = block {
                if let Some(text) = guard_text(v) {
                    places.push(Place::Message(i, j));
                    texts.push(text);
                }
            }
        }
    }
    if !places.is_empty() {
        return (places, texts);
    }
    for (i, message) in request.messages.iter().enumerate() {
        for (j, block) in message.content.iter().enumerate() {
            if let ContentBlock::Text(text) = block {
                places.push(Place::Message(i, j));
                texts.push(text.clone());
            }
        }
    }
    (places, texts)
}

fn blocked_output(message: String, started: Instant) -> ConverseOutput {
    ConverseOutput {
        message: Message {
            role: Role::Assistant,
            content: vec![ContentBlock::Text(message)],
        },
        stop_reason: StopReason::GuardrailIntervened,
        stop_sequence: None,
        usage: TokenUsage::default(),
        metrics: Metrics {
            latency_ms: started.elapsed().as_millis() as u64,
        },
    }
}

/// A finished text answer as the stream events that carry it.
fn events_of(output: &ConverseOutput) -> Vec<StreamEvent> {
    vec![
        StreamEvent::MessageStart {
            role: Role::Assistant,
        },
        StreamEvent::ContentBlockDelta {
            index: 0,
            text: output.text(),
        },
        StreamEvent::ContentBlockStop { index: 0 },
        StreamEvent::MessageStop {
            stop_reason: output.stop_reason,
            stop_sequence: None,
        },
        StreamEvent::Metadata {
            usage: output.usage,
            metrics: output.metrics,
        },
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn guard_content_is_what_gets_checked_when_present() {
        let request: ConverseRequest = serde_json::from_value(json!({"messages": [
            {"role": "user", "content": [{"text": "context"}, {"guardContent": {"text": {"text": "check me"}}}]}]}))
        .unwrap();
        let (_, texts) = input_texts(&request);
        assert_eq!(texts, vec!["check me"]);
        assert!(refuse_guard_content_without_guardrail(&request).is_err());
        let plain: ConverseRequest = serde_json::from_value(json!({"messages": [
            {"role": "user", "content": [{"text": "a"}]}, {"role": "assistant", "content": [{"text": "b"}]}]}))
        .unwrap();
        assert_eq!(input_texts(&plain).1, vec!["a", "b"]);
        assert!(refuse_guard_content_without_guardrail(&plain).is_ok());
    }

    #[test]
    fn configurations_are_read_from_converse_and_headers() {
        let g = InlineGuardrail::from_converse(
            &json!({"guardrailIdentifier": "abc", "guardrailVersion": "1", "trace": "enabled"}),
        )
        .unwrap();
        assert_eq!(g.trace, Trace::Enabled);
        assert!(InlineGuardrail::from_converse(&json!({"guardrailIdentifier": "abc"})).is_err());
        assert!(InlineGuardrail::from_invoke(&json!({})).unwrap().is_none());
        assert!(InlineGuardrail::from_invoke(&json!({"guardrailIdentifier": "abc"})).is_err());
        let g = InlineGuardrail::from_invoke(
            &json!({"guardrailIdentifier": "abc", "guardrailVersion": "DRAFT", "trace": "ENABLED"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(g.trace, Trace::Enabled);
    }
}
