//! The guardrail definition: CreateGuardrail / UpdateGuardrail input (the `...Config` members)
//! checked and turned into the shape GetGuardrail returns (`topicPolicy.topics`,
//! `wordPolicy.words`, ...), which is what the store keeps; and [`Policies`], that stored shape
//! as types for the engine.
//!
//! Lengths, enums, list sizes and patterns are the service model's and are checked before this
//! code runs (basalt-service-models, with AWS's messages); what is checked here is what the model
//! cannot say (custom regexes compile, policies are consistent).

use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::content::Confidence;
use crate::{GuardrailError, Result};

/// Compiled size limit for a custom regex: the NFA and each lazy DFA stay under this, so a
/// pattern such as `(a{100}){100}` is refused at creation instead of eating memory per request.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The GetGuardrail members built from a create or update input (without id, ARN, version,
/// status or timestamps, which the service adds).
pub(crate) fn policy_document(input: &Value, region: &str, account_id: &str) -> Result<Value> {
    // Names, topic names and tags are checked against the model's patterns on the way in
    // (basalt-service-models); what is left here is what a pattern cannot say.
    let name = required_str(input, "name")?;
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    copy(input, &mut out, "description", "description");
    copy(
        input,
        &mut out,
        "blockedInputMessaging",
        "blockedInputMessaging",
    );
    copy(
        input,
        &mut out,
        "blockedOutputsMessaging",
        "blockedOutputsMessaging",
    );

    if let Some(config) = input.get("topicPolicyConfig") {
        let topics = list(config, "topicsConfig");
        let mut stored = Vec::with_capacity(topics.len());
        for topic in topics {
            required_str(topic, "name")?;
            stored.push(with_direction_defaults(topic, "BLOCK"));
        }
        let mut policy = json!({ "topics": stored });
        if let Some(tier) = config.get("tierConfig") {
            policy["tier"] = tier.clone();
        }
        out.insert("topicPolicy".into(), policy);
    }

    if let Some(config) = input.get("contentPolicyConfig") {
        let filters: Vec<Value> = list(config, "filtersConfig")
            .iter()
            .map(|f| with_direction_defaults(f, "BLOCK"))
            .collect();
        let mut seen = Vec::new();
        for filter in &filters {
            let kind = filter["type"].as_str().unwrap_or_default();
            if seen.contains(&kind) {
                return Err(GuardrailError::Validation(format!(
                    "contentPolicyConfig.filtersConfig lists the filter type {kind} more than once."
                )));
            }
            seen.push(kind);
            // PROMPT_ATTACK screens what users send; Bedrock requires its output side off.
            if kind == "PROMPT_ATTACK" && filter["outputStrength"].as_str() != Some("NONE") {
                return Err(GuardrailError::Validation(
                    "The PROMPT_ATTACK content filter applies to inputs only: set its outputStrength to NONE.".into(),
                ));
            }
        }
        let mut policy = json!({ "filters": filters });
        if let Some(tier) = config.get("tierConfig") {
            policy["tier"] = tier.clone();
        }
        out.insert("contentPolicy".into(), policy);
    }

    if let Some(config) = input.get("wordPolicyConfig") {
        let mut policy = Map::new();
        if config.get("wordsConfig").is_some() {
            let words: Vec<Value> = list(config, "wordsConfig")
                .iter()
                .map(|w| with_direction_defaults(w, "BLOCK"))
                .collect();
            for (i, word) in words.iter().enumerate() {
                if word["text"].as_str().is_none_or(|t| t.trim().is_empty()) {
                    return Err(GuardrailError::Validation(format!(
                        "wordPolicyConfig.wordsConfig.{}.member.text must contain a word, not only white space.",
                        i + 1
                    )));
                }
            }
            policy.insert("words".into(), Value::Array(words));
        }
        if config.get("managedWordListsConfig").is_some() {
            let lists: Vec<Value> = list(config, "managedWordListsConfig")
                .iter()
                .map(|w| with_direction_defaults(w, "BLOCK"))
                .collect();
            policy.insert("managedWordLists".into(), Value::Array(lists));
        }
        if policy.is_empty() {
            return Err(GuardrailError::Validation(
                "wordPolicyConfig must set wordsConfig or managedWordListsConfig.".into(),
            ));
        }
        out.insert("wordPolicy".into(), Value::Object(policy));
    }

    if let Some(config) = input.get("sensitiveInformationPolicyConfig") {
        let mut policy = Map::new();
        if config.get("piiEntitiesConfig").is_some() {
            let entities: Vec<Value> = list(config, "piiEntitiesConfig")
                .iter()
                .map(with_entity_defaults)
                .collect();
            policy.insert("piiEntities".into(), Value::Array(entities));
        }
        if config.get("regexesConfig").is_some() {
            let regexes = list(config, "regexesConfig");
            let mut stored = Vec::with_capacity(regexes.len());
            for (i, regex) in regexes.iter().enumerate() {
                let pattern = required_str(regex, "pattern")?;
                compile_custom_regex(pattern).map_err(|why| {
                    GuardrailError::Validation(format!(
                        "sensitiveInformationPolicyConfig.regexesConfig.{}.member.pattern is not a usable regular expression: {why}",
                        i + 1
                    ))
                })?;
                stored.push(with_entity_defaults(regex));
            }
            policy.insert("regexes".into(), Value::Array(stored));
        }
        if policy.is_empty() {
            return Err(GuardrailError::Validation(
                "sensitiveInformationPolicyConfig must set piiEntitiesConfig or regexesConfig."
                    .into(),
            ));
        }
        out.insert("sensitiveInformationPolicy".into(), Value::Object(policy));
    }

    if let Some(config) = input.get("contextualGroundingPolicyConfig") {
        let filters: Vec<Value> = list(config, "filtersConfig")
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if let Some(o) = f.as_object_mut() {
                    o.entry("action").or_insert_with(|| json!("BLOCK"));
                    o.entry("enabled").or_insert(json!(true));
                }
                f
            })
            .collect();
        for filter in &filters {
            let threshold = filter["threshold"].as_f64().unwrap_or(0.0);
            // Bedrock takes 0 to 0.99: a threshold of 1 would block every answer.
            if !(0.0..=0.99).contains(&threshold) {
                return Err(GuardrailError::Validation(format!(
                    "contextualGroundingPolicyConfig.filtersConfig: threshold must be between 0 and 0.99; got {threshold}."
                )));
            }
        }
        let mut policy = json!({ "filters": filters });
        if let Some(tier) = config.get("tierConfig") {
            policy["tier"] = tier.clone();
        }
        out.insert("contextualGroundingPolicy".into(), policy);
    }

    if let Some(config) = input.get("automatedReasoningPolicyConfig") {
        out.insert("automatedReasoningPolicy".into(), config.clone());
    }
    if let Some(profile) = input
        .pointer("/crossRegionConfig/guardrailProfileIdentifier")
        .and_then(Value::as_str)
    {
        let (id, arn) = match profile.rsplit_once("guardrail-profile/") {
            Some((_, id)) => (id.to_string(), profile.to_string()),
            None => (
                profile.to_string(),
                format!("arn:aws:bedrock:{region}:{account_id}:guardrail-profile/{profile}"),
            ),
        };
        out.insert(
            "crossRegionDetails".into(),
            json!({"guardrailProfileId": id, "guardrailProfileArn": arn}),
        );
    }
    if let Some(key) = input.get("kmsKeyId").and_then(Value::as_str) {
        let arn = if key.starts_with("arn:") {
            key.to_string()
        } else {
            format!("arn:aws:kms:{region}:{account_id}:{}", kms_resource(key))
        };
        out.insert("kmsKeyArn".into(), json!(arn));
    }
    Ok(Value::Object(out))
}

