//! restJson1 input binding: path labels, query, headers and body into one input object.
//!
//! The result is the operation's input as botocore's caller wrote it, keyed by member name:
//! `{"modelId": ..., "messages": [...]}`. Query and header values are converted to the
//! member's type (integers, booleans, lists); timestamps stay as the text that was sent. A
//! blob or event-stream payload (InvokeModel's `body`) is handed back as raw bytes beside it.

use serde_json::{Map, Number, Value};

use crate::model::{Location, ServiceModel, Shape, ShapeType};
use crate::routing::parse_query;
use crate::validation::raw_payload_member;
use crate::{Route, ServiceModels, ValidationError, Violation};

/// A request bound to its operation's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding<'b> {
    /// Every member except a raw payload, keyed by member name.
    pub input: Value,
    /// The raw body when the input's payload member is a blob or an event stream
    /// (InvokeModel's `body`); `None` when that body is empty or there is no such member.
    pub payload: Option<&'b [u8]>,
}

impl ServiceModels {
    /// Build the route's operation input from the request's parts. Fails on a body that is
    /// not JSON (or not a JSON object), on a query, header or label value that cannot be
    /// converted to its member's type, and on an empty body for a required raw payload.
    pub fn bind_input<'b>(
        &self,
        route: &Route<'_>,
        headers: &http::HeaderMap,
        raw_query: Option<&str>,
        body: &'b [u8],
    ) -> Result<Binding<'b>, ValidationError> {
        let Some((model, shape)) = self.input_shape(route)? else {
            return Ok(Binding {
                input: Value::Object(Map::new()),
                payload: None,
            });
        };
        let mut input = Map::new();
        let mut payload = None;

        match shape.payload.as_deref() {
            Some(name) if raw_payload_member(model, shape).is_some() => {
                if !body.is_empty() {
                    payload = Some(body);
                } else if shape.required.iter().any(|r| r == name) {
                    let missing = Violation {
                        path: name.to_owned(),
                        value: None,
                        constraint: "Member must not be null".to_owned(),
                    };
                    return Err(ValidationError::Constraints(vec![missing]));
                }
            }
            Some(name) => {
                let target = shape.member(name).and_then(|m| model.shape(&m.shape));
                if target.is_some_and(|t| t.shape_type == ShapeType::String) {
                    if !body.is_empty() {
                        let text = std::str::from_utf8(body).map_err(|_| {
                            ValidationError::Serialization(
                                "Request body is not valid UTF-8".to_owned(),
                            )
                        })?;
                        input.insert(name.to_owned(), Value::String(text.to_owned()));
                    }
                } else if let Some(value) = parse_body(body)? {
                    input.insert(name.to_owned(), value);
                }
            }
            None => {
                if let Some(value) = parse_body(body)? {
                    let Value::Object(mut object) = value else {
                        return Err(ValidationError::Serialization(
                            "Could not parse request body into json: expected a JSON object"
                                .to_owned(),
                        ));
                    };
                    for (name, member) in &shape.members {
                        if member.location.is_none() {
                            match object.remove(member.wire_name(name)) {
                                Some(Value::Null) | None => {}
                                Some(v) => {
                                    input.insert(name.clone(), v);
                                }
                            }
                        }
                    }
                }
            }
        }

        let query = parse_query(raw_query.unwrap_or(""));
        let pattern_keys: Vec<&str> = self
            .pattern(route)
            .map(|p| p.static_query_keys().collect())
            .unwrap_or_default();
        let mut claimed: Vec<&str> = pattern_keys;
        for (name, member) in &shape.members {
            let Some(target) = model.shape(&member.shape) else {
                continue;
            };
            let wire = member.wire_name(name);
            match member.location {
                Some(Location::Uri) => {
                    let label = route.labels.get(wire).or_else(|| route.labels.get(name));
                    if let Some(text) = label {
                        input.insert(name.clone(), scalar(target, text, name)?);
                    }
                }
                Some(Location::Querystring) if member.location_name.is_some() => {
                    claimed.push(wire);
                    let values: Vec<&str> = query
                        .iter()
                        .filter(|(k, _)| k == wire)
                        .map(|(_, v)| v.as_deref().unwrap_or(""))
                        .collect();
                    if let Some(value) = query_value(model, target, &values, name)? {
                        input.insert(name.clone(), value);
                    }
                }
                Some(Location::Header) => {
                    let values: Vec<&str> = headers
                        .get_all(wire)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .collect();
                    if !values.is_empty() {
                        input.insert(
                            name.clone(),
                            header_value(model, target, &values.join(","), name)?,
                        );
                    }
                }
                Some(Location::Headers) => {
                    let prefix = wire.to_ascii_lowercase();
                    let mut map = Map::new();
                    for (header, value) in headers {
                        if let (Some(key), Ok(text)) =
                            (header.as_str().strip_prefix(&prefix), value.to_str())
                        {
                            map.insert(key.to_owned(), Value::String(text.to_owned()));
                        }
                    }
                    if !map.is_empty() {
                        input.insert(name.clone(), Value::Object(map));
                    }
                }
                _ => {}
            }
        }
        // A query map without a name takes every parameter no other member claimed.
        for (name, member) in &shape.members {
            if member.location != Some(Location::Querystring) || member.location_name.is_some() {
                continue;
            }
            let Some(target) = model.shape(&member.shape) else {
                continue;
            };
            let values_are_lists = target
                .value
                .as_ref()
                .and_then(|v| model.shape(&v.shape))
                .is_some_and(|v| v.shape_type == ShapeType::List);
            let mut map = Map::new();
            for (key, value) in query.iter().filter(|(k, _)| !claimed.contains(&k.as_str())) {
                let text = Value::String(value.clone().unwrap_or_default());
                if values_are_lists {
                    if let Value::Array(list) = map
                        .entry(key.clone())
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        list.push(text);
                    }
                } else {
                    map.entry(key.clone()).or_insert(text);
                }
            }
            if !map.is_empty() {
                input.insert(name.clone(), Value::Object(map));
            }
        }
        Ok(Binding {
            input: Value::Object(input),
            payload,
        })
    }
}

