//! Checking a bound input against its shape, with AWS's (Coral's) messages.
//!
//! Violations are collected over the whole input and joined the way AWS joins them:
//! `2 validation errors detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy
//! constraint: Member must have value greater than or equal to 1; Value ...`. A value of the
//! wrong JSON type is not a constraint violation: AWS fails to deserialize it first, so it is
//! reported alone as a serialization error. `pattern` traits are Java regexes that must match
//! the whole value; they run on `fancy-regex` (Rust's `regex` plus the look-arounds two of the
//! models' patterns use), compiled once per pattern.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use fancy_regex::Regex;
use serde_json::Value;

use crate::model::{ServiceModel, Shape, ShapeType};
use crate::{Route, ServiceModels};

/// One failed constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// AWS-style path: `inferenceConfig.maxTokens`, `messages.1.member.content`.
    pub path: String,
    /// The offending value as AWS prints it; `None` prints as `null`.
    pub value: Option<String>,
    /// `Member must not be null`, `Member must have length less than or equal to 10`, ...
    pub constraint: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "Value '{v}'")?,
            None => f.write_str("Value null")?,
        }
        write!(
            f,
            " at '{}' failed to satisfy constraint: {}",
            self.path, self.constraint
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The input breaks the model's constraints: AWS `ValidationException`.
    #[error("{}", constraints_message(.0))]
    Constraints(Vec<Violation>),
    /// The request cannot be read as the operation's input (malformed JSON, a JSON value of
    /// the wrong type, a query value that is not a number): AWS `SerializationException`.
    #[error("{0}")]
    Serialization(String),
    /// The route names an operation the models do not have (a hand-built [`Route`]).
    #[error("{service} has no operation {operation}")]
    UnknownOperation { service: String, operation: String },
}

impl ValidationError {
    /// The AWS error code (`x-amzn-ErrorType`) this error is answered with.
    pub fn error_type(&self) -> &'static str {
        match self {
            ValidationError::Constraints(_) => "ValidationException",
            ValidationError::Serialization(_) => "SerializationException",
            ValidationError::UnknownOperation { .. } => "UnknownOperationException",
        }
    }
}

fn constraints_message(violations: &[Violation]) -> String {
    let n = violations.len();
    let plural = if n == 1 { "" } else { "s" };
    let list: Vec<String> = violations.iter().map(Violation::to_string).collect();
    format!("{n} validation error{plural} detected: {}", list.join("; "))
}

impl ServiceModels {
    /// Check `input` (as built by [`ServiceModels::bind_input`]) against the operation's
    /// input shape. A raw blob or event-stream payload member is not in `input` and is
    /// skipped here; `bind_input` checks it.
    pub fn validate(&self, route: &Route<'_>, input: &Value) -> Result<(), ValidationError> {
        let (model, shape) = match self.input_shape(route)? {
            Some(found) => found,
            None => return Ok(()),
        };
        let raw_payload = raw_payload_member(model, shape);
        let mut walk = Walk {
            model,
            violations: Vec::new(),
            type_error: None,
        };
        walk.structure(shape, input, "", raw_payload);
        if let Some(message) = walk.type_error {
            return Err(ValidationError::Serialization(message));
        }
        if walk.violations.is_empty() {
            Ok(())
        } else {
            Err(ValidationError::Constraints(walk.violations))
        }
    }

    /// The model and input shape of a route's operation; `None` for operations without input.
    pub(crate) fn input_shape(
        &self,
        route: &Route<'_>,
    ) -> Result<Option<(&ServiceModel, &Shape)>, ValidationError> {
        let unknown = || ValidationError::UnknownOperation {
            service: route.service.to_owned(),
            operation: route.operation.to_owned(),
        };
        let model = self.service(route.service).ok_or_else(unknown)?;
        let op = model.operations.get(route.operation).ok_or_else(unknown)?;
        let Some(input) = &op.input else {
            return Ok(None);
        };
        let shape = model.shape(&input.shape).ok_or_else(unknown)?;
        Ok(Some((model, shape)))
    }
}

