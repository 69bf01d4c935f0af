//! Bedrock's `RetrievalFilter`, parsed from the JSON boto3 sends and evaluated on a chunk's
//! metadata. Parsing checks what the service checks (one operator per object, 2+ members in
//! `andAll`/`orAll`, lists for `in`/`notIn`, numbers for the ordering operators, strings for
//! the string operators) and names the failing field's path.

use serde_json::Value;

use crate::error::{KbError, Result};
use crate::metadata::{AttributeValue, Metadata};

/// A scalar a filter compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Boolean(bool),
    Number(f64),
    String(String),
}

/// Ordering operators: they take and match numbers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RetrievalFilter {
    Equals {
        key: String,
        value: FilterValue,
    },
    /// Also true when the key is absent (Bedrock documents this for notEquals only).
    NotEquals {
        key: String,
        value: FilterValue,
    },
    Compare {
        op: Comparison,
        key: String,
        value: f64,
    },
    In {
        key: String,
        values: Vec<FilterValue>,
    },
    NotIn {
        key: String,
        values: Vec<FilterValue>,
    },
    StartsWith {
        key: String,
        value: String,
    },
    ListContains {
        key: String,
        value: String,
    },
    /// A string containing `value`, or a string list with a member that does.
    StringContains {
        key: String,
        value: String,
    },
    AndAll(Vec<RetrievalFilter>),
    OrAll(Vec<RetrievalFilter>),
}

const OPERATORS: &str = "equals, notEquals, greaterThan, greaterThanOrEquals, lessThan, \
lessThanOrEquals, in, notIn, startsWith, listContains, stringContains, andAll, orAll";

