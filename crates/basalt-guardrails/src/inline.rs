//! Guardrails inline on model calls: Converse / ConverseStream `guardrailConfig` and InvokeModel's
//! `X-Amzn-Bedrock-GuardrailIdentifier` / `-GuardrailVersion` / `-Trace` headers.
//!
//! The input is checked first (source INPUT): when `guardContent` blocks are present only they
//! are, when an InvokeModel prompt has input tags (`tagSuffix`) only the tagged parts are
//! (`input_tags`), else every text block of `messages`. A BLOCK answers the blocked-input message without
//! calling the model (stop reason `guardrail_intervened`, no tokens); an ANONYMIZE sends the
//! masked text to the model. The model's text answer is then checked (source OUTPUT): a BLOCK
//! replaces it with the blocked-output message, an ANONYMIZE with the masked text, both with stop
//! reason `guardrail_intervened`. With trace enabled the answer carries
//! `trace.guardrail.{inputAssessment, outputAssessments}` keyed by guardrail id (and
//! `modelOutput`, the unguarded answer, with `enabled_full`).
//!
//! `guardContent` blocks qualified `grounding_source` or `query` are also kept as the references
//! the answer's contextual grounding is judged against (see `grounding`).
//!
//! Streams (ConverseStream, InvokeModelWithResponseStream) are checked in batches as the answer
//! is generated, in Bedrock's `sync` or `async` processing mode: see `streaming`.

use std::time::Instant;

use basalt_models::{BedrockRuntime, InvokeFormat, InvokeOutput, ModelError};
use basalt_types::{
    ContentBlock, ConverseOutput, ConverseRequest, Message, Metrics, Role, StopReason, StreamEvent,
    SystemContentBlock, TokenUsage,
};
use serde_json::{json, Map, Value};

use crate::input_tags::{self, Piece};
use crate::service::Guardrails;
use crate::streaming::StreamMode;
use crate::{GuardrailError, Result};

/// The member of an InvokeModel body that carries Bedrock's inline guardrail settings.
const BODY_CONFIG: &str = "amazon-bedrock-guardrailConfig";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trace {
    Disabled,
    Enabled,
    Full,
}

/// The guardrail a model call names.
#[derive(Debug, Clone)]
pub struct InlineGuardrail {
    identifier: String,
    version: String,
    pub(crate) trace: Trace,
    /// How a streamed answer is checked; `sync` unless the call asks otherwise.
    pub(crate) mode: StreamMode,
    /// InvokeModel's `tagSuffix`: when the prompt holds input tags with it, only the tagged
    /// parts are checked (see `input_tags`).
    tag_suffix: Option<String>,
}

impl InlineGuardrail {
    /// The guardrail's identifier (an id or ARN), as the call named it.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

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
        // GuardrailStreamConfiguration only; Converse's GuardrailConfiguration has no such member.
        let mode = match config.get("streamProcessingMode").and_then(Value::as_str) {
            None | Some("sync") => StreamMode::Sync,
            Some("async") => StreamMode::Async,
            Some(other) => {
                return Err(GuardrailError::Validation(format!(
                    "guardrailConfig.streamProcessingMode must be sync or async; got {other}."
                )))
            }
        };
        Ok(InlineGuardrail {
            identifier: member("guardrailIdentifier")?.to_string(),
            version: member("guardrailVersion")?.to_string(),
            trace,
            mode,
            tag_suffix: None,
        })
    }

    /// InvokeModel's `X-Amzn-Bedrock-GuardrailIdentifier`, `-GuardrailVersion` and `-Trace`
    /// headers; `None` when the call names no guardrail.
    pub fn from_invoke(
        identifier: Option<&str>,
        version: Option<&str>,
        trace: Option<&str>,
    ) -> Result<Option<Self>> {
        let (identifier, version) = match (identifier, version) {
            (None, None) => return Ok(None),
            (Some(identifier), Some(version)) => (identifier, version),
            _ => {
                return Err(GuardrailError::Validation(
                    "X-Amzn-Bedrock-GuardrailIdentifier and X-Amzn-Bedrock-GuardrailVersion go together: set both or neither.".into(),
                ))
            }
        };
        let trace = match trace {
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
            mode: StreamMode::Sync,
            tag_suffix: None,
        }))
    }

    /// Reads and removes the body's `amazon-bedrock-guardrailConfig` (the model's own format
    /// knows nothing of it): `streamProcessingMode` SYNCHRONOUS (the default) or ASYNCHRONOUS,
    /// and `tagSuffix`, the suffix of the prompt's input tags. The body comes back as it was
    /// when it has no such member.
    pub fn take_body_config(&mut self, body: &[u8]) -> Result<Vec<u8>> {
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
            // Not a JSON object: the model's format reports that in its own words.
            return Ok(body.to_vec());
        };
        let Some(config) = object.remove(BODY_CONFIG) else {
            return Ok(body.to_vec());
        };
        let Value::Object(config) = config else {
            return Err(GuardrailError::Validation(format!(
                "{BODY_CONFIG} must be an object."
            )));
        };
        for (key, value) in &config {
            match (key.as_str(), value.as_str()) {
                ("streamProcessingMode", Some("SYNCHRONOUS")) => self.mode = StreamMode::Sync,
                ("streamProcessingMode", Some("ASYNCHRONOUS")) => self.mode = StreamMode::Async,
                ("streamProcessingMode", _) => {
                    return Err(GuardrailError::Validation(format!(
                        "{BODY_CONFIG}.streamProcessingMode must be SYNCHRONOUS or ASYNCHRONOUS."
                    )))
                }
                ("tagSuffix", Some(suffix)) => {
                    input_tags::validate_suffix(suffix)?;
                    self.tag_suffix = Some(suffix.to_string());
                }
                ("tagSuffix", _) => {
                    return Err(GuardrailError::Validation(format!(
                        "{BODY_CONFIG}.tagSuffix must be a string."
                    )))
                }
                (other, _) => {
                    return Err(GuardrailError::Validation(format!(
                        "{BODY_CONFIG}: unknown member {other}."
                    )))
                }
            }
        }
        serde_json::to_vec(&object).map_err(|e| GuardrailError::Validation(e.to_string()))
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
pub(crate) enum InputVerdict {
    Blocked { message: String },
    Proceed { request: Box<ConverseRequest> },
}

