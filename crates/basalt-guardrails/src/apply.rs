//! ApplyGuardrail: one guardrail version's policies run over text blocks, answered in Bedrock's
//! shape — `action`, `outputs` (the blocked message, or the masked text), one `assessments`
//! entry with what each evaluated policy found, `usage` in text units (1,000 characters, rounded
//! up, per block) for each policy that ran, and `guardrailCoverage`.
//!
//! Contextual grounding (`grounding`) runs when the request has blocks qualified
//! `grounding_source` and `query` beside the guarded text; automated reasoning is not evaluated
//! (see the crate docs), so its assessment is absent and its units 0.

use std::collections::HashMap;
use std::time::Instant;

use regex::Regex;
use serde_json::{json, Map, Value};

use crate::content::{self, ContentClassifier, FILTER_TYPES};
use crate::definition::{compile_custom_regex, Directions, Policies};
use crate::grounding;
use crate::pii::{self, Finding};
use crate::topics::{self, embed_units, Embedder, TopicIndex};
use crate::words::{WordMatcher, WordSource};
use crate::{GuardrailError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentSource {
    Input,
    Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputScope {
    /// Only what was detected (the default).
    Interventions,
    /// Also the topics that were checked and not detected.
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextBlock {
    pub text: String,
    pub qualifiers: Vec<String>,
}

/// ApplyGuardrail's input, without the guardrail's identifier and version.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub source: ContentSource,
    pub texts: Vec<TextBlock>,
    /// Image blocks: counted in the coverage, not evaluated.
    pub images: usize,
    pub output_scope: OutputScope,
}

impl ApplyRequest {
    /// From the operation's input shape (already checked against the service model).
    pub fn from_input(input: &Value) -> Result<Self> {
        let source = match input.get("source").and_then(Value::as_str) {
            Some("INPUT") => ContentSource::Input,
            Some("OUTPUT") => ContentSource::Output,
            _ => {
                return Err(GuardrailError::Validation(
                    "source must be INPUT or OUTPUT.".into(),
                ))
            }
        };
        let output_scope = match input.get("outputScope").and_then(Value::as_str) {
            Some("FULL") => OutputScope::Full,
            _ => OutputScope::Interventions,
        };
        let mut texts = Vec::new();
        let mut images = 0;
        for block in input
            .get("content")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
        {
            if let Some(text) = block.get("text") {
                let qualifiers = text
                    .get("qualifiers")
                    .and_then(Value::as_array)
                    .map(|q| {
                        q.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                texts.push(TextBlock {
                    text: text
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    qualifiers,
                });
            } else if block.get("image").is_some() {
                images += 1;
            } else {
                return Err(GuardrailError::Validation(
                    "Each content block must set text or image.".into(),
                ));
            }
        }
        if texts.is_empty() && images == 0 {
            return Err(GuardrailError::Validation(
                "content must hold at least one text or image block.".into(),
            ));
        }
        Ok(ApplyRequest {
            source,
            texts,
            images,
            output_scope,
        })
    }
}

/// One guardrail version ready to run: word automaton and regexes compiled; topic vectors
/// are made, and the embedding model checked for the content filters, on first use.
pub(crate) struct Compiled {
    pub policies: Policies,
    words: WordMatcher,
    regexes: Vec<Regex>,
    topics: tokio::sync::OnceCell<TopicIndex>,
    content_model_checked: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("words", &self.words)
            .field("regexes", &self.regexes.len())
            .finish_non_exhaustive()
    }
}

impl Compiled {
    pub fn new(policies: Policies) -> Result<Self> {
        let word_policy = policies.word_policy.clone().unwrap_or_default();
        let custom: Vec<String> = word_policy.words.iter().map(|w| w.text.clone()).collect();
        let profanity = word_policy
            .managed_word_lists
            .iter()
            .any(|l| l.kind == "PROFANITY");
        let words = WordMatcher::new(&custom, profanity)?;
        let regexes = policies
            .sensitive_information_policy
            .as_ref()
            .map(|p| {
                p.regexes
                    .iter()
                    .map(|r| compile_custom_regex(&r.pattern).map_err(GuardrailError::Validation))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Compiled {
            policies,
            words,
            regexes,
            topics: tokio::sync::OnceCell::new(),
            content_model_checked: tokio::sync::OnceCell::new(),
        })
    }

    /// The content-filter heads, once the embedding model is known to be theirs.
    async fn content_classifier(
        &self,
        embedder: Option<&dyn Embedder>,
    ) -> Result<&'static ContentClassifier> {
        let classifier = ContentClassifier::builtin()?;
        self.content_model_checked
            .get_or_try_init(|| async {
                classifier
                    .check_model(embedder.ok_or_else(no_embedder)?)
                    .await
            })
            .await?;
        Ok(classifier)
    }

    async fn topic_index(&self, embedder: Option<&dyn Embedder>) -> Result<&TopicIndex> {
        let topics = self
            .policies
            .topic_policy
            .as_ref()
            .map_or(&[][..], |p| p.topics.as_slice());
        self.topics
            .get_or_try_init(|| async {
                let embedder = embedder.ok_or_else(no_embedder)?;
                TopicIndex::build(topics, embedder).await
            })
            .await
    }
}

fn no_embedder() -> GuardrailError {
    GuardrailError::Embedding(
        "denied topics and content filters need an embedding model, and this server's catalog serves none".into(),
    )
}

/// Who the guardrail is, for `appliedGuardrailDetails`.
pub(crate) struct Applied<'a> {
    pub id: &'a str,
    pub version: &'a str,
    pub arn: &'a str,
}

/// One detected span to act on.
struct Hit {
    start: usize,
    end: usize,
    /// `{EMAIL}` / `{regex name}`, used when anonymizing.
    placeholder: String,
    anonymize: bool,
}

pub(crate) async fn apply(
    compiled: &Compiled,
    applied: &Applied<'_>,
    request: &ApplyRequest,
    embedder: Option<&dyn Embedder>,
) -> Result<Value> {
    let started = Instant::now();
    let input = request.source == ContentSource::Input;
    let policies = &compiled.policies;

    // Blocks qualified as grounding sources or queries are references for contextual grounding,
    // not content to guard; when some blocks are marked guard_content, only they are guarded.
    let marked = request
        .texts
        .iter()
        .any(|b| b.qualifiers.iter().any(|q| q == "guard_content"));
    let guarded: Vec<&TextBlock> = request
        .texts
        .iter()
        .filter(|b| {
            if marked {
                b.qualifiers.iter().any(|q| q == "guard_content")
            } else {
                !b.qualifiers
                    .iter()
                    .any(|q| q == "grounding_source" || q == "query")
            }
        })
        .collect();

    let mut blocked = false;
    let mut intervened = false;
    let mut custom_words = Vec::new();
    let mut managed_words = Vec::new();
    let mut pii_entities = Vec::new();
    let mut regex_hits = Vec::new();
    let mut topic_entries: Vec<Value> = Vec::new();
    let mut masked_texts = Vec::with_capacity(guarded.len());

    let word_policy = policies.word_policy.clone().unwrap_or_default();
    let sensitive = policies
        .sensitive_information_policy
        .clone()
        .unwrap_or_default();
    let topics = policies
        .topic_policy
        .as_ref()
        .map_or(&[][..], |p| p.topics.as_slice());
    let topic_actions: Vec<Option<String>> = topics
        .iter()
        .map(|t| t.directions.action(input, "BLOCK"))
        .collect();
    let mut topic_detected = vec![false; topics.len()];
    let filters = policies
        .content_policy
        .as_ref()
        .map_or(&[][..], |p| p.filters.as_slice());
    // Each filter's strength, action and head for this direction; None where it does not run.
    let filter_settings: Vec<_> = filters
        .iter()
        .map(|f| {
            let head = FILTER_TYPES.iter().position(|t| *t == f.kind)?;
            let (strength, action) = f.setting(input)?;
            Some((strength, action, head))
        })
        .collect();
    let content_runs = filter_settings.iter().any(Option::is_some);
    let mut content_scores = [0.0f32; FILTER_TYPES.len()];
    let mut classifier = None;
    let topics_run = topic_actions.iter().any(Option::is_some);
    let mut to_embed = EmbeddingBatch::default();
    // Per guarded block, where its topic units and filter windows are in `to_embed`.
    let mut topic_units: Vec<Vec<usize>> = Vec::new();
    let mut content_units: Vec<Vec<usize>> = Vec::new();

    // The pattern policies (words, PII, regexes) and the cutting of texts into units are CPU
    // work over every guarded text: off the async worker.
    basalt_models::cpu_bound(|| {
        for block in &guarded {
            let text = block.text.as_str();
            let mut hits: Vec<Hit> = Vec::new();

            for m in compiled.words.find(text) {
                let (directions, default) = match m.source {
                    WordSource::Custom(i) => (&word_policy.words[i].directions, "BLOCK"),
                    WordSource::Profanity => match word_policy
                        .managed_word_lists
                        .iter()
                        .find(|l| l.kind == "PROFANITY")
                    {
                        Some(list) => (&list.directions, "BLOCK"),
                        None => continue,
                    },
                };
                let Some(action) = directions.action(input, default) else {
                    continue;
                };
                let acted = action == "BLOCK";
                blocked |= acted;
                let entry = json!({
                    "match": &text[m.start..m.end],
                    "action": if acted { "BLOCKED" } else { "NONE" },
                    "detected": true,
                });
                match m.source {
                    WordSource::Custom(_) => custom_words.push(entry),
                    WordSource::Profanity => {
                        let mut entry = entry;
                        entry["type"] = json!("PROFANITY");
                        managed_words.push(entry);
                    }
                }
            }

            if !sensitive.pii_entities.is_empty() {
                for Finding { kind, start, end } in pii::detect(text) {
                    let Some(entity) = sensitive.pii_entities.iter().find(|e| e.kind == kind)
                    else {
                        continue;
                    };
                    let Some(action) = entity_action(&entity.directions, input, &entity.action)
                    else {
                        continue;
                    };
                    let (reported, anonymize) = act(&action, &mut blocked);
                    pii_entities.push(json!({
                        "match": &text[start..end],
                        "type": kind,
                        "action": reported,
                        "detected": true,
                    }));
                    hits.push(Hit {
                        start,
                        end,
                        placeholder: format!("{{{kind}}}"),
                        anonymize,
                    });
                }
            }

            for (regex, config) in compiled.regexes.iter().zip(&sensitive.regexes) {
                let Some(action) = entity_action(&config.directions, input, &config.action) else {
                    continue;
                };
                for m in regex.find_iter(text).filter(|m| !m.is_empty()) {
                    let (reported, anonymize) = act(&action, &mut blocked);
                    regex_hits.push(json!({
                        "name": config.name,
                        "match": m.as_str(),
                        "regex": config.pattern,
                        "action": reported,
                        "detected": true,
                    }));
                    hits.push(Hit {
                        start: m.start(),
                        end: m.end(),
                        placeholder: format!("{{{}}}", config.name),
                        anonymize,
                    });
                }
            }

            if topics_run {
                topic_units.push(
                    topics::units(text)
                        .into_iter()
                        .map(|u| to_embed.add(u))
                        .collect(),
                );
            }
            if content_runs {
                content_units.push(
                    content::windows(text)
                        .into_iter()
                        .map(|u| to_embed.add(u))
                        .collect(),
                );
            }

            intervened |= hits.iter().any(|h| h.anonymize);
            masked_texts.push(mask(text, hits));
        }
    });

    // Denied topics and content filters read the same model: every text they need, from every
    // block, goes through it once (a short text is both a topic unit and a filter window).
    let vectors = if to_embed.is_empty() {
        Vec::new()
    } else {
        to_embed.embed(embedder.ok_or_else(no_embedder)?).await?
    };
    if topics_run {
        let index = compiled.topic_index(embedder).await?;
        for units in &topic_units {
            let scores = index.score_vectors(units.iter().map(|&i| vectors[i].as_slice()));
            for (detected, score) in topic_detected.iter_mut().zip(scores) {
                *detected |= score.detected;
            }
        }
    }
    if content_runs {
        let heads = compiled.content_classifier(embedder).await?;
        for units in &content_units {
            let scores = heads.score_vectors(units.iter().map(|&i| vectors[i].as_slice()));
            for (best, score) in content_scores.iter_mut().zip(scores) {
                *best = best.max(score);
            }
        }
        classifier = Some(heads);
    }

    // One entry per filter that ran, judged on its highest-scoring text block.
    let mut filter_entries: Vec<Value> = Vec::new();
    if let Some(classifier) = classifier {
        for (filter, setting) in filters.iter().zip(&filter_settings) {
            let Some((strength, action, head)) = setting else {
                continue;
            };
            let confidence = classifier.confidence(*head, content_scores[*head]);
            let detected = confidence.caught_at(*strength);
            let acted = detected && action == "BLOCK";
            blocked |= acted;
            if detected || request.output_scope == OutputScope::Full {
                filter_entries.push(json!({
                    "type": filter.kind,
                    "confidence": confidence.as_str(),
                    "filterStrength": strength.as_str(),
                    "action": if acted { "BLOCKED" } else { "NONE" },
                    "detected": detected,
                }));
            }
        }
    }

    for ((topic, action), detected) in topics.iter().zip(&topic_actions).zip(&topic_detected) {
        let Some(action) = action else { continue };
        let acted = *detected && action == "BLOCK";
        blocked |= acted;
        if *detected || request.output_scope == OutputScope::Full {
            topic_entries.push(json!({
                "name": topic.name,
                "type": "DENY",
                "action": if acted { "BLOCKED" } else { "NONE" },
                "detected": detected,
            }));
        }
    }
    // Contextual grounding: the guarded text against the request's grounding source and query.
    let grounding = grounding::evaluate(
        policies.contextual_grounding_policy.as_ref(),
        &request.texts,
        &guarded,
        embedder,
    )
    .await?;
    blocked |= grounding.as_ref().is_some_and(|g| g.blocked);
    intervened |= blocked;

    let total_chars: usize = request.texts.iter().map(|b| b.text.chars().count()).sum();
    let guarded_chars: usize = guarded.iter().map(|b| b.text.chars().count()).sum();
    let units: usize = guarded
        .iter()
        .map(|b| b.text.chars().count().div_ceil(1000))
        .sum();
    let units_if = |ran: bool| if ran { units } else { 0 };
    let usage = json!({
        "topicPolicyUnits": units_if(topic_actions.iter().any(Option::is_some)),
        "contentPolicyUnits": units_if(content_runs),
        "wordPolicyUnits": units_if(policies.word_policy.is_some()),
        "sensitiveInformationPolicyUnits": units_if(!sensitive.pii_entities.is_empty()),
        "sensitiveInformationPolicyFreeUnits": units_if(!sensitive.regexes.is_empty()),
        "contextualGroundingPolicyUnits": grounding.as_ref().map_or(0, |g| g.units),
    });
    let mut coverage = json!({
        "textCharacters": {"guarded": guarded_chars, "total": total_chars},
    });
    if request.images > 0 {
        coverage["images"] = json!({"guarded": 0, "total": request.images});
    }

    let mut assessment = Map::new();
    if let Some(grounding) = grounding {
        assessment.insert(
            "contextualGroundingPolicy".into(),
            json!({ "filters": grounding.entries }),
        );
    }
    if !topic_entries.is_empty() {
        assessment.insert("topicPolicy".into(), json!({ "topics": topic_entries }));
    }
    if !filter_entries.is_empty() {
        assessment.insert("contentPolicy".into(), json!({ "filters": filter_entries }));
    }
    if !custom_words.is_empty() || !managed_words.is_empty() {
        assessment.insert(
            "wordPolicy".into(),
            json!({ "customWords": custom_words, "managedWordLists": managed_words }),
        );
    }
    if !pii_entities.is_empty() || !regex_hits.is_empty() {
        assessment.insert(
            "sensitiveInformationPolicy".into(),
            json!({ "piiEntities": pii_entities, "regexes": regex_hits }),
        );
    }
    assessment.insert(
        "invocationMetrics".into(),
        json!({
            "guardrailProcessingLatency": started.elapsed().as_millis() as u64,
            "usage": usage,
            "guardrailCoverage": coverage,
        }),
    );
    assessment.insert(
        "appliedGuardrailDetails".into(),
        json!({
            "guardrailId": applied.id,
            "guardrailVersion": applied.version,
            "guardrailArn": applied.arn,
            "guardrailOrigin": ["REQUEST"],
            "guardrailOwnership": "SELF",
        }),
    );

    let outputs: Vec<Value> = if blocked {
        let message = if input {
            &policies.blocked_input_messaging
        } else {
            &policies.blocked_outputs_messaging
        };
        vec![json!({ "text": message })]
    } else if intervened {
        masked_texts.iter().map(|t| json!({ "text": t })).collect()
    } else {
        Vec::new()
    };

    Ok(json!({
        "usage": usage,
        "action": if intervened { "GUARDRAIL_INTERVENED" } else { "NONE" },
        "outputs": outputs,
        "assessments": [Value::Object(assessment)],
        "guardrailCoverage": coverage,
    }))
}

/// Texts for the embedding model, each once however many policies and blocks read it.
#[derive(Default)]
struct EmbeddingBatch {
    texts: Vec<String>,
    positions: HashMap<String, usize>,
}

impl EmbeddingBatch {
    /// The position `text`'s vector will have.
    fn add(&mut self, text: String) -> usize {
        if let Some(&at) = self.positions.get(&text) {
            return at;
        }
        let at = self.texts.len();
        self.positions.insert(text.clone(), at);
        self.texts.push(text);
        at
    }

    fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// One unit vector per added text, in order.
    async fn embed(self, embedder: &dyn Embedder) -> Result<Vec<Vec<f32>>> {
        embed_units(embedder, self.texts, "denied topics and content filters").await
    }
}

/// A PII entity's or regex's action for this direction: `inputAction`/`outputAction` when set,
/// else `action`; `None` when the direction is switched off.
fn entity_action(directions: &Directions, input: bool, action: &str) -> Option<String> {
    directions.action(input, action)
}

/// The reported action and whether to mask; BLOCK sets `blocked`.
fn act(action: &str, blocked: &mut bool) -> (&'static str, bool) {
    match action {
        "BLOCK" => {
            *blocked = true;
            ("BLOCKED", false)
        }
        "ANONYMIZE" => ("ANONYMIZED", true),
        _ => ("NONE", false),
    }
}

/// The text with each anonymized span replaced by its placeholder; overlapping spans keep the
/// earlier (then longer) one.
fn mask(text: &str, mut hits: Vec<Hit>) -> String {
    hits.retain(|h| h.anonymize);
    hits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for hit in hits {
        if hit.start < at {
            continue;
        }
        out.push_str(&text[at..hit.start]);
        out.push_str(&hit.placeholder);
        at = hit.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::definition::policy_document;

    fn compiled(config: Value) -> Compiled {
        let mut input = json!({
            "name": "g", "blockedInputMessaging": "Blocked input.", "blockedOutputsMessaging": "Blocked output.",
        });
        input
            .as_object_mut()
            .unwrap()
            .extend(config.as_object().unwrap().clone());
        let doc = policy_document(&input, "us-east-1", "000000000000").unwrap();
        Compiled::new(serde_json::from_value(doc).unwrap()).unwrap()
    }

    fn request(source: ContentSource, text: &str) -> ApplyRequest {
        ApplyRequest {
            source,
            texts: vec![TextBlock {
                text: text.into(),
                qualifiers: vec![],
            }],
            images: 0,
            output_scope: OutputScope::Interventions,
        }
    }

    const APPLIED: Applied<'static> = Applied {
        id: "abc",
        version: "DRAFT",
        arn: "arn:aws:bedrock:us-east-1:000000000000:guardrail/abc",
    };

    #[tokio::test]
    async fn pii_is_anonymized_and_blocked() {
        let g = compiled(
            json!({"sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [
            {"type": "EMAIL", "action": "ANONYMIZE"}, {"type": "CREDIT_DEBIT_CARD_NUMBER", "action": "BLOCK"}]}}),
        );
        let out = apply(
            &g,
            &APPLIED,
            &request(ContentSource::Input, "My email is john@example.com."),
            None,
        )
        .await
        .unwrap();
        assert_eq!(out["action"], "GUARDRAIL_INTERVENED");
        assert_eq!(out["outputs"][0]["text"], "My email is {EMAIL}.");
        assert_eq!(
            out["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"][0],
            json!({"match": "john@example.com", "type": "EMAIL", "action": "ANONYMIZED", "detected": true})
        );
        assert_eq!(out["usage"]["sensitiveInformationPolicyUnits"], 1);

        let out = apply(
            &g,
            &APPLIED,
            &request(ContentSource::Output, "Card 4111 1111 1111 1111"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(out["outputs"][0]["text"], "Blocked output.");

        let out = apply(
            &g,
            &APPLIED,
            &request(ContentSource::Input, "Card 4111 1111 1111 1112"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(out["action"], "NONE");
        assert_eq!(out["outputs"], json!([]));
    }

    #[tokio::test]
    async fn words_and_regexes_with_per_direction_actions() {
        let g = compiled(json!({
            "wordPolicyConfig": {"wordsConfig": [{"text": "badword1", "outputEnabled": false}],
                                 "managedWordListsConfig": [{"type": "PROFANITY"}]},
            "sensitiveInformationPolicyConfig": {"regexesConfig": [
                {"name": "order-id", "pattern": "ORD-\\d{6}", "action": "ANONYMIZE"}]},
        }));
        let out = apply(
            &g,
            &APPLIED,
            &request(ContentSource::Input, "badword1 about ORD-123456"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(out["outputs"][0]["text"], "Blocked input.");
        assert_eq!(
            out["assessments"][0]["wordPolicy"]["customWords"][0]["match"],
            "badword1"
        );
        let out = apply(
            &g,
            &APPLIED,
            &request(ContentSource::Output, "badword1 about ORD-123456"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(out["outputs"][0]["text"], "badword1 about {order-id}");
        assert_eq!(
            out["assessments"][0]["sensitiveInformationPolicy"]["regexes"][0]["name"],
            "order-id"
        );
        assert_eq!(out["usage"]["sensitiveInformationPolicyFreeUnits"], 1);
        let out = apply(
            &g,
            &APPLIED,
            &request(ContentSource::Input, "You absolute shithead."),
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            out["assessments"][0]["wordPolicy"]["managedWordLists"][0],
            json!({"match": "shithead", "type": "PROFANITY", "action": "BLOCKED", "detected": true})
        );
    }

    #[tokio::test]
    async fn topics_without_an_embedder_fail_rather_than_pass() {
        let g = compiled(json!({"topicPolicyConfig": {"topicsConfig": [
            {"name": "x", "definition": "anything", "type": "DENY"}]}}));
        let err = apply(&g, &APPLIED, &request(ContentSource::Input, "hi"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, GuardrailError::Embedding(_)));
    }

    /// Texts to the vectors `ContentClassifier::test_vector` picks.
    struct Towards;

    #[async_trait::async_trait]
    impl Embedder for Towards {
        async fn embed(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, String> {
            let heads = ContentClassifier::builtin().unwrap();
            Ok(texts.iter().map(|t| heads.test_vector(t)).collect())
        }
    }

    fn filters(config: Value) -> Compiled {
        compiled(json!({"contentPolicyConfig": {"filtersConfig": config}}))
    }

    async fn run(g: &Compiled, source: ContentSource, text: &str, scope: OutputScope) -> Value {
        let mut request = request(source, text);
        request.output_scope = scope;
        apply(g, &APPLIED, &request, Some(&Towards)).await.unwrap()
    }

    #[tokio::test]
    async fn content_filters_report_confidence_and_block_by_strength() {
        let g = filters(json!([
            {"type": "HATE", "inputStrength": "HIGH", "outputStrength": "LOW"},
            {"type": "VIOLENCE", "inputStrength": "HIGH", "outputStrength": "HIGH", "inputAction": "NONE"},
            {"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"},
        ]));
        let out = run(&g, ContentSource::Input, "HATE", OutputScope::Interventions).await;
        assert_eq!(out["action"], "GUARDRAIL_INTERVENED");
        assert_eq!(out["outputs"][0]["text"], "Blocked input.");
        assert_eq!(
            out["assessments"][0]["contentPolicy"]["filters"][0],
            json!({"type": "HATE", "confidence": "HIGH", "filterStrength": "HIGH",
                   "action": "BLOCKED", "detected": true})
        );
        assert_eq!(out["usage"]["contentPolicyUnits"], 1);

        // Detect-only: reported, not blocked.
        let out = run(
            &g,
            ContentSource::Input,
            "VIOLENCE",
            OutputScope::Interventions,
        )
        .await;
        assert_eq!(out["action"], "NONE");
        let entries = &out["assessments"][0]["contentPolicy"]["filters"];
        let violence = entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "VIOLENCE")
            .unwrap();
        assert_eq!(violence["action"], "NONE");
        assert_eq!(violence["detected"], true);

        // Nothing harmful: nothing reported unless FULL asks for every filter that ran.
        let out = run(
            &g,
            ContentSource::Input,
            "neutral",
            OutputScope::Interventions,
        )
        .await;
        assert_eq!(out["action"], "NONE");
        assert!(out["assessments"][0].get("contentPolicy").is_none());
        let out = run(&g, ContentSource::Input, "neutral", OutputScope::Full).await;
        let entries = out["assessments"][0]["contentPolicy"]["filters"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(entries.len(), 3);
        assert!(entries
            .iter()
            .all(|e| e["detected"] == false && e["action"] == "NONE" && e["confidence"] == "NONE"));

        // PROMPT_ATTACK screens inputs only.
        let out = run(
            &g,
            ContentSource::Output,
            "PROMPT_ATTACK",
            OutputScope::Full,
        )
        .await;
        let entries = out["assessments"][0]["contentPolicy"]["filters"]
            .as_array()
            .unwrap()
            .clone();
        assert!(entries.iter().all(|e| e["type"] != "PROMPT_ATTACK"));
        let out = run(
            &g,
            ContentSource::Input,
            "PROMPT_ATTACK",
            OutputScope::Interventions,
        )
        .await;
        assert_eq!(
            out["assessments"][0]["contentPolicy"]["filters"][0]["type"],
            "PROMPT_ATTACK"
        );
    }

    #[tokio::test]
    async fn strength_none_and_switched_off_directions_never_block() {
        let g = filters(json!([
            {"type": "HATE", "inputStrength": "NONE", "outputStrength": "HIGH", "outputEnabled": false},
            {"type": "INSULTS", "inputStrength": "HIGH", "outputStrength": "HIGH", "inputModalities": ["IMAGE"]},
        ]));
        for source in [ContentSource::Input, ContentSource::Output] {
            for text in ["HATE", "INSULTS"] {
                let out = run(&g, source, text, OutputScope::Full).await;
                let expect_insults = source == ContentSource::Output && text == "INSULTS";
                assert_eq!(
                    out["action"],
                    if expect_insults {
                        "GUARDRAIL_INTERVENED"
                    } else {
                        "NONE"
                    },
                    "{source:?} {text}: {out}"
                );
                let ran = out["usage"]["contentPolicyUnits"] == 1;
                assert_eq!(ran, source == ContentSource::Output);
            }
        }
    }

    #[tokio::test]
    async fn content_filters_refuse_another_embedding_model() {
        struct Other;
        #[async_trait::async_trait]
        impl Embedder for Other {
            async fn embed(
                &self,
                texts: Vec<String>,
            ) -> std::result::Result<Vec<Vec<f32>>, String> {
                Ok(texts.iter().map(|_| vec![1.0; 384]).collect())
            }
        }
        let g =
            filters(json!([{"type": "HATE", "inputStrength": "HIGH", "outputStrength": "HIGH"}]));
        let err = apply(
            &g,
            &APPLIED,
            &request(ContentSource::Input, "hi"),
            Some(&Other),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, GuardrailError::Embedding(_)), "{err}");
        let err = apply(&g, &APPLIED, &request(ContentSource::Input, "hi"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, GuardrailError::Embedding(_)), "{err}");
    }

    #[tokio::test]
    async fn catastrophic_looking_regexes_run_in_linear_time() {
        let g = compiled(
            json!({"sensitiveInformationPolicyConfig": {"regexesConfig": [
            {"name": "evil", "pattern": "(a+)+$", "action": "BLOCK"}]}}),
        );
        let text = format!("{}!", "a".repeat(100_000));
        let started = Instant::now();
        apply(&g, &APPLIED, &request(ContentSource::Input, &text), None)
            .await
            .unwrap();
        assert!(started.elapsed().as_secs_f64() < 2.0);
    }
}