impl RetrievalFilter {
    /// Parses a filter; `path` is where it sits in the request, e.g. `filter` or
    /// `retrievalConfiguration.vectorSearchConfiguration.filter`.
    pub fn parse(value: &Value, path: &str) -> Result<Self> {
        let Value::Object(members) = value else {
            return Err(KbError::validation(path, "must be an object"));
        };
        let mut set = members.iter();
        let (Some((op, body)), None) = (set.next(), set.next()) else {
            return Err(KbError::validation(
                path,
                format!("must set exactly one of {OPERATORS}"),
            ));
        };
        let here = format!("{path}.{op}");
        match op.as_str() {
            "andAll" | "orAll" => {
                let Value::Array(items) = body else {
                    return Err(KbError::validation(here, "must be a list of filters"));
                };
                if items.len() < 2 {
                    return Err(KbError::validation(here, "must hold at least 2 filters"));
                }
                let list = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Self::parse(item, &format!("{here}[{i}]")))
                    .collect::<Result<Vec<_>>>()?;
                Ok(if op == "andAll" {
                    Self::AndAll(list)
                } else {
                    Self::OrAll(list)
                })
            }
            _ => {
                let (key, value) = attribute(body, &here)?;
                let at = format!("{here}.value");
                let string = |v: &Value| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| KbError::validation(&at, "must be a string"))
                };
                let number = |v: &Value| {
                    v.as_f64()
                        .ok_or_else(|| KbError::validation(&at, "must be a number"))
                };
                let compare = |op| -> Result<Self> {
                    Ok(Self::Compare {
                        op,
                        key: key.clone(),
                        value: number(value)?,
                    })
                };
                match op.as_str() {
                    "equals" => Ok(Self::Equals {
                        value: scalar(value, &at)?,
                        key,
                    }),
                    "notEquals" => Ok(Self::NotEquals {
                        value: scalar(value, &at)?,
                        key,
                    }),
                    "greaterThan" => compare(Comparison::GreaterThan),
                    "greaterThanOrEquals" => compare(Comparison::GreaterThanOrEquals),
                    "lessThan" => compare(Comparison::LessThan),
                    "lessThanOrEquals" => compare(Comparison::LessThanOrEquals),
                    "in" => Ok(Self::In {
                        values: scalar_list(value, &at)?,
                        key,
                    }),
                    "notIn" => Ok(Self::NotIn {
                        values: scalar_list(value, &at)?,
                        key,
                    }),
                    "startsWith" => Ok(Self::StartsWith {
                        value: string(value)?,
                        key,
                    }),
                    "listContains" => Ok(Self::ListContains {
                        value: string(value)?,
                        key,
                    }),
                    "stringContains" => Ok(Self::StringContains {
                        value: string(value)?,
                        key,
                    }),
                    _ => Err(KbError::validation(
                        here,
                        format!("unknown operator; use one of {OPERATORS}"),
                    )),
                }
            }
        }
    }

    /// Whether a chunk with these attributes passes.
    pub fn matches(&self, metadata: &Metadata) -> bool {
        match self {
            Self::Equals { key, value } => metadata.get(key).is_some_and(|a| equal(a, value)),
            Self::NotEquals { key, value } => !metadata.get(key).is_some_and(|a| equal(a, value)),
            Self::Compare { op, key, value } => match metadata.get(key) {
                Some(AttributeValue::Number(n)) => match op {
                    Comparison::GreaterThan => n > value,
                    Comparison::GreaterThanOrEquals => n >= value,
                    Comparison::LessThan => n < value,
                    Comparison::LessThanOrEquals => n <= value,
                },
                _ => false,
            },
            Self::In { key, values } => metadata
                .get(key)
                .is_some_and(|a| values.iter().any(|v| equal(a, v))),
            Self::NotIn { key, values } => metadata
                .get(key)
                .is_some_and(|a| !values.iter().any(|v| equal(a, v))),
            Self::StartsWith { key, value } => {
                matches!(metadata.get(key), Some(AttributeValue::String(s)) if s.starts_with(value.as_str()))
            }
            Self::ListContains { key, value } => {
                matches!(metadata.get(key), Some(AttributeValue::StringList(l)) if l.iter().any(|m| m == value))
            }
            Self::StringContains { key, value } => match metadata.get(key) {
                Some(AttributeValue::String(s)) => s.contains(value.as_str()),
                Some(AttributeValue::StringList(l)) => l.iter().any(|m| m.contains(value.as_str())),
                _ => false,
            },
            Self::AndAll(list) => list.iter().all(|f| f.matches(metadata)),
            Self::OrAll(list) => list.iter().any(|f| f.matches(metadata)),
        }
    }
}

/// `{"key": ..., "value": ...}` with a key of 1 to 100 characters.
fn attribute<'a>(body: &'a Value, path: &str) -> Result<(String, &'a Value)> {
    let Value::Object(members) = body else {
        return Err(KbError::validation(
            path,
            "must be an object with key and value",
        ));
    };
    if let Some(extra) = members.keys().find(|k| *k != "key" && *k != "value") {
        return Err(KbError::validation(
            format!("{path}.{extra}"),
            "unknown member",
        ));
    }
    let key = match members.get("key") {
        Some(Value::String(k)) if !k.is_empty() && k.chars().count() <= 100 => k.clone(),
        Some(Value::String(_)) => {
            return Err(KbError::validation(
                format!("{path}.key"),
                "must be 1 to 100 characters",
            ))
        }
        Some(_) => {
            return Err(KbError::validation(
                format!("{path}.key"),
                "must be a string",
            ))
        }
        None => return Err(KbError::validation(format!("{path}.key"), "is required")),
    };
    let value = members
        .get("value")
        .ok_or_else(|| KbError::validation(format!("{path}.value"), "is required"))?;
    Ok((key, value))
}

fn scalar(value: &Value, path: &str) -> Result<FilterValue> {
    match value {
        Value::Bool(b) => Ok(FilterValue::Boolean(*b)),
        Value::String(s) => Ok(FilterValue::String(s.clone())),
        Value::Number(n) => n
            .as_f64()
            .map(FilterValue::Number)
            .ok_or_else(|| KbError::validation(path, "number out of range")),
        _ => Err(KbError::validation(
            path,
            "must be a string, number or boolean",
        )),
    }
}

