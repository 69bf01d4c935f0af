//! RetrieveAndGenerate and RetrieveAndGenerateStream: find the passages a question needs (a
//! knowledge base's Retrieve, or excerpts of one external document), put them in the prompt
//! template, ask the model behind `modelArn` through the runtime's Converse, and cite which
//! passages each part of the answer rests on.
//!
//! The prompt: `$search_results$` becomes the passages numbered `[1]`, `[2]`, ...; `$query$` the
//! question; `$conversation_history$` the session's earlier turns; `$output_format_instructions$`
//! a short instruction (citations are computed here, not asked of the model). A template with
//! `$query$` is the user turn; one without it (Bedrock's default) is the system prompt, and the
//! question is the user turn. Earlier turns of the session come before it as messages unless the
//! template places them. When nothing is retrieved the answer is Bedrock's fixed refusal and no
//! model runs.
//!
//! The model is called, and a `guardrailConfiguration` applied, through the one model pipeline
//! (`basalt-pipeline`): the question is checked before anything is retrieved
//! (blocked: the blocked-input message is the answer, no model runs; masked: the masked question
//! is what is searched for and asked), the model's answer after it is generated and before any
//! of it is sent (blocked: the blocked-output message, no citations; masked: the masked answer,
//! cited anew). The answer's `guardrailAction` (the stream's `guardrail` event) is `INTERVENED`
//! or `NONE`.
//!
//! What is not served is refused, never ignored: the orchestration (query reformulation) step,
//! reranking.

use std::pin::Pin;
use std::sync::Arc;

use basalt_guardrails::TextVerdict;
use basalt_kb::{chunk_document, ChunkingConfiguration, Embedder, KbError, WordTokens};
use basalt_pipeline::{EventStream, ModelPipeline, TextCheck};
use basalt_types::{
    ConverseRequest, InferenceConfig, Message, Role, StreamEvent, SystemContentBlock,
};
use base64::Engine as _;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::citations::{cite, content_words, CitationBuilder, CitedPart};
use crate::ingestion::document_format;
use crate::knowledge_bases::{missing, required_str};
use crate::retrieval::{knowledge_base_id, location_json, metadata_json, VectorSearch};
use crate::sessions::{Session, Turn};
use crate::{KnowledgeBaseError, KnowledgeBases};

/// Bedrock's answer when retrieval finds nothing.
pub(crate) const NO_RESULTS_ANSWER: &str = "Sorry, I am unable to assist you with this request.";

/// The template used when the request gives none: Bedrock's default in substance (answer only
/// from the search results, say so when they lack the answer), short enough for small models.
pub(crate) const DEFAULT_TEMPLATE: &str = "You are a question answering agent. I will give you a set of numbered search results, and the user will ask a question. Answer the question using only information from the search results. If the search results do not contain the answer, say that you could not find an exact answer to the question. Do not accept a fact just because the user asserts it; check it against the search results.\n\nHere are the search results in numbered order:\n$search_results$\n\n$output_format_instructions$";

/// What `$output_format_instructions$` becomes.
const OUTPUT_FORMAT_INSTRUCTIONS: &str = "Answer in a few plain sentences.";

/// Earlier turns of a session put before the question.
const HISTORY_TURNS: usize = 5;
/// An external document is cut into excerpts of about this many words…
const EXCERPT_TOKENS: usize = 300;
/// …and at most this many (the best matches for the question) go into the prompt.
const MAX_EXCERPTS: usize = 8;

/// What a guardrail's contextual grounding judges an answer against: the passages it was
/// generated from and the question it answers (Bedrock's `grounding_source` and `query`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grounding {
    source: String,
    query: String,
}

/// Bedrock's limits on what contextual grounding reads, in characters: the passages are cut to
/// the first, the question too; a longer answer is checked without grounding.
const GROUNDING_MAX_SOURCE_CHARS: usize = 100_000;
const GROUNDING_MAX_QUERY_CHARS: usize = 1_000;
const GROUNDING_MAX_ANSWER_CHARS: usize = 5_000;

impl Grounding {
    /// The retrieved passages (in rank order, whole ones while they fit) and the question.
    fn of(sources: &[Source], question: &str) -> Grounding {
        let mut source = String::new();
        for passage in sources.iter().map(|s| s.text.as_str()) {
            let separator = if source.is_empty() { 0 } else { 2 };
            if source.chars().count() + separator + passage.chars().count()
                > GROUNDING_MAX_SOURCE_CHARS
            {
                break;
            }
            if separator > 0 {
                source.push_str("\n\n");
            }
            source.push_str(passage);
        }
        Grounding {
            source,
            query: question.chars().take(GROUNDING_MAX_QUERY_CHARS).collect(),
        }
    }
}

/// The guardrail a request names, applied through the model pipeline.
#[derive(Clone)]
struct Guard {
    pipeline: Arc<ModelPipeline>,
    id: String,
    version: String,
}

impl Guard {
    /// `source` is `INPUT` or `OUTPUT`; `grounding`, on answers only, is what a contextual
    /// grounding policy scores the answer against.
    async fn check(
        &self,
        source: &str,
        text: &str,
        grounding: Option<&Grounding>,
    ) -> Result<TextVerdict, KnowledgeBaseError> {
        let check = TextCheck {
            guardrail_id: &self.id,
            guardrail_version: &self.version,
            source,
            text,
            grounding: grounding.map(|g| (g.source.as_str(), g.query.as_str())),
        };
        Ok(self.pipeline.check_text(check).await?)
    }
}