/// A `guardContent` text qualified `grounding_source` or `query`: what the answer's
/// contextual grounding is judged against.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    text: String,
    qualifiers: Vec<String>,
}

/// Trace pieces gathered along the call, and the references the output is checked with.
#[derive(Default)]
pub(crate) struct TraceParts {
    pub input: Option<Value>,
    /// One assessment per output check (a streamed answer is checked in batches).
    pub outputs: Vec<Value>,
    pub model_output: Vec<String>,
    pub references: Vec<Reference>,
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
        let mut guard = guard.clone();
        let body = guard.take_body_config(body)?;
        let request = basalt_codecs::decode_request(format, &body).map_err(ModelError::from)?;
        let guarded = self.converse(runtime, model_id, request, &guard).await?;
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

    pub(crate) async fn check_input(
        &self,
        guard: &InlineGuardrail,
        mut request: ConverseRequest,
        parts: &mut TraceParts,
    ) -> Result<InputVerdict> {
        request.guardrail_config = None;
        if let Some(suffix) = guard.tag_suffix.as_deref() {
            let tagged = tagged_texts(&request, suffix)?;
            if !tagged.is_empty() {
                return self.check_tagged_input(guard, request, tagged, parts).await;
            }
        }
        let (places, texts, qualifiers) = input_texts(&request);
        let masked = if texts.is_empty() {
            // Nothing to check, but the guardrail must exist.
            self.get_record(&guard.identifier, Some(&guard.version))
                .await?;
            None
        } else {
            let answer = self.apply_texts(guard, "INPUT", &texts, &[]).await?;
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
            if qualifiers[k]
                .iter()
                .any(|q| q == "grounding_source" || q == "query")
            {
                // What the model reads (masked, if it was) is what its answer is judged against.
                parts.references.push(Reference {
                    text: replacement.clone(),
                    qualifiers: qualifiers[k].clone(),
                });
            }
            set_text(&mut request, *place, replacement);
        }
        Ok(InputVerdict::Proceed {
            request: Box::new(request),
        })
    }