fn scalar_list(value: &Value, path: &str) -> Result<Vec<FilterValue>> {
    let Value::Array(items) = value else {
        return Err(KbError::validation(path, "must be a list"));
    };
    if items.is_empty() {
        return Err(KbError::validation(path, "must not be empty"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| scalar(item, &format!("{path}[{i}]")))
        .collect()
}

fn equal(attribute: &AttributeValue, value: &FilterValue) -> bool {
    match (attribute, value) {
        (AttributeValue::Boolean(a), FilterValue::Boolean(b)) => a == b,
        (AttributeValue::Number(a), FilterValue::Number(b)) => a == b,
        (AttributeValue::String(a), FilterValue::String(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn doc() -> Metadata {
        serde_json::from_value(json!({
            "year": 2021, "genre": "jazz", "tags": ["live", "vinyl"], "explicit": false, "title": "Kind of Blue"
        }))
        .unwrap()
    }

    fn check(filter: Value) -> bool {
        RetrievalFilter::parse(&filter, "filter")
            .unwrap()
            .matches(&doc())
    }

    fn error(filter: Value) -> String {
        match RetrievalFilter::parse(&filter, "filter").unwrap_err() {
            KbError::Validation { path, .. } => path,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn equality() {
        assert!(check(json!({"equals": {"key": "year", "value": 2021}})));
        assert!(check(json!({"equals": {"key": "year", "value": 2021.0}})));
        assert!(!check(json!({"equals": {"key": "year", "value": "2021"}})));
        assert!(check(
            json!({"equals": {"key": "explicit", "value": false}})
        ));
        assert!(!check(json!({"equals": {"key": "missing", "value": 1}})));
        assert!(check(
            json!({"notEquals": {"key": "genre", "value": "rock"}})
        ));
        assert!(!check(
            json!({"notEquals": {"key": "genre", "value": "jazz"}})
        ));
        // Absent keys pass notEquals, as Bedrock documents.
        assert!(check(
            json!({"notEquals": {"key": "missing", "value": "jazz"}})
        ));
    }

    #[test]
    fn ordering_on_numbers_only() {
        assert!(check(
            json!({"greaterThan": {"key": "year", "value": 2020}})
        ));
        assert!(!check(
            json!({"greaterThan": {"key": "year", "value": 2021}})
        ));
        assert!(check(
            json!({"greaterThanOrEquals": {"key": "year", "value": 2021}})
        ));
        assert!(check(json!({"lessThan": {"key": "year", "value": 2022.5}})));
        assert!(!check(json!({"lessThan": {"key": "year", "value": 2021}})));
        assert!(check(
            json!({"lessThanOrEquals": {"key": "year", "value": 2021}})
        ));
        // A string attribute never satisfies a numeric comparison.
        assert!(!check(json!({"greaterThan": {"key": "genre", "value": 0}})));
        assert_eq!(
            error(json!({"greaterThan": {"key": "year", "value": "2020"}})),
            "filter.greaterThan.value"
        );
    }

    #[test]
    fn membership() {
        assert!(check(
            json!({"in": {"key": "genre", "value": ["rock", "jazz"]}})
        ));
        assert!(!check(json!({"in": {"key": "genre", "value": ["rock"]}})));
        assert!(check(json!({"in": {"key": "year", "value": [2020, 2021]}})));
        assert!(check(
            json!({"notIn": {"key": "genre", "value": ["rock", "pop"]}})
        ));
        assert!(!check(
            json!({"notIn": {"key": "genre", "value": ["jazz"]}})
        ));
        assert!(!check(
            json!({"notIn": {"key": "missing", "value": ["jazz"]}})
        ));
        assert_eq!(
            error(json!({"in": {"key": "genre", "value": "jazz"}})),
            "filter.in.value"
        );
        assert_eq!(
            error(json!({"notIn": {"key": "genre", "value": []}})),
            "filter.notIn.value"
        );
        assert_eq!(
            error(json!({"in": {"key": "genre", "value": ["a", {"b": 1}]}})),
            "filter.in.value[1]"
        );
    }

    #[test]
    fn string_operators() {
        assert!(check(
            json!({"startsWith": {"key": "title", "value": "Kind"}})
        ));
        assert!(!check(
            json!({"startsWith": {"key": "title", "value": "Blue"}})
        ));
        assert!(!check(
            json!({"startsWith": {"key": "year", "value": "20"}})
        ));
        assert!(check(
            json!({"listContains": {"key": "tags", "value": "live"}})
        ));
        assert!(!check(
            json!({"listContains": {"key": "tags", "value": "liv"}})
        ));
        assert!(!check(
            json!({"listContains": {"key": "genre", "value": "jazz"}})
        ));
        assert!(check(
            json!({"stringContains": {"key": "title", "value": "of B"}})
        ));
        assert!(check(
            json!({"stringContains": {"key": "tags", "value": "iny"}})
        ));
        assert!(!check(
            json!({"stringContains": {"key": "tags", "value": "cd"}})
        ));
        assert_eq!(
            error(json!({"startsWith": {"key": "title", "value": 1}})),
            "filter.startsWith.value"
        );
        assert_eq!(
            error(json!({"listContains": {"key": "tags", "value": ["live"]}})),
            "filter.listContains.value"
        );
        assert_eq!(
            error(json!({"stringContains": {"key": "tags", "value": true}})),
            "filter.stringContains.value"
        );
    }

    #[test]
    fn combinations() {
        assert!(check(json!({"andAll": [
            {"equals": {"key": "genre", "value": "jazz"}},
            {"greaterThan": {"key": "year", "value": 2000}}
        ]})));
        assert!(!check(json!({"andAll": [
            {"equals": {"key": "genre", "value": "jazz"}},
            {"greaterThan": {"key": "year", "value": 2021}}
        ]})));
        assert!(check(json!({"orAll": [
            {"equals": {"key": "genre", "value": "rock"}},
            {"orAll": [
                {"listContains": {"key": "tags", "value": "vinyl"}},
                {"equals": {"key": "year", "value": 1}}
            ]}
        ]})));
        assert_eq!(
            error(json!({"andAll": [
                {"equals": {"key": "genre", "value": "jazz"}},
                {"greaterThan": {"key": "year", "value": "x"}}
            ]})),
            "filter.andAll[1].greaterThan.value"
        );
        assert_eq!(
            error(json!({"orAll": [{"equals": {"key": "genre", "value": "jazz"}}]})),
            "filter.orAll"
        );
        assert_eq!(error(json!({"andAll": {}})), "filter.andAll");
    }

    #[test]
    fn shape_errors() {
        assert_eq!(error(json!({})), "filter");
        assert_eq!(
            error(
                json!({"equals": {"key": "a", "value": 1}, "notEquals": {"key": "a", "value": 1}})
            ),
            "filter"
        );
        assert_eq!(
            error(json!({"like": {"key": "a", "value": 1}})),
            "filter.like"
        );
        assert_eq!(error(json!({"equals": {"value": 1}})), "filter.equals.key");
        assert_eq!(
            error(json!({"equals": {"key": "", "value": 1}})),
            "filter.equals.key"
        );
        assert_eq!(
            error(json!({"equals": {"key": "a"}})),
            "filter.equals.value"
        );
        assert_eq!(
            error(json!({"equals": {"key": "a", "value": null}})),
            "filter.equals.value"
        );
        assert_eq!(
            error(json!({"equals": {"key": "a", "value": 1, "x": 2}})),
            "filter.equals.x"
        );
        assert_eq!(error(json!([1])), "filter");
    }
}