/// Bedrock's `guardrailAction`.
fn guardrail_action(intervened: bool) -> &'static str {
    if intervened {
        "INTERVENED"
    } else {
        "NONE"
    }
}

/// One passage the answer may cite, and the `RetrievedReference` that cites it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Source {
    pub text: String,
    pub reference: Value,
}

/// One event of RetrieveAndGenerateStream: the event's name in the stream union and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    /// `output`: a piece of the answer (`{"text": ...}`).
    Output(Value),
    /// `citation`: a `CitationEvent` for a finished part of the answer.
    Citation(Value),
    /// `guardrail`: a `GuardrailEvent` (`{"action": ...}`) when the request names a guardrail.
    Guardrail(Value),
}

/// RetrieveAndGenerateStream's answer: the session (sent before the events) and the events.
pub struct GenerationStream {
    pub session_id: String,
    pub events: Pin<Box<dyn Stream<Item = Result<GenerationEvent, KnowledgeBaseError>> + Send>>,
}

/// A request read, its session opened and its passages found: ready for the model.
struct Prepared {
    session: Session,
    question: String,
    model_arn: String,
    request: ConverseRequest,
    sources: Vec<Source>,
    guard: Option<Guard>,
    /// The blocked-input message when the guardrail blocked the question (nothing retrieved).
    blocked: Option<String>,
    /// Whether the guardrail changed or blocked the question.
    input_intervened: bool,
}

/// `generationConfiguration`, checked.
#[derive(Debug, Default, PartialEq)]
struct Generation {
    template: Option<String>,
    inference: InferenceConfig,
    additional_model_request_fields: Option<Value>,
    performance_config: Option<Value>,
    /// `guardrailConfiguration`: the guardrail's id (or ARN) and version.
    guardrail: Option<(String, String)>,
}

impl KnowledgeBases {
    /// RetrieveAndGenerate. `input` is the operation's input shape; the answer its output shape.
    pub(crate) async fn retrieve_and_generate_json(
        &self,
        input: &Value,
    ) -> Result<Value, KnowledgeBaseError> {
        let prepared = self.prepare_generation(input).await?;
        if let Some(message) = prepared.blocked {
            return Ok(json!({
                "output": {"text": message},
                "sessionId": prepared.session.id,
                "citations": [],
                "guardrailAction": guardrail_action(true),
            }));
        }
        let (answer, output_blocked, output_intervened) = if prepared.sources.is_empty() {
            (NO_RESULTS_ANSWER.to_string(), false, false)
        } else {
            let pipeline = &self.engines()?.pipeline;
            let answer = pipeline
                .converse(&prepared.model_arn, prepared.request)
                .await?
                .output
                .text();
            let grounding = Grounding::of(&prepared.sources, &prepared.question);
            guard_output(prepared.guard.as_ref(), answer, &grounding).await?
        };
        let citations: Vec<Value> = if output_blocked {
            Vec::new()
        } else {
            let texts: Vec<&str> = prepared.sources.iter().map(|s| s.text.as_str()).collect();
            // Cited on the text returned (masked or not), so the spans fit it.
            cite(&answer, &texts)
                .iter()
                .map(|part| citation_json(part, &prepared.sources))
                .collect()
        };
        self.record_turn(
            &prepared.session.id,
            Turn {
                input: prepared.question,
                output: answer.clone(),
            },
        )
        .await?;
        let mut body = json!({
            "output": {"text": answer},
            "sessionId": prepared.session.id,
            "citations": citations,
        });
        if prepared.guard.is_some() {
            body["guardrailAction"] = json!(guardrail_action(
                prepared.input_intervened || output_intervened
            ));
        }
        Ok(body)
    }

