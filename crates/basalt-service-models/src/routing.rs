//! Method + path routing over every operation's `requestUri`.
//!
//! All four services sign as `bedrock`, so the request line is the only thing that tells them
//! apart. Patterns are matched segment by segment on the raw (still percent-encoded) path, so
//! an encoded `/` inside a label (a model ARN as `modelId`) stays inside that label; labels are
//! decoded after the split. When several patterns match, the one with literals earliest wins;
//! a full tie goes to the service listed first in [`crate::SERVICES`].

use std::cmp::Ordering;
use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use crate::model::Operation;

/// An operation a request resolved to, with its decoded path labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'m> {
    /// botocore service name, e.g. `bedrock-runtime`.
    pub service: &'m str,
    /// Operation name, e.g. `Converse`.
    pub operation: &'m str,
    /// Path labels by label name (greedy labels without the `+`), percent-decoded.
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No operation of the four services matches this method and path (a path that matches
    /// with another method lands here too).
    #[error("no operation matches {method} {path}")]
    UnknownOperation { method: String, path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Label(String),
    /// `{name+}`: one or more segments, `/` kept.
    Greedy(String),
}

impl Segment {
    /// Literals beat labels beat greedy labels.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Label(_) => 1,
            Segment::Greedy(_) => 0,
        }
    }
}

/// One operation's `requestUri`, compiled.
#[derive(Debug, Clone)]
pub(crate) struct UriPattern {
    pub(crate) service: usize,
    pub(crate) operation: String,
    method: http::Method,
    segments: Vec<Segment>,
    /// Static query parts of the `requestUri` (`/foo?bar` or `/foo?bar=baz`).
    query: Vec<(String, Option<String>)>,
}

impl UriPattern {
    pub(crate) fn compile(service: usize, op: &Operation) -> Option<Self> {
        let method = http::Method::from_bytes(op.http.method.as_bytes()).ok()?;
        let (path, query) = match op.http.request_uri.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (op.http.request_uri.as_str(), None),
        };
        let segments = split_path(path)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(label) => match label.strip_suffix('+') {
                        Some(greedy) => Segment::Greedy(greedy.to_owned()),
                        None => Segment::Label(label.to_owned()),
                    },
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        let query = query
            .map(|q| {
                parse_query(q)
                    .into_iter()
                    .map(|(k, v)| (k, v.filter(|v| !v.is_empty())))
                    .collect()
            })
            .unwrap_or_default();
        Some(UriPattern {
            service,
            operation: op.name.clone(),
            method,
            segments,
            query,
        })
    }

    /// Query keys the `requestUri` itself fixes; they are not input members.
    pub(crate) fn static_query_keys(&self) -> impl Iterator<Item = &str> {
        self.query.iter().map(|(k, _)| k.as_str())
    }

    /// Match a raw path, returning the decoded labels.
    fn matches(
        &self,
        raw: &[&str],
        query: &[(String, Option<String>)],
    ) -> Option<BTreeMap<String, String>> {
        for (key, want) in &self.query {
            let found = query.iter().any(|(k, v)| {
                k == key
                    && want
                        .as_ref()
                        .is_none_or(|w| v.as_deref() == Some(w.as_str()))
            });
            if !found {
                return None;
            }
        }
        let greedy = self
            .segments
            .iter()
            .position(|s| matches!(s, Segment::Greedy(_)));
        let mut labels = BTreeMap::new();
        match greedy {
            None => {
                if raw.len() != self.segments.len() {
                    return None;
                }
                for (seg, raw) in self.segments.iter().zip(raw) {
                    match_one(seg, raw, &mut labels)?;
                }
            }
            Some(g) => {
                let after = self.segments.len() - g - 1;
                if raw.len() < self.segments.len() {
                    return None;
                }
                for (seg, raw) in self.segments[..g].iter().zip(&raw[..g]) {
                    match_one(seg, raw, &mut labels)?;
                }
                let tail = &raw[raw.len() - after..];
                for (seg, raw) in self.segments[g + 1..].iter().zip(tail) {
                    match_one(seg, raw, &mut labels)?;
                }
                let middle = &raw[g..raw.len() - after];
                if middle.iter().all(|s| s.is_empty()) {
                    return None;
                }
                let value: Vec<String> = middle.iter().map(|s| decode(s)).collect();
                if let Segment::Greedy(name) = &self.segments[g] {
                    labels.insert(name.clone(), value.join("/"));
                }
            }
        }
        Some(labels)
    }

    /// Higher is more specific: literals in earlier segments first, then static query parts.
    fn specificity(&self, other: &UriPattern) -> Ordering {
        let mine = self.segments.iter().map(Segment::rank);
        let theirs = other.segments.iter().map(Segment::rank);
        mine.cmp(theirs)
            .then(self.query.len().cmp(&other.query.len()))
    }
}