    /// The input check when the prompt has input tags: only the tagged parts are checked, and
    /// the model reads the prompt without its tags, the tagged parts masked if they were.
    async fn check_tagged_input(
        &self,
        guard: &InlineGuardrail,
        mut request: ConverseRequest,
        tagged: Vec<(Place, Vec<Piece>)>,
        parts: &mut TraceParts,
    ) -> Result<InputVerdict> {
        let texts: Vec<String> = tagged
            .iter()
            .flat_map(|(_, pieces)| pieces)
            .filter_map(|piece| match piece {
                Piece::Tagged(text) => Some(text.clone()),
                Piece::Plain(_) => None,
            })
            .collect();
        let answer = self.apply_texts(guard, "INPUT", &texts, &[]).await?;
        parts.input = Some(answer["assessments"][0].clone());
        let checked = match verdict(&answer) {
            Verdict::Blocked(message) => return Ok(InputVerdict::Blocked { message }),
            Verdict::Masked(masked) => masked,
            Verdict::Pass => texts,
        };
        let mut checked = checked.iter().map(String::as_str);
        for (place, pieces) in &tagged {
            set_text(&mut request, *place, input_tags::join(pieces, &mut checked));
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
        let answer = self
            .apply_texts(guard, "OUTPUT", &texts, &parts.references)
            .await?;
        parts.model_output = texts;
        let verdict = verdict(&answer);
        parts.outputs.push(answer["assessments"][0].clone());
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
    /// callers that guard text of their own (RetrieveAndGenerate's question and answer). With
    /// `grounding` (the grounding source, the query), a contextual grounding policy scores the
    /// text against them. An unknown guardrail or version is `NotFound`.
    pub async fn check_text(
        &self,
        identifier: &str,
        version: &str,
        source: &str,
        text: &str,
        grounding: Option<(&str, &str)>,
    ) -> Result<TextVerdict> {
        let content = match grounding {
            None => json!([{"text": {"text": text}}]),
            Some((grounding_source, query)) => json!([
                {"text": {"text": text, "qualifiers": ["guard_content"]}},
                {"text": {"text": grounding_source, "qualifiers": ["grounding_source"]}},
                {"text": {"text": query, "qualifiers": ["query"]}},
            ]),
        };
        let answer = self
            .apply(
                identifier,
                version,
                &json!({"source": source, "content": content}),
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

    /// ApplyGuardrail over `texts` as `source`; with references, the texts are marked
    /// `guard_content` beside the `grounding_source` and `query` blocks.
    pub(crate) async fn apply_texts(
        &self,
        guard: &InlineGuardrail,
        source: &str,
        texts: &[String],
        references: &[Reference],
    ) -> Result<Value> {
        let mut content: Vec<Value> = texts
            .iter()
            .map(|t| {
                if references.is_empty() {
                    json!({"text": {"text": t}})
                } else {
                    json!({"text": {"text": t, "qualifiers": ["guard_content"]}})
                }
            })
            .collect();
        content.extend(
            references
                .iter()
                .map(|r| json!({"text": {"text": r.text, "qualifiers": r.qualifiers}})),
        );
        self.apply(
            &guard.identifier,
            &guard.version,
            &json!({"source": source, "content": content}),
        )
        .await
    }

    pub(crate) fn trace(&self, guard: &InlineGuardrail, parts: TraceParts) -> Option<Value> {
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
        if !parts.outputs.is_empty() {
            trace.insert("outputAssessments".into(), json!({ id: parts.outputs }));
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

pub(crate) enum Verdict {
    Pass,
    Blocked(String),
    Masked(Vec<String>),
}

/// ApplyGuardrail's answer read back: pass, blocked (with the message), or masked texts.
pub(crate) fn verdict(answer: &Value) -> Verdict {
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

pub(crate) fn intervened(assessment: &Value) -> bool {
    has_action(assessment, &["BLOCKED", "ANONYMIZED"])
}

pub(crate) fn has_blocked(value: &Value) -> bool {
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
/// and system), else every text block of the messages; with each, its qualifiers.
fn input_texts(request: &ConverseRequest) -> (Vec<Place>, Vec<String>, Vec<Vec<String>>) {
    let mut places = Vec::new();
    let mut texts = Vec::new();
    let mut qualifiers = Vec::new();
    let guard_text = |v: &Value| {
        let text = v.pointer("/text/text").and_then(Value::as_str)?.to_string();
        let marks = v
            .pointer("/text/qualifiers")
            .and_then(Value::as_array)
            .map(|q| {
                q.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Some((text, marks))
    };
    for (i, block) in request.system.iter().enumerate() {
        if let SystemContentBlock::GuardContent(v) = block {
            if let Some((text, marks)) = guard_text(v) {
                places.push(Place::System(i));
                texts.push(text);
                qualifiers.push(marks);
            }
        }
    }
    for (i, message) in request.messages.iter().enumerate() {
        for (j, block) in message.content.iter().enumerate() {
            if let ContentBlock::GuardContent(v) = block {
                if let Some((text, marks)) = guard_text(v) {
                    places.push(Place::Message(i, j));
                    texts.push(text);
                    qualifiers.push(marks);
                }
            }
        }
    }
    if !places.is_empty() {
        return (places, texts, qualifiers);
    }
    for (i, message) in request.messages.iter().enumerate() {
        for (j, block) in message.content.iter().enumerate() {
            if let ContentBlock::Text(text) = block {
                places.push(Place::Message(i, j));
                texts.push(text.clone());
                qualifiers.push(Vec::new());
            }
        }
    }
    (places, texts, qualifiers)
}

/// The system and message text blocks that hold input tags with `suffix`, cut at the tags.
fn tagged_texts(request: &ConverseRequest, suffix: &str) -> Result<Vec<(Place, Vec<Piece>)>> {
    let system = request
        .system
        .iter()
        .enumerate()
        .filter_map(|(i, block)| match block {
            SystemContentBlock::Text(text) => Some((Place::System(i), text)),
            _ => None,
        });
    let messages = request
        .messages
        .iter()
        .enumerate()
        .flat_map(|(i, message)| {
            message
                .content
                .iter()
                .enumerate()
                .filter_map(move |(j, block)| match block {
                    ContentBlock::Text(text) => Some((Place::Message(i, j), text)),
                    _ => None,
                })
        });
    let mut tagged = Vec::new();
    for (place, text) in system.chain(messages) {
        if let Some(pieces) = input_tags::split(text, suffix)? {
            tagged.push((place, pieces));
        }
    }
    Ok(tagged)
}

/// Puts `text` in the request as the text block at `place`.
fn set_text(request: &mut ConverseRequest, place: Place, text: String) {
    match place {
        Place::Message(i, j) => request.messages[i].content[j] = ContentBlock::Text(text),
        Place::System(i) => request.system[i] = SystemContentBlock::Text(text),
    }
}

pub(crate) fn blocked_output(message: String, started: Instant) -> ConverseOutput {
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
pub(crate) fn events_of(output: &ConverseOutput) -> Vec<StreamEvent> {
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
        let (_, texts, _) = input_texts(&request);
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
        assert!(InlineGuardrail::from_invoke(None, None, None)
            .unwrap()
            .is_none());
        assert!(InlineGuardrail::from_invoke(Some("abc"), None, None).is_err());
        assert!(InlineGuardrail::from_invoke(Some("abc"), Some("1"), Some("enabled")).is_err());
        let g = InlineGuardrail::from_invoke(Some("abc"), Some("DRAFT"), Some("ENABLED"))
            .unwrap()
            .unwrap();
        assert_eq!(g.trace, Trace::Enabled);
        assert_eq!(g.mode, StreamMode::Sync);
        let g = InlineGuardrail::from_converse(
            &json!({"guardrailIdentifier": "abc", "guardrailVersion": "1", "streamProcessingMode": "async"}),
        )
        .unwrap();
        assert_eq!(g.mode, StreamMode::Async);
        assert!(InlineGuardrail::from_converse(
            &json!({"guardrailIdentifier": "abc", "guardrailVersion": "1", "streamProcessingMode": "ASYNC"})
        )
        .is_err());
    }

    #[test]
    fn the_body_guardrail_config_is_read_and_removed() {
        let mut g = InlineGuardrail::from_invoke(Some("abc"), Some("DRAFT"), None)
            .unwrap()
            .unwrap();
        let plain = br#"{"prompt": "hi"}"#;
        assert_eq!(g.take_body_config(plain).unwrap(), plain.to_vec());
        let body = json!({"prompt": "hi", "amazon-bedrock-guardrailConfig": {"streamProcessingMode": "ASYNCHRONOUS"}});
        let stripped = g.take_body_config(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&stripped).unwrap(),
            json!({"prompt": "hi"})
        );
        assert_eq!(g.mode, StreamMode::Async);
        let body = json!({"prompt": "hi", "amazon-bedrock-guardrailConfig": {"tagSuffix": "xyz"}});
        g.take_body_config(body.to_string().as_bytes()).unwrap();
        assert_eq!(g.tag_suffix.as_deref(), Some("xyz"));
        for bad in [
            json!({"amazon-bedrock-guardrailConfig": {"streamProcessingMode": "async"}}),
            json!({"amazon-bedrock-guardrailConfig": {"tagSuffix": "x y"}}),
            json!({"amazon-bedrock-guardrailConfig": {"tagSuffix": 7}}),
            json!({"amazon-bedrock-guardrailConfig": "SYNCHRONOUS"}),
        ] {
            let err = g.take_body_config(bad.to_string().as_bytes()).unwrap_err();
            assert!(matches!(err, GuardrailError::Validation(_)), "{bad}");
        }
    }
}
