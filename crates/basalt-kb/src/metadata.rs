//! Metadata attributes and Bedrock's `<file>.metadata.json` sidecars.
//!
//! A sidecar is `{"metadataAttributes": {...}}` where each attribute is either a plain JSON
//! value (`"year": 2021`, `"tags": ["a", "b"]`) or the typed form of the S3 data source docs:
//! `{"value": {"type": "NUMBER", "numberValue": 2021}, "includeForEmbedding": true}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{KbError, Result};

/// Bedrock refuses metadata files over 10 KB.
pub const MAX_METADATA_FILE_BYTES: usize = 10 * 1024;

/// The attribute Bedrock adds to every chunk: the document's URI (filterable like any other).
pub const SOURCE_URI_KEY: &str = "x-amz-bedrock-kb-source-uri";
/// The attribute Bedrock adds to every chunk: the chunk's id.
pub const CHUNK_ID_KEY: &str = "x-amz-bedrock-kb-chunk-id";
/// The attribute Bedrock adds to every chunk: the data source it came from.
pub const DATA_SOURCE_ID_KEY: &str = "x-amz-bedrock-kb-data-source-id";

/// One attribute's value: Bedrock's `STRING | NUMBER | BOOLEAN | STRING_LIST`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Boolean(bool),
    Number(f64),
    String(String),
    StringList(Vec<String>),
}

impl AttributeValue {
    /// The JSON a Retrieve response carries in `metadata`.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Boolean(b) => Value::Bool(*b),
            // Whole numbers go out as integers, as the sidecar most likely wrote them.
            Self::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Value::from(*n as i64),
            Self::Number(n) => Value::from(*n),
            Self::String(s) => Value::String(s.clone()),
            Self::StringList(l) => Value::from(l.clone()),
        }
    }
}

/// A chunk's attributes, by key.
pub type Metadata = BTreeMap<String, AttributeValue>;

/// What a sidecar says about its document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentMetadata {
    pub attributes: Metadata,
    /// Keys whose `includeForEmbedding` is true: their values are embedded with the text.
    pub include_for_embedding: Vec<String>,
}

impl DocumentMetadata {
    /// Lines to put before a chunk's text when embedding it (`key: value`), or "" if none.
    pub fn embedding_prefix(&self) -> String {
        let mut out = String::new();
        for key in &self.include_for_embedding {
            if let Some(value) = self.attributes.get(key) {
                let shown = match value {
                    AttributeValue::String(s) => s.clone(),
                    other => other.to_json().to_string(),
                };
                out.push_str(&format!("{key}: {shown}\n"));
            }
        }
        out
    }
}

/// Parses a `<file>.metadata.json` sidecar.
pub fn parse_metadata_file(bytes: &[u8]) -> Result<DocumentMetadata> {
    if bytes.len() > MAX_METADATA_FILE_BYTES {
        return Err(KbError::Metadata(format!(
            "{} bytes, more than the {MAX_METADATA_FILE_BYTES} allowed",
            bytes.len()
        )));
    }
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| KbError::Metadata(format!("not JSON: {e}")))?;
    let Some(attributes) = root.get("metadataAttributes") else {
        return Err(KbError::Metadata(
            "no metadataAttributes object".to_string(),
        ));
    };
    let Value::Object(attributes) = attributes else {
        return Err(KbError::Metadata(
            "metadataAttributes must be an object".to_string(),
        ));
    };
    let mut out = DocumentMetadata::default();
    for (key, raw) in attributes {
        if key.is_empty() || key.chars().count() > 100 {
            return Err(KbError::Metadata(format!(
                "attribute key {key:?} must be 1 to 100 characters"
            )));
        }
        let (value, embed) = parse_attribute(key, raw)?;
        if embed {
            out.include_for_embedding.push(key.clone());
        }
        out.attributes.insert(key.clone(), value);
    }
    Ok(out)
}

fn parse_attribute(key: &str, raw: &Value) -> Result<(AttributeValue, bool)> {
    let bad = |why: &str| KbError::Metadata(format!("metadataAttributes.{key}: {why}"));
    match raw {
        Value::Object(typed) => {
            let value = typed
                .get("value")
                .ok_or_else(|| bad("an object attribute needs a value member"))?;
            let embed = match typed.get("includeForEmbedding") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("includeForEmbedding must be a boolean")),
            };
            Ok((parse_typed(value).map_err(|why| bad(&why))?, embed))
        }
        other => Ok((plain_value(other).map_err(|why| bad(&why))?, false)),
    }
}