/// The payload member whose bytes are the raw HTTP body (a blob or an event stream).
pub(crate) fn raw_payload_member<'a>(model: &ServiceModel, shape: &'a Shape) -> Option<&'a str> {
    let name = shape.payload.as_deref()?;
    let target = model.shape(&shape.member(name)?.shape)?;
    let raw = target.shape_type == ShapeType::Blob || target.eventstream;
    raw.then_some(name)
}

/// Each model pattern compiled once, anchored at both ends as Java's `String.matches` is. A
/// pattern that does not compile (none of today's models has one) is not checked, rather than
/// refusing every value.
fn matches_pattern(pattern: &str, value: &str) -> bool {
    static COMPILED: OnceLock<RwLock<HashMap<String, Option<Arc<Regex>>>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(Default::default);
    let cached = cache
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(pattern)
        .cloned();
    let regex = match cached {
        Some(regex) => regex,
        None => {
            let compiled = compile_pattern(pattern).map(Arc::new);
            cache
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(pattern.to_owned(), compiled.clone());
            compiled
        }
    };
    // A match that gives up (fancy-regex's backtrack limit) is not held against the value.
    regex.is_none_or(|regex| regex.is_match(value).unwrap_or(true))
}

/// `every_pattern_in_the_models_compiles` keeps this `Some` for the embedded models.
fn compile_pattern(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{pattern})$")).ok()
}

struct Walk<'m> {
    model: &'m ServiceModel,
    violations: Vec<Violation>,
    /// The first value of the wrong JSON type.
    type_error: Option<String>,
}