fn match_one(seg: &Segment, raw: &str, labels: &mut BTreeMap<String, String>) -> Option<()> {
    match seg {
        Segment::Literal(lit) => (decode(raw) == *lit).then_some(()),
        // A label is never empty: botocore refuses empty URI members, and an empty segment is
        // what tells `POST /agents/` (ListAgents) from `POST /agents/{agentId}`.
        Segment::Label(name) if !raw.is_empty() => {
            labels.insert(name.clone(), decode(raw));
            Some(())
        }
        Segment::Label(_) | Segment::Greedy(_) => None,
    }
}

fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

pub(crate) fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Split a raw query into decoded pairs. `+` stays a plus: botocore percent-encodes spaces
/// and plus signs alike, so a raw `+` can only be a literal one.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, Option<String>)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), Some(decode(v))),
            None => (decode(pair), None),
        })
        .collect()
}

/// Compiled patterns, bucketed by nothing fancier than a linear scan: 240 operations.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router {
    pub(crate) patterns: Vec<UriPattern>,
}

impl Router {
    /// Index into `patterns` of the best match, and its labels.
    pub(crate) fn find(
        &self,
        method: &http::Method,
        raw_path: &str,
        raw_query: Option<&str>,
    ) -> Option<(usize, BTreeMap<String, String>)> {
        // Tolerate a path that still carries its query.
        let (path, inline_query) = match raw_path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (raw_path, None),
        };
        let query = parse_query(raw_query.or(inline_query).unwrap_or(""));
        let raw: Vec<&str> = split_path(path).collect();
        let mut best: Option<(usize, BTreeMap<String, String>)> = None;
        for (i, pattern) in self.patterns.iter().enumerate() {
            if pattern.method != *method {
                continue;
            }
            let Some(labels) = pattern.matches(&raw, &query) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((b, _)) => {
                    let current = &self.patterns[*b];
                    match pattern.specificity(current) {
                        Ordering::Greater => true,
                        Ordering::Less => false,
                        Ordering::Equal => pattern.service < current.service,
                    }
                }
            };
            if better {
                best = Some((i, labels));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use crate::ServiceModels;

    fn resolve(method: Method, path: &str) -> (String, String) {
        let route = ServiceModels::global()
            .resolve(&method, path, None)
            .expect("route");
        (route.service.to_owned(), route.operation.to_owned())
    }

    #[test]
    fn converse_with_an_arn_model_id() {
        let path = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0/converse";
        let route = ServiceModels::global()
            .resolve(&Method::POST, path, None)
            .expect("route");
        assert_eq!(
            (route.service, route.operation),
            ("bedrock-runtime", "Converse")
        );
        assert_eq!(
            route.labels.get("modelId").map(String::as_str),
            Some("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0")
        );
        assert_eq!(route.labels.len(), 1);
    }

    #[test]
    fn runtime_inference_paths() {
        for (suffix, op) in [
            ("converse", "Converse"),
            ("converse-stream", "ConverseStream"),
            ("invoke", "InvokeModel"),
            (
                "invoke-with-response-stream",
                "InvokeModelWithResponseStream",
            ),
            ("count-tokens", "CountTokens"),
        ] {
            let got = resolve(
                Method::POST,
                &format!("/model/amazon.titan-text-express-v1/{suffix}"),
            );
            assert_eq!(
                got,
                ("bedrock-runtime".to_owned(), op.to_owned()),
                "{suffix}"
            );
        }
        assert_eq!(
            resolve(Method::GET, "/foundation-models").1,
            "ListFoundationModels"
        );
        assert_eq!(
            resolve(Method::GET, "/foundation-models/anthropic.claude-v2").1,
            "GetFoundationModel"
        );
    }

    #[test]
    fn tag_operations_resolve_to_bedrock_agent() {
        let arn = "/tags/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aagent%2FABCDEFGHIJ";
        for (method, op) in [
            (Method::GET, "ListTagsForResource"),
            (Method::POST, "TagResource"),
            (Method::DELETE, "UntagResource"),
        ] {
            assert_eq!(
                resolve(method, arn),
                ("bedrock-agent".to_owned(), op.to_owned())
            );
        }
        // Both services really do declare them on the same path.
        let models = ServiceModels::global();
        for service in ["bedrock-agent", "bedrock-agent-runtime"] {
            let op = models.operation(service, "TagResource").expect("tag op");
            assert_eq!(
                (op.http.method.as_str(), op.http.request_uri.as_str()),
                ("POST", "/tags/{resourceArn}")
            );
        }
    }

    #[test]
    fn trailing_slash_tells_prepare_agent_from_invoke_inline_agent() {
        let models = ServiceModels::global();
        let prepare = models
            .operation("bedrock-agent", "PrepareAgent")
            .expect("PrepareAgent");
        assert_eq!(prepare.http.request_uri, "/agents/{agentId}/");
        let inline = models
            .operation("bedrock-agent-runtime", "InvokeInlineAgent")
            .expect("InvokeInlineAgent");
        assert_eq!(inline.http.request_uri, "/agents/{sessionId}");

        assert_eq!(
            resolve(Method::POST, "/agents/AGENT12345/"),
            ("bedrock-agent".into(), "PrepareAgent".into())
        );
        assert_eq!(
            resolve(Method::POST, "/agents/AGENT12345"),
            ("bedrock-agent-runtime".into(), "InvokeInlineAgent".into())
        );
        // An empty label never matches: `POST /agents/` is ListAgents.
        assert_eq!(
            resolve(Method::POST, "/agents/"),
            ("bedrock-agent".into(), "ListAgents".into())
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_unknown_operations() {
        let models = ServiceModels::global();
        assert!(models
            .resolve(&Method::GET, "/no-such-thing", None)
            .is_err());
        assert!(models
            .resolve(&Method::PATCH, "/model/m/converse", None)
            .is_err());
        assert!(models
            .resolve(&Method::POST, "/model//converse", None)
            .is_err());
    }

    /// A concrete request path for a `requestUri`, with labels filled in.
    fn synthetic(request_uri: &str) -> (String, Option<String>) {
        let (path, query) = match request_uri.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (request_uri, None),
        };
        let filled: Vec<String> = path
            .split('/')
            .map(
                |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(label) if label.ends_with('+') => "deep/er".to_owned(),
                    Some(_) => "arn%3Aaws%3Abedrock%3A%3A%3Athing%2Fx".to_owned(),
                    None => seg.to_owned(),
                },
            )
            .collect();
        (filled.join("/"), query)
    }

    #[test]
    fn every_operation_resolves_to_itself_except_documented_collisions() {
        let models = ServiceModels::global();
        // bedrock-agent-runtime's tag operations share bedrock-agent's paths; one store serves both.
        let shadowed = [
            ("bedrock-agent-runtime", "ListTagsForResource"),
            ("bedrock-agent-runtime", "TagResource"),
            ("bedrock-agent-runtime", "UntagResource"),
        ];
        let mut checked = 0;
        for (service, name) in models.operations() {
            let op = models
                .operation(service, name)
                .expect("listed operation exists");
            let (path, query) = synthetic(&op.http.request_uri);
            let method = Method::from_bytes(op.http.method.as_bytes()).expect("method");
            let route = models
                .resolve(&method, &path, query.as_deref())
                .unwrap_or_else(|e| panic!("{service} {name}: {e}"));
            if shadowed.contains(&(service, name)) {
                assert_eq!((route.service, route.operation), ("bedrock-agent", name));
            } else {
                assert_eq!(
                    (route.service, route.operation),
                    (service, name),
                    "{} {path}",
                    op.http.method
                );
                for label in route.labels.values() {
                    assert!(
                        label == "arn:aws:bedrock:::thing/x" || label == "deep/er",
                        "{label}"
                    );
                }
            }
            checked += 1;
        }
        assert!(checked > 200, "only {checked} operations");
    }

    #[test]
    fn greedy_labels_and_static_query_parts() {
        use super::*;
        let op = crate::model::Operation {
            name: "GetObject".into(),
            http: crate::model::HttpBinding {
                method: "GET".into(),
                request_uri: "/{Bucket}/{Key+}?attributes".into(),
                response_code: None,
            },
            input: None,
            output: None,
            errors: vec![],
        };
        let plain = crate::model::Operation {
            name: "Plain".into(),
            http: crate::model::HttpBinding {
                method: "GET".into(),
                request_uri: "/{Bucket}/{Key+}".into(),
                response_code: None,
            },
            input: None,
            output: None,
            errors: vec![],
        };
        let router = Router {
            patterns: vec![
                UriPattern::compile(0, &plain).expect("compiles"),
                UriPattern::compile(0, &op).expect("compiles"),
            ],
        };
        let (i, labels) = router
            .find(&Method::GET, "/b/a/b%2Fc/d.txt", Some("attributes"))
            .expect("match");
        assert_eq!(router.patterns[i].operation, "GetObject");
        assert_eq!(labels.get("Bucket").map(String::as_str), Some("b"));
        assert_eq!(labels.get("Key").map(String::as_str), Some("a/b/c/d.txt"));
        let (i, _) = router.find(&Method::GET, "/b/k", None).expect("match");
        assert_eq!(router.patterns[i].operation, "Plain");
        assert!(router.find(&Method::GET, "/b", None).is_none());
        assert_eq!(
            router.patterns[1].static_query_keys().collect::<Vec<_>>(),
            ["attributes"]
        );
    }
}