fn kms_resource(key: &str) -> String {
    if key.starts_with("alias/") {
        key.to_string()
    } else {
        format!("key/{key}")
    }
}

/// A custom regex as the engine runs it: Rust's `regex` (linear-time matching, so no pattern can
/// backtrack catastrophically) with its compiled size bounded. Look-around and backreferences,
/// which Java has and linear-time engines cannot offer, are refused with the reason.
pub(crate) fn compile_custom_regex(pattern: &str) -> std::result::Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("it compiles to more than {limit} bytes; simplify its repetitions")
            }
            other => other.to_string().replace('\n', " "),
        })
}

/// Words, topics and content filters: per-direction action defaults to `default_action`, and
/// both directions are enabled unless the input says otherwise (what GetGuardrail shows).
fn with_direction_defaults(item: &Value, default_action: &str) -> Value {
    let mut item = item.clone();
    if let Some(o) = item.as_object_mut() {
        o.entry("inputAction").or_insert(json!(default_action));
        o.entry("outputAction").or_insert(json!(default_action));
        o.entry("inputEnabled").or_insert(json!(true));
        o.entry("outputEnabled").or_insert(json!(true));
    }
    item
}

/// PII entities and regexes: each direction's action defaults to `action`.
fn with_entity_defaults(item: &Value) -> Value {
    let mut item = item.clone();
    let action = item["action"].clone();
    if let Some(o) = item.as_object_mut() {
        o.entry("inputAction").or_insert(action.clone());
        o.entry("outputAction").or_insert(action);
        o.entry("inputEnabled").or_insert(json!(true));
        o.entry("outputEnabled").or_insert(json!(true));
    }
    item
}