    /// RetrieveAndGenerateStream: the answer's text as the model writes it, each part's
    /// citation once the part is complete. Errors before the first event are returned here;
    /// later ones end the stream.
    ///
    /// With a guardrail the whole answer is generated and checked before any of it is sent.
    pub(crate) async fn retrieve_and_generate_stream_json(
        &self,
        input: &Value,
    ) -> Result<GenerationStream, KnowledgeBaseError> {
        let prepared = self.prepare_generation(input).await?;
        let mut guardrail = None;
        let mut cited = true;
        // A blocked question is not a turn of the conversation.
        let record = prepared.blocked.is_none();
        let answer = if let Some(message) = prepared.blocked {
            guardrail = Some(true);
            cited = false;
            Answer::Fixed(message)
        } else if prepared.sources.is_empty() {
            guardrail = prepared.guard.as_ref().map(|_| prepared.input_intervened);
            Answer::Fixed(NO_RESULTS_ANSWER.to_string())
        } else {
            let pipeline = &self.engines()?.pipeline;
            let events = pipeline
                .converse_stream(&prepared.model_arn, prepared.request)
                .await?;
            match &prepared.guard {
                None => Answer::Model(events),
                Some(guard) => {
                    let text = collect_text(events).await?;
                    let grounding = Grounding::of(&prepared.sources, &prepared.question);
                    let (text, blocked, intervened) =
                        guard_output(Some(guard), text, &grounding).await?;
                    guardrail = Some(prepared.input_intervened || intervened);
                    cited = !blocked;
                    Answer::Fixed(text)
                }
            }
        };
        let session_id = prepared.session.id.clone();
        let (sender, receiver) = mpsc::channel(32);
        tokio::spawn(stream_answer(
            self.clone(),
            StreamedAnswer {
                session_id: prepared.session.id,
                question: prepared.question,
                sources: if cited { prepared.sources } else { Vec::new() },
                record,
                guardrail,
                sender,
            },
            answer,
        ));
        let events = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|event| (event, receiver))
        });
        Ok(GenerationStream {
            session_id,
            events: Box::pin(events),
        })
    }

    async fn prepare_generation(&self, input: &Value) -> Result<Prepared, KnowledgeBaseError> {
        let question = input
            .pointer("/input/text")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("input.text"))?;
        if question.trim().is_empty() {
            return Err(KnowledgeBaseError::Validation(
                "input.text must not be empty.".into(),
            ));
        }
        let configuration = input
            .get("retrieveAndGenerateConfiguration")
            .ok_or_else(|| missing("retrieveAndGenerateConfiguration"))?;
        let session_id = input.get("sessionId").and_then(Value::as_str);
        let kms_key_arn = input
            .pointer("/sessionConfiguration/kmsKeyArn")
            .and_then(Value::as_str);
        let (model_arn, generation, session, sources, guard, guarded) =
            match configuration.get("type").and_then(Value::as_str) {
                Some("KNOWLEDGE_BASE") => {
                    let path = "retrieveAndGenerateConfiguration.knowledgeBaseConfiguration";
                    let kb = configuration
                        .get("knowledgeBaseConfiguration")
                        .ok_or_else(|| missing(path))?;
                    let knowledge_base_id = knowledge_base_id(
                        kb.get("knowledgeBaseId")
                            .and_then(Value::as_str)
                            .ok_or_else(|| missing(&format!("{path}.knowledgeBaseId")))?,
                    );
                    let model_arn = kb
                        .get("modelArn")
                        .and_then(Value::as_str)
                        .ok_or_else(|| missing(&format!("{path}.modelArn")))?;
                    if kb.get("orchestrationConfiguration").is_some() {
                        return Err(KnowledgeBaseError::Validation(format!(
                            "{path}.orchestrationConfiguration is not supported by basalt yet: it configures a query-reformulation step basalt does not run. Remove it; the question is used for retrieval as written."
                        )));
                    }
                    let generation = Generation::parse(
                        kb.get("generationConfiguration"),
                        &format!("{path}.generationConfiguration"),
                    )?;
                    let guard = guard_of(&generation, &self.engines()?.pipeline)?;
                    let search = VectorSearch::parse(
                        kb.get("retrievalConfiguration"),
                        &format!("{path}.retrievalConfiguration"),
                    )?;
                    self.knowledge_base(knowledge_base_id).await?;
                    self.check_model(model_arn)?;
                    let session = self.open_session(session_id, kms_key_arn).await?;
                    let guarded = guard_input(guard.as_ref(), question).await?;
                    let query = retrieval_query(&guarded.question, &session.turns);
                    let found = match guarded.blocked {
                        Some(_) => Vec::new(),
                        None => {
                            self.search(knowledge_base_id, &query, "input.text", &search)
                                .await?
                        }
                    };
                    let sources = found
                        .iter()
                        .map(|result| Source {
                            text: result.text.clone(),
                            reference: json!({
                                "content": {"type": "TEXT", "text": result.text},
                                "location": location_json(&result.source_uri),
                                "metadata": metadata_json(result),
                            }),
                        })
                        .collect::<Vec<_>>();
                    (model_arn, generation, session, sources, guard, guarded)
                }
                Some("EXTERNAL_SOURCES") => {
                    let path = "retrieveAndGenerateConfiguration.externalSourcesConfiguration";
                    let external = configuration
                        .get("externalSourcesConfiguration")
                        .ok_or_else(|| missing(path))?;
                    let model_arn = external
                        .get("modelArn")
                        .and_then(Value::as_str)
                        .ok_or_else(|| missing(&format!("{path}.modelArn")))?;
                    let generation = Generation::parse(
                        external.get("generationConfiguration"),
                        &format!("{path}.generationConfiguration"),
                    )?;
                    let guard = guard_of(&generation, &self.engines()?.pipeline)?;
                    let documents = external
                        .get("sources")
                        .and_then(Value::as_array)
                        .ok_or_else(|| missing(&format!("{path}.sources")))?;
                    let [document] = documents.as_slice() else {
                        return Err(KnowledgeBaseError::Validation(format!(
                            "{path}.sources must hold exactly 1 source; got {}.",
                            documents.len()
                        )));
                    };
                    self.check_model(model_arn)?;
                    let (text, location) = self
                        .external_document(document, &format!("{path}.sources[0]"))
                        .await?;
                    let session = self.open_session(session_id, kms_key_arn).await?;
                    let guarded = guard_input(guard.as_ref(), question).await?;
                    let found = match guarded.blocked {
                        Some(_) => Vec::new(),
                        None => excerpts(&text, &guarded.question).await?,
                    };
                    let sources = found
                        .into_iter()
                        .map(|excerpt| Source {
                            reference: json!({
                                "content": {"type": "TEXT", "text": excerpt},
                                "location": location,
                            }),
                            text: excerpt,
                        })
                        .collect();
                    (model_arn, generation, session, sources, guard, guarded)
                }
                Some(other) => {
                    return Err(KnowledgeBaseError::Validation(format!(
                        "retrieveAndGenerateConfiguration.type {other} is not KNOWLEDGE_BASE or EXTERNAL_SOURCES."
                    )))
                }
                None => return Err(missing("retrieveAndGenerateConfiguration.type")),
            };
        let texts: Vec<&str> = sources.iter().map(|s| s.text.as_str()).collect();
        let question = guarded.question.as_str();
        let (system, messages) = build_prompt(
            generation.template.as_deref(),
            question,
            &texts,
            &session.turns,
        );
        let request = ConverseRequest {
            messages,
            system: system.map(SystemContentBlock::Text).into_iter().collect(),
            inference_config: generation.inference,
            additional_model_request_fields: generation.additional_model_request_fields,
            performance_config: generation.performance_config,
            ..ConverseRequest::default()
        };
        Ok(Prepared {
            session,
            question: question.to_string(),
            model_arn: model_arn.to_string(),
            request,
            sources,
            guard,
            input_intervened: guarded.intervened,
            blocked: guarded.blocked,
        })
    }

    /// A model the catalog does not know fails before a session is made or anything retrieved.
    fn check_model(&self, model_arn: &str) -> Result<(), KnowledgeBaseError> {
        self.engines()?.runtime().catalog().resolve(model_arn)?;
        Ok(())
    }

    /// An external source's text and the location its citations name.
    async fn external_document(
        &self,
        source: &Value,
        path: &str,
    ) -> Result<(String, Value), KnowledgeBaseError> {
        let (format, bytes, location) = match source.get("sourceType").and_then(Value::as_str) {
            Some("BYTE_CONTENT") => {
                let content = source
                    .get("byteContent")
                    .ok_or_else(|| missing(&format!("{path}.byteContent")))?;
                let at = format!("{path}.byteContent");
                let content_type = required_str(content, "contentType")
                    .map_err(|_| missing(&format!("{at}.contentType")))?;
                let identifier = required_str(content, "identifier")
                    .map_err(|_| missing(&format!("{at}.identifier")))?;
                let data =
                    required_str(content, "data").map_err(|_| missing(&format!("{at}.data")))?;
                let format = format_of_content_type(content_type).ok_or_else(|| {
                    KnowledgeBaseError::Validation(format!(
                        "{at}.contentType {content_type} is not a document type basalt reads: use text/plain, text/markdown, text/html, text/csv, application/pdf or application/vnd.openxmlformats-officedocument.wordprocessingml.document."
                    ))
                })?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| {
                        KnowledgeBaseError::Validation(format!(
                            "{at}.data is not valid base64: {e}"
                        ))
                    })?;
                let location =
                    json!({"type": "CUSTOM", "customDocumentLocation": {"id": identifier}});
                (format, bytes, location)
            }
            Some("S3") => {
                let uri = source
                    .pointer("/s3Location/uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing(&format!("{path}.s3Location.uri")))?;
                let (bucket, key) = basalt_s3::parse_s3_uri(uri)
                    .ok()
                    .filter(|(_, key)| !key.is_empty())
                    .ok_or_else(|| {
                        KnowledgeBaseError::Validation(format!(
                            "{path}.s3Location.uri {uri} is not an s3://bucket/key URI."
                        ))
                    })?;
                let format = document_format(&key).map_err(|why| {
                    KnowledgeBaseError::Validation(format!("{path}.s3Location.uri {uri}: {why}."))
                })?;
                let bytes = self
                    .engines()?
                    .objects
                    .get_object(&bucket, &key)
                    .await
                    .map_err(|e| match e {
                        basalt_s3::S3Error::NoSuchBucket { .. }
                        | basalt_s3::S3Error::NoSuchKey { .. } => KnowledgeBaseError::NotFound(
                            format!("{path}.s3Location.uri {uri} does not exist: {e}"),
                        ),
                        other => KnowledgeBaseError::Internal(format!("reading {uri}: {other}")),
                    })?
                    .to_vec();
                (
                    format,
                    bytes,
                    json!({"type": "S3", "s3Location": {"uri": uri}}),
                )
            }
            Some(other) => {
                return Err(KnowledgeBaseError::Validation(format!(
                    "{path}.sourceType {other} is not S3 or BYTE_CONTENT."
                )))
            }
            None => return Err(missing(&format!("{path}.sourceType"))),
        };
        let text =
            tokio::task::spawn_blocking(move || basalt_documents::extract_text(format, &bytes))
                .await
                .map_err(|e| KnowledgeBaseError::Internal(format!("reading the document: {e}")))?
                .map_err(|e| KnowledgeBaseError::Validation(format!("{path}: {e}")))?;
        Ok((text, location))
    }
}