impl Walk<'_> {
    fn violation(&mut self, path: &str, value: Option<String>, constraint: String) {
        self.violations.push(Violation {
            path: path.to_owned(),
            value,
            constraint,
        });
    }

    fn wrong_type(&mut self, path: &str, expected: &str, value: &Value) {
        if self.type_error.is_none() {
            let found = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "list",
                Value::Object(_) => "object",
            };
            let at = if path.is_empty() {
                "the request body".to_owned()
            } else {
                format!("'{path}'")
            };
            self.type_error = Some(format!("Expected {expected} at {at} but found {found}"));
        }
    }

    fn value(&mut self, shape_name: &str, value: &Value, path: &str) {
        let model = self.model;
        // A dangling shape reference would be a model defect; nothing to check against.
        let Some(shape) = model.shape(shape_name) else {
            return;
        };
        if shape.is_document() {
            return;
        }
        match shape.shape_type {
            ShapeType::Structure => self.structure(shape, value, path, None),
            ShapeType::List => self.list(shape, value, path),
            ShapeType::Map => self.map(shape, value, path),
            ShapeType::String => match value.as_str() {
                Some(s) => self.string(shape, s, path),
                None => self.wrong_type(path, "a string", value),
            },
            ShapeType::Integer
            | ShapeType::Long
            | ShapeType::Short
            | ShapeType::Byte
            | ShapeType::BigInteger => {
                match value
                    .as_i64()
                    .map(|i| i as f64)
                    .or_else(|| value.as_u64().map(|u| u as f64))
                {
                    Some(n) => self.range(shape, n, render(value, false), path),
                    None => self.wrong_type(path, "an integer", value),
                }
            }
            ShapeType::Float | ShapeType::Double | ShapeType::BigDecimal => match value.as_f64() {
                Some(n) => self.range(shape, n, render(value, true), path),
                None => self.wrong_type(path, "a number", value),
            },
            ShapeType::Boolean => {
                if !value.is_boolean() {
                    self.wrong_type(path, "a boolean", value);
                }
            }
            // Epoch seconds in JSON bodies, ISO 8601 text where timestampFormat or the query says so.
            ShapeType::Timestamp => {
                if !(value.is_number() || value.is_string()) {
                    self.wrong_type(path, "a timestamp", value);
                }
            }
            ShapeType::Blob => match value.as_str() {
                Some(b64) => self.length(shape, base64_len(b64), path, Some(b64.to_owned())),
                None => self.wrong_type(path, "base64 text", value),
            },
            ShapeType::Other => {}
        }
    }

    fn structure(&mut self, shape: &Shape, value: &Value, path: &str, skip: Option<&str>) {
        let Some(object) = value.as_object() else {
            self.wrong_type(path, "an object", value);
            return;
        };
        let present = |name: &str| object.get(name).filter(|v| !v.is_null());
        for name in &shape.required {
            if skip != Some(name.as_str()) && present(name).is_none() {
                self.violation(
                    &join(path, name),
                    None,
                    "Member must not be null".to_owned(),
                );
            }
        }
        if shape.union {
            let set = shape
                .members
                .iter()
                .filter(|(name, _)| present(name).is_some())
                .count();
            if set != 1 {
                let at = if path.is_empty() { "input" } else { path };
                self.violation(
                    at,
                    Some(render(value, false)),
                    format!("Member must have exactly one member set, found {set}"),
                );
            }
        }
        for (name, member) in &shape.members {
            if skip == Some(name.as_str()) {
                continue;
            }
            if let Some(v) = present(name) {
                self.value(&member.shape, v, &join(path, name));
            }
        }
    }

    fn list(&mut self, shape: &Shape, value: &Value, path: &str) {
        let Some(items) = value.as_array() else {
            self.wrong_type(path, "a list", value);
            return;
        };
        self.length(shape, items.len(), path, Some(render(value, false)));
        let Some(member) = &shape.member else { return };
        for (i, item) in items.iter().enumerate() {
            let at = format!("{}.member", join(path, &(i + 1).to_string()));
            if item.is_null() {
                self.violation(&at, None, "Member must not be null".to_owned());
            } else {
                self.value(&member.shape, item, &at);
            }
        }
    }

    fn map(&mut self, shape: &Shape, value: &Value, path: &str) {
        let Some(entries) = value.as_object() else {
            self.wrong_type(path, "a map", value);
            return;
        };
        self.length(shape, entries.len(), path, Some(render(value, false)));
        let model = self.model;
        for (key, item) in entries {
            if let Some(key_shape) = shape.key.as_ref().and_then(|k| model.shape(&k.shape)) {
                let before = self.violations.len();
                self.string(key_shape, key, path);
                // AWS reports bad keys as one constraint on the map itself.
                let broken: Vec<String> = self
                    .violations
                    .drain(before..)
                    .map(|v| v.constraint)
                    .collect();
                if !broken.is_empty() {
                    let constraint =
                        format!("Map keys must satisfy constraint: [{}]", broken.join(", "));
                    self.violation(path, Some(key.clone()), constraint);
                }
            }
            if let Some(value_member) = &shape.value {
                let at = join(path, key);
                if item.is_null() {
                    self.violation(&at, None, "Member must not be null".to_owned());
                } else {
                    self.value(&value_member.shape, item, &at);
                }
            }
        }
    }

    fn string(&mut self, shape: &Shape, s: &str, path: &str) {
        self.length(shape, s.chars().count(), path, Some(s.to_owned()));
        if !shape.enum_values.is_empty() && !shape.enum_values.iter().any(|e| e == s) {
            let constraint = format!(
                "Member must satisfy enum value set: [{}]",
                shape.enum_values.join(", ")
            );
            self.violation(path, Some(s.to_owned()), constraint);
        }
        if let Some(pattern) = &shape.pattern {
            if !matches_pattern(pattern, s) {
                let constraint =
                    format!("Member must satisfy regular expression pattern: {pattern}");
                self.violation(path, Some(s.to_owned()), constraint);
            }
        }
    }

    fn length(&mut self, shape: &Shape, len: usize, path: &str, shown: Option<String>) {
        let len = len as f64;
        if let Some(min) = shape
            .min
            .as_ref()
            .filter(|m| m.as_f64().is_some_and(|m| len < m))
        {
            let constraint = format!("Member must have length greater than or equal to {min}");
            self.violation(path, shown.clone(), constraint);
        }
        if let Some(max) = shape
            .max
            .as_ref()
            .filter(|m| m.as_f64().is_some_and(|m| len > m))
        {
            let constraint = format!("Member must have length less than or equal to {max}");
            self.violation(path, shown, constraint);
        }
    }

    fn range(&mut self, shape: &Shape, n: f64, shown: String, path: &str) {
        if let Some(min) = shape
            .min
            .as_ref()
            .filter(|m| m.as_f64().is_some_and(|m| n < m))
        {
            let constraint = format!("Member must have value greater than or equal to {min}");
            self.violation(path, Some(shown.clone()), constraint);
        }
        if let Some(max) = shape
            .max
            .as_ref()
            .filter(|m| m.as_f64().is_some_and(|m| n > m))
        {
            let constraint = format!("Member must have value less than or equal to {max}");
            self.violation(path, Some(shown), constraint);
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// A value as AWS (Java) prints it: strings bare, floats with a fraction (`2.0`), lists as
/// `[a, b]`, anything else as compact JSON.
fn render(value: &Value, float: bool) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if float => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|v| render(v, false)).collect();
            format!("[{}]", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// Decoded size of base64 text, which is what a blob's length constraint counts.
fn base64_len(b64: &str) -> usize {
    let body = b64.trim_end_matches('=');
    let n = body.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    n * 3 / 4
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn route(service: &'static str, operation: &'static str) -> Route<'static> {
        Route {
            service,
            operation,
            labels: Default::default(),
        }
    }

    fn message(service: &'static str, operation: &'static str, input: Value) -> String {
        let models = ServiceModels::global();
        match models.validate(&route(service, operation), &input) {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    fn converse(extra: Value) -> Value {
        let mut input = json!({
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "messages": [{"role": "user", "content": [{"text": "hi"}]}]
        });
        if let (Some(obj), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        input
    }

    #[test]
    fn a_valid_converse_passes() {
        let input = converse(json!({
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.5},
            "additionalModelRequestFields": {"top_k": 5, "anything": [1, "two", null]}
        }));
        assert_eq!(message("bedrock-runtime", "Converse", input), "");
    }

    #[test]
    fn missing_required_member() {
        let msg = message("bedrock-runtime", "CountTokens", json!({"modelId": "m"}));
        assert_eq!(
            msg,
            "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null"
        );
        let msg = message("bedrock-runtime", "Converse", json!({}));
        assert_eq!(
            msg,
            "1 validation error detected: Value null at 'modelId' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn enum_violation_lists_the_allowed_values() {
        let input = converse(json!({"messages": [{"role": "robot", "content": [{"text": "hi"}]}]}));
        assert_eq!(
            message("bedrock-runtime", "Converse", input),
            "1 validation error detected: Value 'robot' at 'messages.1.member.role' failed to satisfy constraint: \
             Member must satisfy enum value set: [user, assistant, system]"
        );
    }

    #[test]
    fn range_violations_are_collected() {
        let input = converse(json!({"inferenceConfig": {"maxTokens": 0, "temperature": 2}}));
        assert_eq!(
            message("bedrock-runtime", "Converse", input),
            "2 validation errors detected: \
             Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1; \
             Value '2.0' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"
        );
    }

    #[test]
    fn nested_list_member_paths_are_one_based() {
        let input = converse(json!({"messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant"}
        ]}));
        assert_eq!(
            message("bedrock-runtime", "Converse", input),
            "1 validation error detected: Value null at 'messages.2.member.content' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn union_with_two_members_set() {
        let input = converse(json!({"messages": [
            {"role": "user", "content": [{"text": "hi", "cachePoint": {"type": "default"}}]}
        ]}));
        let msg = message("bedrock-runtime", "Converse", input);
        assert!(
            msg.starts_with("1 validation error detected: Value '"),
            "{msg}"
        );
        assert!(
            msg.contains("at 'messages.1.member.content.1.member' failed to satisfy constraint: Member must have exactly one member set, found 2"),
            "{msg}"
        );
        let msg = message(
            "bedrock-runtime",
            "CountTokens",
            json!({"modelId": "m", "input": {}}),
        );
        assert!(msg.contains("at 'input' failed to satisfy constraint: Member must have exactly one member set, found 0"), "{msg}");
    }

    #[test]
    fn length_constraints_on_strings_and_lists() {
        let long_id = "x".repeat(3000);
        let msg = message(
            "bedrock-runtime",
            "Converse",
            converse(json!({"modelId": long_id})),
        );
        assert!(
            msg.starts_with("1 validation error detected: Value 'xxx"),
            "{msg}"
        );
        assert!(msg.contains("at 'modelId' failed to satisfy constraint: Member must have length less than or equal to 2048"), "{msg}");
        let msg = message(
            "bedrock-runtime",
            "Converse",
            converse(json!({"modelId": ""})),
        );
        // AWS reports every constraint an empty value breaks: the length, then the pattern.
        assert!(
            msg.starts_with("2 validation errors detected: Value '' at 'modelId' failed to satisfy constraint: Member must have length greater than or equal to 1; Value '' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern: "),
            "{msg}"
        );
    }

    #[test]
    fn wrong_json_type_is_a_serialization_error() {
        let models = ServiceModels::global();
        let input = converse(json!({"inferenceConfig": {"maxTokens": "many"}}));
        let err = models
            .validate(&route("bedrock-runtime", "Converse"), &input)
            .expect_err("invalid");
        assert_eq!(err.error_type(), "SerializationException");
        assert_eq!(
            err.to_string(),
            "Expected an integer at 'inferenceConfig.maxTokens' but found string"
        );
    }

    #[test]
    fn unknown_members_are_ignored_and_unknown_operations_reported() {
        let input = converse(json!({"somethingNew": {"a": 1}}));
        assert_eq!(message("bedrock-runtime", "Converse", input), "");
        let err = ServiceModels::global()
            .validate(&route("bedrock-runtime", "Nope"), &json!({}))
            .expect_err("unknown");
        assert_eq!(err.error_type(), "UnknownOperationException");
    }

    #[test]
    fn render_prints_like_java() {
        assert_eq!(render(&json!(2), true), "2.0");
        assert_eq!(render(&json!(0.25), true), "0.25");
        assert_eq!(render(&json!(0), false), "0");
        assert_eq!(render(&json!(["a", "b"]), false), "[a, b]");
        assert_eq!(base64_len("aGVsbG8="), 5);
        assert_eq!(base64_len("aGVsbG8h"), 6);
    }
}

#[cfg(test)]
mod pattern_tests {
    use serde_json::json;

    use super::*;

    fn check(service: &'static str, operation: &'static str, input: Value) -> String {
        let route = Route {
            service,
            operation,
            labels: Default::default(),
        };
        match ServiceModels::global().validate(&route, &input) {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_pattern_in_the_models_compiles() {
        let models = ServiceModels::global();
        let mut patterns = 0;
        for service in crate::SERVICES {
            let model = models.service(service).expect("embedded");
            for (name, shape) in &model.shapes {
                if let Some(pattern) = &shape.pattern {
                    assert!(
                        compile_pattern(pattern).is_some(),
                        "{service} {name}: {pattern}"
                    );
                    patterns += 1;
                }
            }
        }
        assert!(patterns > 200, "{patterns}");
    }

    #[test]
    fn a_value_must_match_the_whole_pattern() {
        let pattern = "([0-9a-zA-Z][_-]?){1,100}";
        assert!(matches_pattern(pattern, "my_kb-1"));
        assert!(!matches_pattern(pattern, "my kb"));
        assert!(!matches_pattern(pattern, "kb!"));
        // Look-ahead, as bedrock-agent's non-blank text patterns use.
        assert!(matches_pattern("^(?!\\s*$).+", "x"));
        assert!(!matches_pattern("^(?!\\s*$).+", "   "));
    }

    #[test]
    fn a_pattern_violation_reads_as_bedrocks() {
        let input = json!({
            "name": "my kb",
            "roleArn": "not-a-role",
            "knowledgeBaseConfiguration": {"type": "VECTOR"},
        });
        assert_eq!(
            check("bedrock-agent", "CreateKnowledgeBase", input),
            "2 validation errors detected: \
             Value 'my kb' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ([0-9a-zA-Z][_-]?){1,100}; \
             Value 'not-a-role' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+"
        );
    }

    #[test]
    fn the_catalogs_model_ids_pass() {
        for model_id in [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "fault.throttle-once",
        ] {
            let input = json!({
                "modelId": model_id,
                "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            });
            assert_eq!(
                check("bedrock-runtime", "Converse", input),
                "",
                "{model_id}"
            );
        }
    }
}