fn list<'a>(value: &'a Value, member: &str) -> &'a [Value] {
    value
        .get(member)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn copy(input: &Value, out: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(value) = input.get(from) {
        out.insert(to.into(), value.clone());
    }
}

pub(crate) fn required_str<'a>(input: &'a Value, member: &str) -> Result<&'a str> {
    input
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| GuardrailError::Validation(format!("{member} is required.")))
}

/// The policies of one stored guardrail version, as the engine reads them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policies {
    #[serde(default)]
    pub blocked_input_messaging: String,
    #[serde(default)]
    pub blocked_outputs_messaging: String,
    pub topic_policy: Option<TopicPolicy>,
    pub content_policy: Option<ContentPolicy>,
    pub word_policy: Option<WordPolicy>,
    pub sensitive_information_policy: Option<SensitiveInformationPolicy>,
    pub contextual_grounding_policy: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicPolicy {
    #[serde(default)]
    pub topics: Vec<Topic>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub name: String,
    pub definition: String,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(flatten)]
    pub directions: Directions,
}

/// The per-direction switches every policy item carries.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directions {
    pub input_action: Option<String>,
    pub output_action: Option<String>,
    pub input_enabled: Option<bool>,
    pub output_enabled: Option<bool>,
}

impl Directions {
    /// The action configured for `source`, or `None` when that direction is switched off.
    pub(crate) fn action(&self, input: bool, default: &str) -> Option<String> {
        let (enabled, action) = if input {
            (self.input_enabled, &self.input_action)
        } else {
            (self.output_enabled, &self.output_action)
        };
        if enabled == Some(false) {
            return None;
        }
        Some(action.clone().unwrap_or_else(|| default.to_string()))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContentPolicy {
    #[serde(default)]
    pub filters: Vec<ContentFilter>,
}

/// One content filter as GetGuardrail shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentFilter {
    #[serde(rename = "type")]
    pub kind: String,
    pub input_strength: Option<String>,
    pub output_strength: Option<String>,
    pub input_modalities: Option<Vec<String>>,
    pub output_modalities: Option<Vec<String>>,
    #[serde(flatten)]
    pub directions: Directions,
}

impl ContentFilter {
    /// The strength and action this filter runs with on `input` or output text; `None` when it
    /// does not run there: strength NONE, the direction switched off, TEXT not among its
    /// modalities, or PROMPT_ATTACK on output (it screens what users send).
    pub(crate) fn setting(&self, input: bool) -> Option<(Confidence, String)> {
        let (strength, modalities) = if input {
            (&self.input_strength, &self.input_modalities)
        } else {
            (&self.output_strength, &self.output_modalities)
        };
        let strength = Confidence::parse(strength.as_deref().unwrap_or("NONE"));
        let text = modalities
            .as_ref()
            .is_none_or(|m| m.iter().any(|m| m == "TEXT"));
        if strength == Confidence::None || !text || (!input && self.kind == "PROMPT_ATTACK") {
            return None;
        }
        Some((strength, self.directions.action(input, "BLOCK")?))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WordPolicy {
    #[serde(default)]
    pub words: Vec<Word>,
    #[serde(default)]
    pub managed_word_lists: Vec<ManagedWords>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Word {
    pub text: String,
    #[serde(flatten)]
    pub directions: Directions,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ManagedWords {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub directions: Directions,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SensitiveInformationPolicy {
    #[serde(default)]
    pub pii_entities: Vec<PiiEntity>,
    #[serde(default)]
    pub regexes: Vec<CustomRegex>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PiiEntity {
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    #[serde(flatten)]
    pub directions: Directions,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomRegex {
    pub name: String,
    pub pattern: String,
    pub action: String,
    #[serde(flatten)]
    pub directions: Directions,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn create_input_becomes_the_get_shape_with_defaults() {
        let input = json!({
            "name": "production-safety-guardrail",
            "blockedInputMessaging": "no", "blockedOutputsMessaging": "no out",
            "topicPolicyConfig": {"topicsConfig": [{"name": "legal-advice", "definition": "Legal advice", "type": "DENY"}]},
            "wordPolicyConfig": {"wordsConfig": [{"text": "badword1"}], "managedWordListsConfig": [{"type": "PROFANITY"}]},
            "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}],
                "regexesConfig": [{"name": "order", "pattern": "ORD-\\d{6}", "action": "BLOCK"}]},
            "kmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        });
        let doc = policy_document(&input, "us-east-1", "000000000000").unwrap();
        assert_eq!(doc["topicPolicy"]["topics"][0]["inputAction"], "BLOCK");
        assert_eq!(
            doc["wordPolicy"]["managedWordLists"][0]["type"],
            "PROFANITY"
        );
        assert_eq!(
            doc["sensitiveInformationPolicy"]["piiEntities"][0]["outputAction"],
            "ANONYMIZE"
        );
        assert_eq!(
            doc["kmsKeyArn"],
            "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        let policies: Policies = serde_json::from_value(doc).unwrap();
        assert_eq!(policies.word_policy.unwrap().words[0].text, "badword1");
    }

    #[test]
    fn custom_regexes_are_checked() {
        let base = json!({"blockedInputMessaging": "x", "blockedOutputsMessaging": "y"});
        let mut bad_regex = base.clone();
        bad_regex["name"] = json!("g");
        bad_regex["sensitiveInformationPolicyConfig"] =
            json!({"regexesConfig": [{"name": "r", "pattern": "(unclosed", "action": "BLOCK"}]});
        assert!(policy_document(&bad_regex, "r", "a").is_err());
        bad_regex["sensitiveInformationPolicyConfig"]["regexesConfig"][0]["pattern"] =
            json!("((a{100}){100}){100}");
        let err = policy_document(&bad_regex, "r", "a")
            .unwrap_err()
            .to_string();
        assert!(err.contains("compiles to more than"), "{err}");
        bad_regex["sensitiveInformationPolicyConfig"]["regexesConfig"][0]["pattern"] =
            json!("(?<=a)b");
        assert!(policy_document(&bad_regex, "r", "a").is_err());
    }
}
