//! Reading a body the way Bedrock's JSON-schema check does, so that errors read like Bedrock's:
//! `Malformed input request: #/temperature: expected type: Number, found: String, please
//! reformat your input and try again.`

use serde_json::{Map, Value};

use crate::CodecError;

/// Wraps a schema violation in Bedrock's "Malformed input request" sentence.
pub(crate) fn malformed(detail: impl std::fmt::Display) -> CodecError {
    CodecError::Validation(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

/// The type names Bedrock's schema validator prints.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

/// Parses the body; anything but a JSON object is malformed.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, CodecError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| malformed(format!("#: body is not valid JSON ({err})")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(malformed(format!(
            "#: expected type: JSONObject, found: {}",
            type_name(&other)
        ))),
    }
}

fn format_bound(bound: f64) -> String {
    // Prints 1 rather than 1.0, as the schema validator does.
    format!("{bound}")
}

/// One JSON object and its schema path (`#`, `#/textGenerationConfig`).
#[derive(Clone, Copy)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

/// A numeric range; `None` leaves that side open.
#[derive(Clone, Copy)]
pub(crate) struct Range {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Range {
    #[cfg(test)]
    pub const ANY: Range = Range {
        min: None,
        max: None,
    };
    pub const UNIT: Range = Range {
        min: Some(0.0),
        max: Some(1.0),
    };

    pub const fn between(min: f64, max: f64) -> Range {
        Range {
            min: Some(min),
            max: Some(max),
        }
    }

    pub const fn at_least(min: f64) -> Range {
        Range {
            min: Some(min),
            max: None,
        }
    }
}

impl<'a> Fields<'a> {
    pub fn root(map: &'a Map<String, Value>) -> Self {
        Fields { map, path: "#" }
    }

    pub fn nested(map: &'a Map<String, Value>, path: &'a str) -> Self {
        Fields { map, path }
    }

    fn child_path(&self, key: &str) -> String {
        format!("{}/{}", self.path, key)
    }

    /// Rejects members the body format does not define.
    pub fn deny_unknown(&self, allowed: &[&str]) -> Result<(), CodecError> {
        match self.map.keys().find(|key| !allowed.contains(&key.as_str())) {
            Some(key) => Err(malformed(format!(
                "{}: extraneous key [{key}] is not permitted",
                self.path
            ))),
            None => Ok(()),
        }
    }

    /// A member's value; JSON `null` counts as absent, as lenient clients send it for defaults.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    pub fn required(&self, key: &str) -> Result<&'a Value, CodecError> {
        self.get(key)
            .ok_or_else(|| malformed(format!("{}: required key [{key}] not found", self.path)))
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &Value) -> CodecError {
        malformed(format!(
            "{}: expected type: {expected}, found: {}",
            self.child_path(key),
            type_name(found)
        ))
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, CodecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "String", other)),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<&'a str, CodecError> {
        let value = self.required(key)?;
        value
            .as_str()
            .ok_or_else(|| self.wrong_type(key, "String", value))
    }

    fn check_range(
        &self,
        key: &str,
        value: &Value,
        x: f64,
        range: Range,
    ) -> Result<(), CodecError> {
        if let Some(min) = range.min {
            if x < min {
                return Err(malformed(format!(
                    "{}: {value} is not greater or equal to {}",
                    self.child_path(key),
                    format_bound(min)
                )));
            }
        }
        if let Some(max) = range.max {
            if x > max {
                return Err(malformed(format!(
                    "{}: {value} is not less or equal to {}",
                    self.child_path(key),
                    format_bound(max)
                )));
            }
        }
        Ok(())
    }

    pub fn number(&self, key: &str, range: Range) -> Result<Option<f64>, CodecError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let x = value
            .as_f64()
            .ok_or_else(|| self.wrong_type(key, "Number", value))?;
        self.check_range(key, value, x, range)?;
        Ok(Some(x))
    }

    pub fn integer(&self, key: &str, range: Range) -> Result<Option<i64>, CodecError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        // 512.0 is an integer to a JSON-schema validator; 0.5 is not.
        let x = match value {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            }),
            _ => None,
        }
        .ok_or_else(|| self.wrong_type(key, "Integer", value))?;
        self.check_range(key, value, x as f64, range)?;
        Ok(Some(x))
    }

    pub fn required_integer(&self, key: &str, range: Range) -> Result<i64, CodecError> {
        self.required(key)?;
        self.integer(key, range)?
            .ok_or_else(|| malformed(format!("{}: required key [{key}] not found", self.path)))
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, CodecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong_type(key, "JSONArray", other)),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, CodecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.wrong_type(key, "JSONObject", other)),
        }
    }

    /// A list of strings such as stop sequences, with an optional item limit.
    pub fn string_list(
        &self,
        key: &str,
        max_items: Option<usize>,
    ) -> Result<Vec<String>, CodecError> {
        let Some(items) = self.array(key)? else {
            return Ok(Vec::new());
        };
        if let Some(max) = max_items {
            if items.len() > max {
                return Err(malformed(format!(
                    "{}: expected maximum item count: {max}, found: {}",
                    self.child_path(key),
                    items.len()
                )));
            }
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(malformed(format!(
                    "{}/{i}: expected type: String, found: {}",
                    self.child_path(key),
                    type_name(other)
                ))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("test body must be an object"),
        }
    }

    fn message(err: CodecError) -> String {
        let CodecError::Validation(message) = err;
        message
    }

    #[test]
    fn non_object_bodies_are_malformed() {
        let err = parse_object(b"[1,2]").err().map(message);
        assert_eq!(
            err.as_deref(),
            Some("Malformed input request: #: expected type: JSONObject, found: JSONArray, please reformat your input and try again.")
        );
        assert!(parse_object(b"{not json").is_err());
        assert!(parse_object(b"{}").is_ok());
    }

    #[test]
    fn ranges_and_types_name_the_field() {
        let body = map(json!({"t": 1.5, "k": 0.5, "s": ["a", 3], "x": null}));
        let fields = Fields::root(&body);
        assert_eq!(
            fields.number("t", Range::UNIT).err().map(message).as_deref(),
            Some("Malformed input request: #/t: 1.5 is not less or equal to 1, please reformat your input and try again.")
        );
        assert!(message(
            fields
                .integer("k", Range::ANY)
                .err()
                .unwrap_or(CodecError::Validation(String::new()))
        )
        .contains("#/k: expected type: Integer, found: Number"));
        assert!(message(
            fields
                .string_list("s", None)
                .err()
                .unwrap_or(CodecError::Validation(String::new()))
        )
        .contains("#/s/1: expected type: String, found: Integer"));
        assert_eq!(fields.number("x", Range::UNIT).ok(), Some(None));
        assert!(message(
            fields
                .required("x")
                .err()
                .unwrap_or(CodecError::Validation(String::new()))
        )
        .contains("#: required key [x] not found"));
    }

    #[test]
    fn whole_floats_are_integers() {
        let body = map(json!({"n": 512.0}));
        assert_eq!(
            Fields::root(&body).integer("n", Range::at_least(1.0)).ok(),
            Some(Some(512))
        );
    }
}