/// JSON body, `None` when empty. botocore sends no body at all when no body member is set.
fn parse_body(body: &[u8]) -> Result<Option<Value>, ValidationError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        ValidationError::Serialization(format!("Could not parse request body into json: {e}"))
    })
}

fn query_value(
    model: &ServiceModel,
    shape: &Shape,
    values: &[&str],
    name: &str,
) -> Result<Option<Value>, ValidationError> {
    if values.is_empty() {
        return Ok(None);
    }
    if shape.shape_type == ShapeType::List {
        let Some(item) = shape.member.as_ref().and_then(|m| model.shape(&m.shape)) else {
            return Ok(None);
        };
        let items = values
            .iter()
            .map(|v| scalar(item, v, name))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(Value::Array(items)));
    }
    scalar(shape, values[0], name).map(Some)
}

/// Header lists are comma-separated (botocore joins them with `,`).
fn header_value(
    model: &ServiceModel,
    shape: &Shape,
    text: &str,
    name: &str,
) -> Result<Value, ValidationError> {
    if shape.shape_type == ShapeType::List {
        let item = shape.member.as_ref().and_then(|m| model.shape(&m.shape));
        let items = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match item {
                Some(item) => scalar(item, s, name),
                None => Ok(Value::String(s.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(items));
    }
    scalar(shape, text, name)
}

/// Text from a label, query parameter or header as the member's JSON value.
fn scalar(shape: &Shape, text: &str, name: &str) -> Result<Value, ValidationError> {
    let bad = |what: &str| {
        ValidationError::Serialization(format!(
            "Value '{text}' at '{name}' cannot be converted to {what}"
        ))
    };
    Ok(match shape.shape_type {
        ShapeType::Integer
        | ShapeType::Long
        | ShapeType::Short
        | ShapeType::Byte
        | ShapeType::BigInteger => {
            Value::from(text.trim().parse::<i64>().map_err(|_| bad("an integer"))?)
        }
        ShapeType::Float | ShapeType::Double | ShapeType::BigDecimal => {
            let f = text.trim().parse::<f64>().map_err(|_| bad("a number"))?;
            Value::Number(Number::from_f64(f).ok_or_else(|| bad("a finite number"))?)
        }
        ShapeType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("a boolean")),
        },
        _ => Value::String(text.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method};
    use serde_json::json;

    use super::*;

    fn bind<'b>(
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &'b [u8],
    ) -> (String, String, Result<Binding<'b>, ValidationError>) {
        let models = ServiceModels::global();
        let route = models.resolve(&method, path, query).expect("route");
        let bound = models.bind_input(&route, headers, query, body);
        (route.service.to_owned(), route.operation.to_owned(), bound)
    }

    #[test]
    fn invoke_model_keeps_the_body_raw_and_binds_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers.insert("x-amzn-bedrock-trace", HeaderValue::from_static("ENABLED"));
        let body = br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}"#;
        let (_, op, bound) = bind(
            Method::POST,
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
            None,
            &headers,
            body,
        );
        assert_eq!(op, "InvokeModel");
        let bound = bound.expect("binds");
        assert_eq!(bound.payload, Some(&body[..]));
        assert_eq!(
            bound.input,
            json!({
                "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                "contentType": "application/json",
                "accept": "application/json",
                "trace": "ENABLED"
            })
        );
        let route = Route {
            service: "bedrock-runtime",
            operation: "InvokeModel",
            labels: Default::default(),
        };
        assert!(ServiceModels::global()
            .validate(&route, &json!({"modelId": "m"}))
            .is_ok());
    }

    #[test]
    fn invoke_model_with_response_stream_reads_its_own_accept_header() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-bedrock-accept", HeaderValue::from_static("*/*"));
        headers.insert(
            "accept",
            HeaderValue::from_static("application/vnd.amazon.eventstream"),
        );
        let (_, op, bound) = bind(
            Method::POST,
            "/model/m/invoke-with-response-stream",
            None,
            &headers,
            b"{}",
        );
        assert_eq!(op, "InvokeModelWithResponseStream");
        let bound = bound.expect("binds");
        assert_eq!(bound.input["accept"], "*/*");
        assert_eq!(bound.payload, Some(&b"{}"[..]));
    }

    #[test]
    fn count_tokens_binds_label_and_body() {
        let body =
            br#"{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}}"#;
        let (_, op, bound) = bind(
            Method::POST,
            "/model/m1/count-tokens",
            None,
            &HeaderMap::new(),
            body,
        );
        assert_eq!(op, "CountTokens");
        let bound = bound.expect("binds");
        assert_eq!(bound.payload, None);
        assert_eq!(
            bound.input,
            json!({"modelId": "m1", "input": {"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}})
        );
        let route = Route {
            service: "bedrock-runtime",
            operation: "CountTokens",
            labels: Default::default(),
        };
        assert!(ServiceModels::global()
            .validate(&route, &bound.input)
            .is_ok());
    }

    #[test]
    fn list_foundation_models_query_parameters() {
        let query =
            "byProvider=Anthropic&byOutputModality=TEXT&byInferenceType=ON_DEMAND&unrelated=1";
        let (service, op, bound) = bind(
            Method::GET,
            "/foundation-models",
            Some(query),
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(
            (service.as_str(), op.as_str()),
            ("bedrock", "ListFoundationModels")
        );
        assert_eq!(
            bound.expect("binds").input,
            json!({"byProvider": "Anthropic", "byOutputModality": "TEXT", "byInferenceType": "ON_DEMAND"})
        );
    }

    #[test]
    fn query_integers_booleans_and_lists_are_converted() {
        let (_, op, bound) = bind(
            Method::GET,
            "/custom-models",
            Some("maxResults=5&isOwned=true"),
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(op, "ListCustomModels");
        assert_eq!(
            bound.expect("binds").input,
            json!({"maxResults": 5, "isOwned": true})
        );

        let (service, op, bound) = bind(
            Method::DELETE,
            "/tags/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aagent%2FABC",
            Some("tagKeys=a&tagKeys=b%20c"),
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(
            (service.as_str(), op.as_str()),
            ("bedrock-agent", "UntagResource")
        );
        assert_eq!(
            bound.expect("binds").input,
            json!({"resourceArn": "arn:aws:bedrock:us-east-1:123456789012:agent/ABC", "tagKeys": ["a", "b c"]})
        );

        let (_, _, bound) = bind(
            Method::GET,
            "/custom-models",
            Some("maxResults=lots"),
            &HeaderMap::new(),
            b"",
        );
        let err = bound.expect_err("not a number");
        assert_eq!(err.error_type(), "SerializationException");
        assert!(err.to_string().contains("'maxResults'"), "{err}");
    }

    #[test]
    fn malformed_and_non_object_bodies_are_rejected() {
        let (_, _, bound) = bind(
            Method::POST,
            "/model/m/converse",
            None,
            &HeaderMap::new(),
            b"{\"messages\": [",
        );
        let err = bound.expect_err("malformed");
        assert_eq!(err.error_type(), "SerializationException");
        assert!(
            err.to_string()
                .starts_with("Could not parse request body into json: "),
            "{err}"
        );

        let (_, _, bound) = bind(
            Method::POST,
            "/model/m/converse",
            None,
            &HeaderMap::new(),
            b"[1]",
        );
        assert_eq!(
            bound.expect_err("array").error_type(),
            "SerializationException"
        );
    }

    #[test]
    fn empty_body_is_an_empty_object_and_labels_win_over_body() {
        let (_, op, bound) = bind(
            Method::POST,
            "/model/m/converse",
            None,
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(op, "Converse");
        assert_eq!(bound.expect("binds").input, json!({"modelId": "m"}));

        let body = br#"{"modelId": "other", "messages": null, "unknownThing": 1}"#;
        let (_, _, bound) = bind(
            Method::POST,
            "/model/m/converse",
            None,
            &HeaderMap::new(),
            body,
        );
        assert_eq!(bound.expect("binds").input, json!({"modelId": "m"}));
    }
}