impl Generation {
    fn parse(configuration: Option<&Value>, path: &str) -> Result<Self, KnowledgeBaseError> {
        let Some(configuration) = configuration else {
            return Ok(Generation::default());
        };
        let guardrail = match configuration.get("guardrailConfiguration") {
            None => None,
            Some(guardrail) => {
                let member = |name: &str| {
                    guardrail
                        .get(name)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .ok_or_else(|| missing(&format!("{path}.guardrailConfiguration.{name}")))
                };
                Some((member("guardrailId")?, member("guardrailVersion")?))
            }
        };
        let text = configuration.pointer("/inferenceConfig/textInferenceConfig");
        let number = |member: &str| text.and_then(|t| t.get(member)).and_then(Value::as_f64);
        let inference = InferenceConfig {
            max_tokens: text
                .and_then(|t| t.get("maxTokens"))
                .and_then(Value::as_i64),
            temperature: number("temperature").map(|n| n as f32),
            top_p: number("topP").map(|n| n as f32),
            top_k: None,
            stop_sequences: text
                .and_then(|t| t.get("stopSequences"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        };
        Ok(Generation {
            template: configuration
                .pointer("/promptTemplate/textPromptTemplate")
                .and_then(Value::as_str)
                .map(str::to_string),
            inference,
            additional_model_request_fields: configuration
                .get("additionalModelRequestFields")
                .cloned(),
            performance_config: configuration.get("performanceConfig").cloned(),
            guardrail,
        })
    }
}

/// What a streamed answer needs once the model runs.
struct StreamedAnswer {
    session_id: String,
    question: String,
    sources: Vec<Source>,
    /// Whether the turn goes into the session.
    record: bool,
    /// With a guardrail, whether it intervened (sent as the `guardrail` event).
    guardrail: Option<bool>,
    sender: mpsc::Sender<Result<GenerationEvent, KnowledgeBaseError>>,
}

/// Where a streamed answer's text comes from.
enum Answer {
    /// Known before it is sent: Bedrock's fixed answer, a guardrail's message, a checked answer.
    Fixed(String),
    /// The model's stream, sent as it comes.
    Model(EventStream),
}

/// The question after the input check.
struct GuardedQuestion {
    /// What is searched for and asked: the question, masked when the guardrail masked it.
    question: String,
    /// The blocked-input message when the guardrail blocked it.
    blocked: Option<String>,
    intervened: bool,
}

/// The guardrail `generationConfiguration` names.
fn guard_of(
    generation: &Generation,
    pipeline: &Arc<ModelPipeline>,
) -> Result<Option<Guard>, KnowledgeBaseError> {
    let Some((id, version)) = generation.guardrail.clone() else {
        return Ok(None);
    };
    Ok(Some(Guard {
        pipeline: pipeline.clone(),
        id,
        version,
    }))
}

/// The question checked on input (a missing guardrail fails here, before anything is retrieved).
async fn guard_input(
    guard: Option<&Guard>,
    question: &str,
) -> Result<GuardedQuestion, KnowledgeBaseError> {
    let verdict = match guard {
        Some(guard) => guard.check("INPUT", question, None).await?,
        None => TextVerdict::Pass,
    };
    Ok(match verdict {
        TextVerdict::Pass => GuardedQuestion {
            question: question.to_string(),
            blocked: None,
            intervened: false,
        },
        TextVerdict::Blocked(message) => GuardedQuestion {
            question: question.to_string(),
            blocked: Some(message),
            intervened: true,
        },
        TextVerdict::Masked(masked) => GuardedQuestion {
            question: masked,
            blocked: None,
            intervened: true,
        },
    })
}

/// The model's answer checked on output: the text to return, whether it was blocked, and
/// whether the guardrail intervened.
async fn guard_output(
    guard: Option<&Guard>,
    answer: String,
    grounding: &Grounding,
) -> Result<(String, bool, bool), KnowledgeBaseError> {
    let Some(guard) = guard else {
        return Ok((answer, false, false));
    };
    let grounding = (answer.chars().count() <= GROUNDING_MAX_ANSWER_CHARS).then_some(grounding);
    Ok(match guard.check("OUTPUT", &answer, grounding).await? {
        TextVerdict::Pass => (answer, false, false),
        TextVerdict::Blocked(message) => (message, true, true),
        TextVerdict::Masked(masked) => (masked, false, true),
    })
}

/// A model stream's whole text.
async fn collect_text(mut events: EventStream) -> Result<String, KnowledgeBaseError> {
    let mut text = String::new();
    while let Some(event) = events.next().await {
        if let StreamEvent::ContentBlockDelta { text: piece, .. } = event?.event {
            text.push_str(&piece);
        }
    }
    Ok(text)
}

impl StreamedAnswer {
    /// False when the client has gone (the receiver was dropped).
    async fn send(&self, event: Result<GenerationEvent, KnowledgeBaseError>) -> bool {
        self.sender.send(event).await.is_ok()
    }

    async fn send_citations(&self, parts: Vec<CitedPart>) -> bool {
        for part in parts {
            let citation = citation_json(&part, &self.sources);
            let event = json!({
                "generatedResponsePart": citation["generatedResponsePart"],
                "retrievedReferences": citation["retrievedReferences"],
                // The member older SDK code reads; Bedrock still fills it.
                "citation": citation,
            });
            if !self.send(Ok(GenerationEvent::Citation(event))).await {
                return false;
            }
        }
        true
    }
}

/// Feeds the model's stream to the client as `output` and `citation` events, then records the
/// turn. Dropping `model_events` (the client went away) stops the generation.
async fn stream_answer(knowledge_bases: KnowledgeBases, answer: StreamedAnswer, source: Answer) {
    let texts: Vec<&str> = answer.sources.iter().map(|s| s.text.as_str()).collect();
    let mut builder = CitationBuilder::new(&texts);
    let mut text = String::new();
    let mut pieces: Pin<Box<dyn Stream<Item = Result<String, KnowledgeBaseError>> + Send>> =
        match source {
            Answer::Fixed(text) => Box::pin(futures::stream::iter([Ok(text)])),
            Answer::Model(events) => Box::pin(events.filter_map(|event| async move {
                match event {
                    Ok(basalt_pipeline::Event {
                        event: StreamEvent::ContentBlockDelta { text, .. },
                        ..
                    }) => Some(Ok(text)),
                    Ok(_) => None,
                    Err(e) => Some(Err(KnowledgeBaseError::from(e))),
                }
            })),
        };
    while let Some(piece) = pieces.next().await {
        let piece = match piece {
            Ok(piece) => piece,
            Err(e) => {
                answer.send(Err(e)).await;
                return;
            }
        };
        text.push_str(&piece);
        let parts = builder.push(&piece);
        let output = GenerationEvent::Output(json!({ "text": piece }));
        if !answer.send(Ok(output)).await || !answer.send_citations(parts).await {
            return;
        }
    }
    drop(pieces);
    // The turn is recorded before the last events go out, so a client that asks its follow-up
    // as soon as it has read them finds it.
    if answer.record {
        let turn = Turn {
            input: answer.question.clone(),
            output: text,
        };
        if let Err(e) = knowledge_bases.record_turn(&answer.session_id, turn).await {
            tracing::warn!(session = %answer.session_id, error = %e, "recording the session's turn failed");
            answer.send(Err(e)).await;
            return;
        }
    }
    if !answer.send_citations(builder.finish()).await {
        return;
    }
    if let Some(intervened) = answer.guardrail {
        let event = json!({ "action": guardrail_action(intervened) });
        answer.send(Ok(GenerationEvent::Guardrail(event))).await;
    }
}

/// A `Citation`: the part of the answer and the references it cites.
fn citation_json(part: &CitedPart, sources: &[Source]) -> Value {
    json!({
        "generatedResponsePart": {"textResponsePart": {
            "text": part.text,
            "span": {"start": part.start, "end": part.end},
        }},
        "retrievedReferences": part
            .sources
            .iter()
            .filter_map(|&i| sources.get(i))
            .map(|s| s.reference.clone())
            .collect::<Vec<_>>(),
    })
}

/// What retrieval searches for: the question, after the session's previous question when there
/// is one, so that a follow-up ("and when did it end?") finds what the conversation is about.
fn retrieval_query(question: &str, turns: &[Turn]) -> String {
    match turns.last() {
        Some(previous) => format!("{} {question}", previous.input),
        None => question.to_string(),
    }
}

/// The system prompt (if any) and messages for a question, its passages and the session's
/// earlier turns.
pub(crate) fn build_prompt(
    template: Option<&str>,
    question: &str,
    passages: &[&str],
    history: &[Turn],
) -> (Option<String>, Vec<Message>) {
    let template = template.unwrap_or(DEFAULT_TEMPLATE);
    let recent: Vec<&Turn> = history
        .iter()
        .filter(|turn| !turn.output.trim().is_empty())
        .collect();
    let recent = &recent[recent.len().saturating_sub(HISTORY_TURNS)..];
    let history_in_template = template.contains("$conversation_history$");
    let history_text = recent
        .iter()
        .map(|turn| format!("User: {}\nAssistant: {}", turn.input, turn.output))
        .collect::<Vec<_>>()
        .join("\n");
    let rendered = fill(
        template,
        &[
            ("search_results", &numbered(passages)),
            ("query", question),
            ("conversation_history", &history_text),
            ("output_format_instructions", OUTPUT_FORMAT_INSTRUCTIONS),
        ],
    );
    let mut messages = Vec::new();
    if !history_in_template {
        for turn in recent {
            messages.push(Message::text(Role::User, turn.input.clone()));
            messages.push(Message::text(Role::Assistant, turn.output.clone()));
        }
    }
    if template.contains("$query$") {
        messages.push(Message::text(Role::User, rendered));
        (None, messages)
    } else {
        messages.push(Message::text(Role::User, question));
        (Some(rendered), messages)
    }
}

/// The passages as `[1] text`, `[2] text`, ... so the model can tell them apart.
fn numbered(passages: &[&str]) -> String {
    passages
        .iter()
        .enumerate()
        .map(|(i, passage)| format!("[{}] {}", i + 1, passage.trim()))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Replaces each `$name$` in one pass, so text put in (a passage quoting `$query$`) is never
/// itself replaced. Unknown placeholders stay as written.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('$') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let replaced = after.find('$').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| (close, *value))
        });
        match replaced {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A document's type from a MIME content type.
fn format_of_content_type(content_type: &str) -> Option<&'static str> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(match mime.as_str() {
        "text/plain" | "application/json" => "txt",
        "text/markdown" | "text/x-markdown" => "md",
        "text/html" | "application/xhtml+xml" => "html",
        "text/csv" => "csv",
        "application/pdf" => "pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/msword" => "doc",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        _ => return None,
    })
}