/// `{"type": "STRING_LIST", "stringListValue": [...]}` and its siblings.
fn parse_typed(value: &Value) -> std::result::Result<AttributeValue, String> {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or("value.type must be STRING, NUMBER, BOOLEAN or STRING_LIST")?;
    let member = |name: &str| {
        value
            .get(name)
            .ok_or_else(|| format!("a {kind} value needs value.{name}"))
    };
    match kind {
        "STRING" => match member("stringValue")? {
            Value::String(s) => Ok(AttributeValue::String(s.clone())),
            _ => Err("value.stringValue must be a string".to_string()),
        },
        "NUMBER" => member("numberValue")?
            .as_f64()
            .map(AttributeValue::Number)
            .ok_or_else(|| "value.numberValue must be a number".to_string()),
        "BOOLEAN" => member("booleanValue")?
            .as_bool()
            .map(AttributeValue::Boolean)
            .ok_or_else(|| "value.booleanValue must be a boolean".to_string()),
        "STRING_LIST" => match member("stringListValue")? {
            list @ Value::Array(_) => plain_value(list),
            _ => Err("value.stringListValue must be a list of strings".to_string()),
        },
        other => Err(format!(
            "value.type {other:?} is not STRING, NUMBER, BOOLEAN or STRING_LIST"
        )),
    }
}

fn plain_value(value: &Value) -> std::result::Result<AttributeValue, String> {
    match value {
        Value::Bool(b) => Ok(AttributeValue::Boolean(*b)),
        Value::Number(n) => n
            .as_f64()
            .map(AttributeValue::Number)
            .ok_or_else(|| "number out of range".to_string()),
        Value::String(s) => Ok(AttributeValue::String(s.clone())),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(AttributeValue::StringList)
            .ok_or_else(|| "a list attribute must hold only strings".to_string()),
        Value::Null => Err("null is not an attribute value".to_string()),
        Value::Object(_) => Err("unexpected object".to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_form() {
        let m = parse_metadata_file(
            br#"{"metadataAttributes": {"year": 2021, "tags": ["a","b"], "genre": "x", "ok": true}}"#,
        )
        .unwrap();
        assert_eq!(m.attributes["year"], AttributeValue::Number(2021.0));
        assert_eq!(
            m.attributes["tags"],
            AttributeValue::StringList(vec!["a".into(), "b".into()])
        );
        assert_eq!(m.attributes["genre"], AttributeValue::String("x".into()));
        assert_eq!(m.attributes["ok"], AttributeValue::Boolean(true));
        assert!(m.include_for_embedding.is_empty());
    }

    #[test]
    fn typed_form() {
        let m = parse_metadata_file(
            br#"{"metadataAttributes": {
                "year": {"value": {"type": "NUMBER", "numberValue": 2021}, "includeForEmbedding": true},
                "tags": {"value": {"type": "STRING_LIST", "stringListValue": ["a"]}},
                "genre": {"value": {"type": "STRING", "stringValue": "jazz"}, "includeForEmbedding": false},
                "live": {"value": {"type": "BOOLEAN", "booleanValue": false}}
            }}"#,
        )
        .unwrap();
        assert_eq!(m.attributes["year"], AttributeValue::Number(2021.0));
        assert_eq!(
            m.attributes["tags"],
            AttributeValue::StringList(vec!["a".into()])
        );
        assert_eq!(m.attributes["live"], AttributeValue::Boolean(false));
        assert_eq!(m.include_for_embedding, vec!["year".to_string()]);
        assert_eq!(m.embedding_prefix(), "year: 2021\n");
    }

    #[test]
    fn bad_sidecars_name_the_attribute() {
        for (body, needle) in [
            (&br#"{"metadataAttributes": {"x": null}}"#[..], "metadataAttributes.x"),
            (br#"{"metadataAttributes": {"x": [1]}}"#, "only strings"),
            (
                br#"{"metadataAttributes": {"x": {"value": {"type": "NUMBER", "stringValue": "1"}}}}"#,
                "numberValue",
            ),
            (br#"{"attributes": {}}"#, "metadataAttributes"),
            (b"not json", "not JSON"),
        ] {
            let err = parse_metadata_file(body).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        let big = format!(
            r#"{{"metadataAttributes": {{"x": "{}"}}}}"#,
            "a".repeat(MAX_METADATA_FILE_BYTES)
        );
        assert!(parse_metadata_file(big.as_bytes()).is_err());
    }

    #[test]
    fn values_round_trip_through_json() {
        let m: Metadata =
            serde_json::from_str(r#"{"a": 1, "b": "x", "c": ["y"], "d": false}"#).unwrap();
        assert_eq!(m["a"].to_json(), serde_json::json!(1));
        let back: Metadata = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