/// The parts of an external document the prompt gets: the whole document when it is short, else
/// the excerpts sharing most words with the question, in document order.
async fn excerpts(text: &str, question: &str) -> Result<Vec<String>, KnowledgeBaseError> {
    let chunks = chunk_document(
        text,
        &ChunkingConfiguration::FixedSize {
            max_tokens: EXCERPT_TOKENS,
            overlap_percentage: 0,
        },
        &WordTokens,
        &NoEmbedder,
    )
    .await?;
    let mut excerpts: Vec<(usize, String)> = chunks
        .into_iter()
        .map(|chunk| chunk.text)
        .filter(|t| !t.trim().is_empty())
        .enumerate()
        .collect();
    if excerpts.len() > MAX_EXCERPTS {
        let wanted = content_words(question);
        let shared = |t: &str| content_words(t).intersection(&wanted).count();
        excerpts.sort_by_cached_key(|(i, t)| (std::cmp::Reverse(shared(t)), *i));
        excerpts.truncate(MAX_EXCERPTS);
        excerpts.sort_by_key(|(i, _)| *i);
    }
    Ok(excerpts.into_iter().map(|(_, t)| t).collect())
}

/// Fixed-size chunking embeds nothing; this stands in for the model it does not need.
struct NoEmbedder;

#[async_trait::async_trait]
impl Embedder for NoEmbedder {
    async fn embed(&self, _texts: Vec<String>) -> basalt_kb::Result<Vec<Vec<f32>>> {
        Err(KbError::Embedding(
            "no embedding model for external sources".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn turn(input: &str, output: &str) -> Turn {
        Turn {
            input: input.into(),
            output: output.into(),
        }
    }

    #[test]
    fn the_default_template_is_the_system_prompt_and_the_question_the_user_turn() {
        let (system, messages) = build_prompt(
            None,
            "What is a waggle dance?",
            &["Bees dance.", "Tides turn."],
            &[],
        );
        let system = system.unwrap();
        assert!(
            system.contains("[1] Bees dance.\n\n[2] Tides turn."),
            "{system}"
        );
        assert!(system.contains(OUTPUT_FORMAT_INSTRUCTIONS));
        assert!(!system.contains('$'), "{system}");
        assert_eq!(
            messages,
            vec![Message::text(Role::User, "What is a waggle dance?")]
        );
    }

    #[test]
    fn a_template_with_the_query_is_the_user_turn() {
        // The seed's template.
        let (system, messages) = build_prompt(
            Some("Answer based on the provided context: $search_results$\n\nQuestion: $query$"),
            "What is our refund policy?",
            &["Refunds within 30 days."],
            &[],
        );
        assert_eq!(system, None);
        assert_eq!(
            messages,
            vec![Message::text(
                Role::User,
                "Answer based on the provided context: [1] Refunds within 30 days.\n\nQuestion: What is our refund policy?"
            )]
        );
    }

    #[test]
    fn earlier_turns_come_first_or_where_the_template_puts_them() {
        let history = [
            turn("Who were the Vikings?", "Norse seafarers."),
            turn("Ignored?", "  "),
            turn("When?", "From 793 to 1066."),
        ];
        let (_, messages) = build_prompt(None, "Where did they sail?", &["Longships."], &history);
        let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::User,
                Role::Assistant,
                Role::User,
                Role::Assistant,
                Role::User
            ]
        );
        assert_eq!(messages[3].joined_text(), "From 793 to 1066.");

        let (system, messages) = build_prompt(
            Some("History:\n$conversation_history$\nResults: $search_results$"),
            "Where did they sail?",
            &["Longships."],
            &history,
        );
        assert_eq!(messages.len(), 1);
        assert!(system
            .unwrap()
            .contains("User: Who were the Vikings?\nAssistant: Norse seafarers.\nUser: When?"));
    }

    #[test]
    fn only_the_last_turns_are_replayed() {
        let history: Vec<Turn> = (0..9).map(|i| turn(&format!("q{i}"), "a")).collect();
        let (_, messages) = build_prompt(None, "now", &["x"], &history);
        assert_eq!(messages.len(), HISTORY_TURNS * 2 + 1);
        assert_eq!(messages[0].joined_text(), "q4");
    }

    #[test]
    fn placeholders_are_filled_once_and_unknown_ones_kept() {
        assert_eq!(
            fill("$a$ and $b$ cost $5, $c$", &[("a", "$b$"), ("b", "x")]),
            "$b$ and x cost $5, $c$"
        );
        assert_eq!(fill("no placeholders", &[("a", "b")]), "no placeholders");
        assert_eq!(fill("trailing $", &[]), "trailing $");
    }

    #[test]
    fn follow_ups_search_with_the_previous_question() {
        assert_eq!(retrieval_query("When?", &[]), "When?");
        assert_eq!(
            retrieval_query("When did it end?", &[turn("What was the Viking Age?", "…")]),
            "What was the Viking Age? When did it end?"
        );
    }

    #[test]
    fn content_types_map_to_document_formats() {
        assert_eq!(
            format_of_content_type("text/plain; charset=utf-8"),
            Some("txt")
        );
        assert_eq!(format_of_content_type("application/PDF"), Some("pdf"));
        assert_eq!(format_of_content_type("image/png"), None);
    }

    #[test]
    fn inference_settings_and_guardrails() {
        let generation = Generation::parse(
            Some(&json!({"inferenceConfig": {"textInferenceConfig": {
                "maxTokens": 64, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]}},
                "promptTemplate": {"textPromptTemplate": "T $query$"}})),
            "g",
        )
        .unwrap();
        assert_eq!(generation.inference.max_tokens, Some(64));
        assert_eq!(generation.inference.temperature, Some(0.5));
        assert_eq!(generation.inference.stop_sequences, vec!["END".to_string()]);
        assert_eq!(generation.template.as_deref(), Some("T $query$"));
        let guarded = Generation::parse(
            Some(
                &json!({"guardrailConfiguration": {"guardrailId": "g1", "guardrailVersion": "1"}}),
            ),
            "g",
        )
        .unwrap();
        assert_eq!(guarded.guardrail, Some(("g1".into(), "1".into())));
        let err = Generation::parse(
            Some(&json!({"guardrailConfiguration": {"guardrailId": "g1"}})),
            "retrieveAndGenerateConfiguration.knowledgeBaseConfiguration.generationConfiguration",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("generationConfiguration.guardrailConfiguration.guardrailVersion"),
            "{err}"
        );
    }

    /// A real guardrail (words and an email anonymizer) behind a pipeline with no models.
    async fn real_guard(id_override: Option<&str>) -> Guard {
        let store = basalt_store::MetadataStore::in_memory().await.unwrap();
        let guardrails = basalt_guardrails::Guardrails::new(store, "us-east-1", "000000000000");
        let input = serde_json::from_value(json!({
            "name": "g",
            "blockedInputMessaging": "blocked INPUT",
            "blockedOutputsMessaging": "blocked OUTPUT",
            "wordPolicyConfig": {"wordsConfig": [{"text": "secret"}]},
            "sensitiveInformationPolicyConfig": {
                "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]
            },
        }))
        .unwrap();
        let created = guardrails.create_guardrail(input).await.unwrap();
        let catalog = Arc::new(basalt_models::Catalog::default_catalog().unwrap());
        let runtime = basalt_models::BedrockRuntime::with_providers(catalog, Default::default());
        let pipeline = ModelPipeline::new(Arc::new(runtime), Some(Arc::new(guardrails)));
        Guard {
            pipeline: Arc::new(pipeline),
            id: id_override.unwrap_or(&created.guardrail_id).to_string(),
            version: "DRAFT".into(),
        }
    }

    #[tokio::test]
    async fn guardrails_check_the_question_and_the_answer() {
        let guard = real_guard(None).await;
        let blocked = guard_input(Some(&guard), "tell me the secret")
            .await
            .unwrap();
        assert_eq!(blocked.blocked.as_deref(), Some("blocked INPUT"));
        assert!(blocked.intervened);
        let masked = guard_input(Some(&guard), "mail a@b.example.com")
            .await
            .unwrap();
        assert_eq!(masked.question, "mail {EMAIL}");
        assert!(masked.blocked.is_none() && masked.intervened);
        let plain = guard_input(None, "anything secret").await.unwrap();
        assert!(plain.blocked.is_none() && !plain.intervened);
        let grounding = Grounding {
            source: "the secret is fine".into(),
            query: "what is it?".into(),
        };
        assert_eq!(
            guard_output(Some(&guard), "the secret".into(), &grounding)
                .await
                .unwrap(),
            ("blocked OUTPUT".to_string(), true, true)
        );
        assert_eq!(
            guard_output(Some(&guard), "fine".into(), &grounding)
                .await
                .unwrap(),
            ("fine".to_string(), false, false)
        );
        let unknown = real_guard(Some("nope00000000")).await;
        assert!(matches!(
            guard_input(Some(&unknown), "hi").await,
            Err(KnowledgeBaseError::Guardrail(
                basalt_guardrails::GuardrailError::NotFound(_)
            ))
        ));
    }

    #[tokio::test]
    async fn long_documents_give_the_excerpts_that_match_the_question() {
        let short = excerpts("One paragraph about bees.", "bees").await.unwrap();
        assert_eq!(short, vec!["One paragraph about bees.".to_string()]);
        let mut long = String::new();
        for i in 0..40 {
            let topic = if i == 27 {
                "volcano eruption magma"
            } else {
                "ordinary filler words"
            };
            long.push_str(&format!(
                "Paragraph {i} talks about {topic}. {}\n\n",
                "More text here. ".repeat(20)
            ));
        }
        let picked = excerpts(&long, "What drives a volcano eruption?")
            .await
            .unwrap();
        assert_eq!(picked.len(), MAX_EXCERPTS);
        assert!(picked.iter().any(|e| e.contains("volcano eruption")));
    }
}
