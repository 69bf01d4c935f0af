//! Constrained decoding: JSON Schema → llama.cpp GBNF, so that every sampled token keeps the
//! output inside the schema. A tool call's input is valid JSON that satisfies the tool's
//! schema by construction, not by parsing luck, even from a 135M model.
//!
//! The converter follows llama.cpp's `common/json-schema-to-grammar` (same primitives, same
//! rule for optional properties) for the subset tools and structured outputs use: `type`
//! (one or several), `properties`, `required`, `additionalProperties`, `enum`, `const`,
//! `items`/`prefixItems`, `minItems`/`maxItems`, `minLength`/`maxLength`, `anyOf`/`oneOf`,
//! a one-element `allOf`, and local `$ref`s into `$defs`/`definitions`. Value constraints the
//! grammar cannot express cheaply (`pattern`, `format`, `minimum`, `maximum`, ...) are
//! ignored: the output is still well-typed JSON.
//!
//! Whitespace is bounded (one space, or one newline and up to 20 indent characters, where
//! JSON allows whitespace) and there is none before the value, so a small model cannot spin
//! on blanks; once the value is complete the engine ends the generation (`EndOfTurn`) at the
//! model's end-of-generation token or at the first whitespace-only token, whichever comes first.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use crate::EngineError;

/// A GBNF grammar and the rule the output must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    /// llama.cpp GBNF text.
    pub gbnf: String,
    /// The rule the whole output must match.
    pub root: String,
}

impl Grammar {
    /// Output that is one JSON value satisfying `schema`.
    pub fn json_schema(schema: &Value) -> Result<Self, EngineError> {
        Ok(Self {
            gbnf: json_schema_to_gbnf(schema)?,
            root: ROOT.to_string(),
        })
    }

    /// Output that is exactly one tool call, `{"name": "<tool>", "input": <its input>}`, for
    /// one of `tools` (name, input JSON Schema). See [`tool_call_gbnf`].
    pub fn tool_call(tools: &[(&str, &Value)]) -> Result<Self, EngineError> {
        Self::tool_calls(tools, 1)
    }

    /// Output that is one to `max_calls` tool calls in a row (parallel tool use), each a
    /// [`tool_call_gbnf`] object; [`ToolCall::parse_all`] reads them back.
    pub fn tool_calls(tools: &[(&str, &Value)], max_calls: usize) -> Result<Self, EngineError> {
        Ok(Self {
            gbnf: tool_calls_gbnf(tools, max_calls)?,
            root: ROOT.to_string(),
        })
    }
}

/// The root rule of every grammar built here.
const ROOT: &str = "root";

/// Converts a JSON Schema into a GBNF grammar whose `root` rule matches exactly one JSON value
/// satisfying it (within the supported subset, see the module docs).
pub fn json_schema_to_gbnf(schema: &Value) -> Result<String, EngineError> {
    let mut converter = Converter::default();
    let rule = converter.document(schema, ROOT)?;
    if rule != ROOT {
        converter.rules.insert(ROOT.to_string(), rule);
    }
    Ok(converter.render())
}

/// The tool-call wire: the model writes one JSON object
/// `{"name": "<tool name>", "input": <value satisfying that tool's input schema>}`, keys in
/// that order, and nothing else. [`ToolCall::parse`] reads it back. `tools` are (name, input
/// JSON Schema) pairs; at least one is needed.
pub fn tool_call_gbnf(tools: &[(&str, &Value)]) -> Result<String, EngineError> {
    tool_calls_gbnf(tools, 1)
}

/// One to `max_calls` [`tool_call_gbnf`] objects in a row; each call's trailing `space` may
/// be a newline, so the calls read one per line.
pub fn tool_calls_gbnf(tools: &[(&str, &Value)], max_calls: usize) -> Result<String, EngineError> {
    if max_calls == 0 {
        return Err(invalid(
            "a tool call grammar needs room for at least one call",
        ));
    }
    if tools.is_empty() {
        return Err(invalid("a tool call grammar needs at least one tool"));
    }
    let mut converter = Converter::default();
    let mut calls = Vec::with_capacity(tools.len());
    for (name, schema) in tools {
        if name.is_empty() {
            return Err(invalid("a tool name is empty"));
        }
        let base = format!("{}-input", sanitize(name));
        let input = converter.document(schema, &base)?;
        let body = format!(
            r#""{{" space {} space ":" space {} space "," space {} space ":" space {input} "}}" space"#,
            literal(&Value::from("name")),
            literal(&Value::from(*name)),
            literal(&Value::from("input")),
        );
        calls.push(converter.add_rule(&format!("call-{}", sanitize(name)), &body));
    }
    converter.primitive("space");
    let root = if max_calls == 1 {
        calls.join(" | ")
    } else {
        let call = converter.add_rule("call", &calls.join(" | "));
        format!("{call} {call}{{0,{}}}", max_calls - 1)
    };
    converter.rules.insert(ROOT.to_string(), root);
    Ok(converter.render())
}

/// One tool call as the model writes it under [`tool_call_gbnf`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ToolCall {
    pub name: String,
    pub input: Value,
}

impl ToolCall {
    /// Reads a completed tool call. Fails only when generation stopped early (`max_tokens`, a
    /// stop sequence) and the JSON is cut short.
    pub fn parse(text: &str) -> Result<Self, EngineError> {
        serde_json::from_str(text.trim())
            .map_err(|e| EngineError::InvalidRequest(format!("not a complete tool call: {e}")))
    }

    /// Reads the calls of a [`tool_calls_gbnf`] answer, in order. Fails when the answer is not
    /// whole calls (generation cut short).
    pub fn parse_all(text: &str) -> Result<Vec<Self>, EngineError> {
        let calls = serde_json::Deserializer::from_str(text.trim())
            .into_iter::<ToolCall>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::InvalidRequest(format!("not complete tool calls: {e}")))?;
        if calls.is_empty() {
            return Err(EngineError::InvalidRequest(
                "no tool call in the answer".into(),
            ));
        }
        Ok(calls)
    }
}

/// Shared building blocks, as in llama.cpp: (name, body, rules the body uses).
const PRIMITIVES: &[(&str, &str, &[&str])] = &[
    ("space", r#"| " " | "\n" [ \t]{0,20}"#, &[]),
    ("boolean", r#"("true" | "false") space"#, &["space"]),
    ("null", r#""null" space"#, &["space"]),
    ("integral-part", r"[0] | [1-9] [0-9]{0,15}", &[]),
    ("decimal-part", r"[0-9]{1,16}", &[]),
    (
        "number",
        r#"("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space"#,
        &["integral-part", "decimal-part", "space"],
    ),
    (
        "integer",
        r#"("-"? integral-part) space"#,
        &["integral-part", "space"],
    ),
    (
        "char",
        r#"[^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})"#,
        &[],
    ),
    ("string", r#""\"" char* "\"" space"#, &["char", "space"]),
    (
        "value",
        "object | array | string | number | boolean | null",
        &["object", "array", "string", "number", "boolean", "null"],
    ),
    (
        "object",
        r#""{" space ( string ":" space value ("," space string ":" space value)* )? "}" space"#,
        &["string", "value", "space"],
    ),
    (
        "array",
        r#""[" space ( value ("," space value)* )? "]" space"#,
        &["value", "space"],
    ),
];

/// Names no schema-derived rule may take: the primitives keep their names so their bodies can
/// refer to one another, and `root` is the entry point.
fn reserved(name: &str) -> bool {
    name == ROOT
        || PRIMITIVES
            .iter()
            .any(|(primitive, _, _)| *primitive == name)
}

#[derive(Default)]
struct Converter {
    rules: BTreeMap<String, String>,
    /// The schema document being converted, for `$ref`s.
    document: Value,
    /// Its top rule: properties of the top object are named after the property alone.
    top: String,
    /// `$ref` → rule name, for the current document (recursive schemas refer to the name).
    refs: HashMap<String, String>,
    /// The `$ref` rule whose body is being built: the one name in `refs` still free to take.
    defining: Option<String>,
}

impl Converter {
    /// Converts one schema document; returns the rule (or primitive) matching it.
    fn document(&mut self, schema: &Value, name: &str) -> Result<String, EngineError> {
        self.document = schema.clone();
        self.top = name.to_string();
        self.refs.clear();
        self.visit(schema, name)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(root) = self.rules.get(ROOT) {
            out.push_str(&format!("{ROOT} ::= {root}\n"));
        }
        for (name, body) in &self.rules {
            if name != ROOT {
                out.push_str(&format!("{name} ::= {body}\n"));
            }
        }
        out
    }

    /// Adds the primitive and what it uses; returns its name.
    fn primitive(&mut self, name: &str) -> String {
        if let Some((_, body, uses)) = PRIMITIVES.iter().find(|(p, _, _)| *p == name) {
            if !self.rules.contains_key(name) {
                self.rules.insert(name.to_string(), (*body).to_string());
                for used in *uses {
                    self.primitive(used);
                }
            }
        }
        name.to_string()
    }

    fn taken(&self, name: &str) -> bool {
        reserved(name)
            || (self.defining.as_deref() != Some(name) && self.refs.values().any(|r| r == name))
    }

    /// Adds a rule under `name` (or a numbered variant when that name holds another body);
    /// returns the name used.
    fn add_rule(&mut self, name: &str, body: &str) -> String {
        let base = sanitize(name);
        if base == ROOT && !self.rules.contains_key(ROOT) && self.top == ROOT {
            self.rules.insert(base.clone(), body.to_string());
            return base;
        }
        let mut candidate = base.clone();
        let mut n = 0;
        loop {
            match self.rules.get(&candidate) {
                Some(existing) if existing == body && !reserved(&candidate) => return candidate,
                None if !self.taken(&candidate) => {
                    self.rules.insert(candidate.clone(), body.to_string());
                    return candidate;
                }
                _ => {
                    n += 1;
                    candidate = format!("{base}-{n}");
                }
            }
        }
    }

    /// The name of a rule for part `key` of the schema named `parent`.
    fn child(&self, parent: &str, key: &str) -> String {
        let name = if parent == self.top && parent == ROOT {
            sanitize(key)
        } else {
            format!("{parent}-{}", sanitize(key))
        };
        // A property called `root` or `string` must not take the entry point's or a
        // primitive's name.
        if reserved(&name) {
            format!("{name}-value")
        } else {
            name
        }
    }

    /// Returns the name of a rule (or primitive) matching `schema`, adding the rules needed.
    fn visit(&mut self, schema: &Value, name: &str) -> Result<String, EngineError> {
        let schema = match schema {
            Value::Bool(true) => return Ok(self.primitive("value")),
            Value::Bool(false) => {
                return Err(invalid(&format!(
                    "the schema at `{name}` is `false`: no value satisfies it"
                )))
            }
            Value::Object(schema) => schema,
            other => {
                return Err(invalid(&format!(
                    "the schema at `{name}` must be an object or a boolean, got {}",
                    kind(other)
                )))
            }
        };
        if let Some(reference) = schema.get("$ref") {
            let reference = reference
                .as_str()
                .ok_or_else(|| invalid(&format!("`$ref` at `{name}` must be a string")))?;
            return self.reference(reference);
        }
        if let Some(value) = schema.get("const") {
            let body = format!("{} space", literal(value));
            self.primitive("space");
            return Ok(self.add_rule(name, &body));
        }
        if let Some(values) = schema.get("enum") {
            let values = values
                .as_array()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(&format!("`enum` at `{name}` must be a non-empty array")))?;
            let alternatives: Vec<String> = values.iter().map(literal).collect();
            self.primitive("space");
            let body = format!("({}) space", alternatives.join(" | "));
            return Ok(self.add_rule(name, &body));
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(options) = schema.get(keyword) {
                let options = options
                    .as_array()
                    .filter(|o| !o.is_empty())
                    .ok_or_else(|| {
                        invalid(&format!(
                            "`{keyword}` at `{name}` must be a non-empty array"
                        ))
                    })?;
                let mut alternatives = Vec::with_capacity(options.len());
                for (i, option) in options.iter().enumerate() {
                    alternatives.push(self.visit(option, &format!("{name}-{i}"))?);
                }
                return Ok(self.add_rule(name, &alternatives.join(" | ")));
            }
        }
        if let Some(all) = schema.get("allOf") {
            // Generators wrap a `$ref` in a one-element allOf to attach a description.
            return match all.as_array().map(Vec::as_slice) {
                Some([only]) => self.visit(only, name),
                _ => Err(invalid(&format!(
                    "`allOf` at `{name}` is supported only with exactly one schema"
                ))),
            };
        }
        let types: Vec<&str> = match schema.get("type") {
            None => {
                if schema.contains_key("properties") || schema.contains_key("additionalProperties")
                {
                    vec!["object"]
                } else if schema.contains_key("items") || schema.contains_key("prefixItems") {
                    vec!["array"]
                } else {
                    return Ok(self.primitive("value"));
                }
            }
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) if !ts.is_empty() => ts
                .iter()
                .map(|t| {
                    t.as_str()
                        .ok_or_else(|| invalid(&format!("`type` at `{name}` must list type names")))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(&format!(
                    "`type` at `{name}` must be a type name or a non-empty array of them"
                )))
            }
        };
        if let [only] = types.as_slice() {
            return self.typed(schema, only, name);
        }
        let mut alternatives = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            alternatives.push(self.typed(schema, t, &format!("{name}-{i}"))?);
        }
        Ok(self.add_rule(name, &alternatives.join(" | ")))
    }

    fn typed(
        &mut self,
        schema: &serde_json::Map<String, Value>,
        kind: &str,
        name: &str,
    ) -> Result<String, EngineError> {
        match kind {
            "object" => self.object(schema, name),
            "array" => self.array(schema, name),
            "string" => {
                let min = count(schema, "minLength", name)?;
                let max = count(schema, "maxLength", name)?;
                if min.is_none() && max.is_none() {
                    return Ok(self.primitive("string"));
                }
                let min = min.unwrap_or(0);
                check_range(min, max, "minLength", "maxLength", name)?;
                let chars = self.primitive("char");
                self.primitive("space");
                let body = format!(r#""\"" {} "\"" space"#, repeat(&chars, min, max));
                Ok(self.add_rule(name, &body))
            }
            "number" | "integer" | "boolean" | "null" => Ok(self.primitive(kind)),
            other => Err(invalid(&format!("unknown type `{other}` at `{name}`"))),
        }
    }

    fn object(
        &mut self,
        schema: &serde_json::Map<String, Value>,
        name: &str,
    ) -> Result<String, EngineError> {
        let properties = match schema.get("properties") {
            None => serde_json::Map::new(),
            Some(Value::Object(p)) => p.clone(),
            Some(_) => {
                return Err(invalid(&format!(
                    "`properties` at `{name}` must be an object"
                )))
            }
        };
        let required: Vec<&str> = match schema.get("required") {
            None => Vec::new(),
            Some(Value::Array(r)) => r
                .iter()
                .map(|k| {
                    k.as_str().ok_or_else(|| {
                        invalid(&format!("`required` at `{name}` must list property names"))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(&format!("`required` at `{name}` must be an array"))),
        };
        let additional = match schema.get("additionalProperties") {
            None | Some(Value::Bool(false)) => None,
            Some(extra @ (Value::Bool(true) | Value::Object(_))) => Some(extra.clone()),
            Some(_) => {
                return Err(invalid(&format!(
                    "`additionalProperties` at `{name}` must be a boolean or a schema"
                )))
            }
        };
        if !schema.contains_key("properties")
            && required.is_empty()
            && !schema.contains_key("additionalProperties")
        {
            // A bare `{"type": "object"}` is any object.
            return Ok(self.primitive("object"));
        }
        self.primitive("space");

        // Required keys come first, in `properties` order (those only named in `required`
        // after); optional ones may follow, each at most once, in the same order. That order
        // is the schema's own when serde_json keeps insertion order (`preserve_order`),
        // alphabetical otherwise; either way the output satisfies the schema.
        let mut keys: Vec<(String, Value)> = properties.into_iter().collect();
        for key in &required {
            if !keys.iter().any(|(k, _)| k == key) {
                keys.push(((*key).to_string(), Value::Bool(true)));
            }
        }
        let mut required_kvs = Vec::new();
        let mut optional_kvs: Vec<(String, String, bool)> = Vec::new();
        for (key, value_schema) in &keys {
            let value_name = self.child(name, key);
            let value = self.visit(value_schema, &value_name)?;
            let kv = self.add_rule(
                &format!("{value_name}-kv"),
                &format!(
                    r#"{} space ":" space {value}"#,
                    literal(&Value::from(key.as_str()))
                ),
            );
            if required.contains(&key.as_str()) {
                required_kvs.push(kv);
            } else {
                optional_kvs.push((sanitize(key), kv, false));
            }
        }
        if let Some(extra) = additional {
            let value = self.visit(&extra, &format!("{name}-additional-value"))?;
            let known: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            let key = if known.is_empty() {
                self.primitive("string")
            } else {
                self.not_strings(&known, &format!("{name}-additional-key"))
            };
            let kv = self.add_rule(
                &format!("{name}-additional-kv"),
                &format!(r#"{key} ":" space {value}"#),
            );
            optional_kvs.push(("additional".to_string(), kv, true));
        }

        let mut body = String::from(r#""{" space"#);
        if !required_kvs.is_empty() {
            body.push(' ');
            body.push_str(&required_kvs.join(r#" "," space "#));
        }
        if !optional_kvs.is_empty() {
            body.push_str(" ( ");
            if !required_kvs.is_empty() {
                body.push_str(r#""," space ( "#);
            }
            let alternatives: Vec<String> = (0..optional_kvs.len())
                .map(|i| self.optional_chain(&optional_kvs[i..], false, name))
                .collect();
            body.push_str(&alternatives.join(" | "));
            if !required_kvs.is_empty() {
                body.push_str(" )");
            }
            body.push_str(" )?");
        }
        body.push_str(r#" "}" space"#);
        Ok(self.add_rule(name, &body))
    }

    /// llama.cpp's optional-property chain: the first of `kvs` (unless `first_is_optional`),
    /// then any in-order subset of the rest, comma-separated.
    fn optional_chain(
        &mut self,
        kvs: &[(String, String, bool)],
        first_is_optional: bool,
        name: &str,
    ) -> String {
        let Some(((key, kv, many), rest)) = kvs.split_first() else {
            return String::new();
        };
        let comma = format!(r#"( "," space {kv} )"#);
        let mut out = if first_is_optional {
            format!("{comma}{}", if *many { "*" } else { "?" })
        } else if *many {
            format!("{kv} {comma}*")
        } else {
            kv.clone()
        };
        if !rest.is_empty() {
            let rest_body = self.optional_chain(rest, true, name);
            let rest_rule = self.add_rule(&format!("{name}-{key}-rest"), &rest_body);
            out.push(' ');
            out.push_str(&rest_rule);
        }
        out
    }

    /// A JSON string (with its trailing space) that is none of `strings`, for additional
    /// property names that must not repeat a declared property.
    fn not_strings(&mut self, strings: &[&str], name: &str) -> String {
        #[derive(Default)]
        struct Trie {
            children: BTreeMap<char, Trie>,
            end: bool,
        }
        let mut trie = Trie::default();
        for s in strings {
            let mut node = &mut trie;
            for c in s.chars() {
                node = node.children.entry(c).or_default();
            }
            node.end = true;
        }
        fn visit(node: &Trie, chars: &str, out: &mut String) {
            let mut rejects = String::new();
            for (i, (c, child)) in node.children.iter().enumerate() {
                if i > 0 {
                    out.push_str(" | ");
                }
                let class = class_char(*c);
                rejects.push_str(&class);
                out.push_str(&format!("[{class}]"));
                if !child.children.is_empty() {
                    out.push_str(" (");
                    visit(child, chars, out);
                    out.push_str(if child.end { ")" } else { ")?" });
                } else if child.end {
                    out.push_str(&format!(" {chars}+"));
                }
            }
            if !node.children.is_empty() {
                out.push_str(&format!(r#" | [^"\\\x7F\x00-\x1F{rejects}] {chars}*"#));
            }
        }
        let chars = self.primitive("char");
        self.primitive("space");
        let mut out = String::new();
        visit(&trie, &chars, &mut out);
        let body = format!(
            r#"["] ( {out} ){} ["] space"#,
            if trie.end { "" } else { "?" }
        );
        self.add_rule(name, &body)
    }

    fn array(
        &mut self,
        schema: &serde_json::Map<String, Value>,
        name: &str,
    ) -> Result<String, EngineError> {
        self.primitive("space");
        let tuple = match (schema.get("prefixItems"), schema.get("items")) {
            (Some(Value::Array(items)), _) | (None, Some(Value::Array(items))) => Some(items),
            (Some(_), _) => {
                return Err(invalid(&format!(
                    "`prefixItems` at `{name}` must be an array"
                )))
            }
            _ => None,
        };
        if let Some(items) = tuple {
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                parts.push(self.visit(item, &format!("{name}-tuple-{i}"))?);
            }
            let body = format!(r#""[" space {} "]" space"#, parts.join(r#" "," space "#));
            return Ok(self.add_rule(name, &body));
        }
        let item = match schema.get("items") {
            None => self.primitive("value"),
            Some(item) => self.visit(item, &format!("{name}-item"))?,
        };
        let min = count(schema, "minItems", name)?.unwrap_or(0);
        let max = count(schema, "maxItems", name)?;
        check_range(min, max, "minItems", "maxItems", name)?;
        let list = separated(&item, min, max);
        let body = format!(r#""[" space {list} "]" space"#);
        Ok(self.add_rule(name, &body))
    }

    /// The rule for a local `$ref` (`#`, `#/$defs/X`, `#/definitions/X`, any JSON pointer).
    fn reference(&mut self, reference: &str) -> Result<String, EngineError> {
        if let Some(rule) = self.refs.get(reference) {
            return Ok(rule.clone());
        }
        let pointer = reference.strip_prefix('#').ok_or_else(|| {
            invalid(&format!(
                "`$ref` `{reference}` is not local: only `#...` references are supported"
            ))
        })?;
        let target = self
            .document
            .pointer(pointer)
            .cloned()
            .ok_or_else(|| invalid(&format!("`$ref` `{reference}` points at nothing")))?;
        let last = pointer.rsplit('/').next().unwrap_or_default();
        let base = format!(
            "ref-{}",
            sanitize(if last.is_empty() { "root" } else { last })
        );
        let mut name = base.clone();
        let mut n = 0;
        while self.rules.contains_key(&name) || self.taken(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        self.refs.insert(reference.to_string(), name.clone());
        let outer = self.defining.replace(name.clone());
        let rule = self.visit(&target, &name);
        self.defining = outer;
        let rule = rule?;
        if rule != name {
            self.rules.insert(name.clone(), rule);
        }
        Ok(name)
    }
}

/// `item`, `min` to `max` times, comma-separated.
fn separated(item: &str, min: u64, max: Option<u64>) -> String {
    if max == Some(0) {
        return String::new();
    }
    let rest = repeat(
        &format!(r#"( "," space {item} )"#),
        min.saturating_sub(1),
        max.map(|m| m - 1),
    );
    let list = if rest.is_empty() {
        item.to_string()
    } else {
        format!("{item} {rest}")
    };
    if min == 0 {
        format!("( {list} )?")
    } else {
        list
    }
}

/// `item` repeated `min` to `max` times, in GBNF's repetition syntax.
fn repeat(item: &str, min: u64, max: Option<u64>) -> String {
    match (min, max) {
        (_, Some(0)) => String::new(),
        (0, None) => format!("{item}*"),
        (1, None) => format!("{item}+"),
        (0, Some(1)) => format!("{item}?"),
        (1, Some(1)) => item.to_string(),
        (min, None) => format!("{item}{{{min},}}"),
        (min, Some(max)) if min == max => format!("{item}{{{min}}}"),
        (min, Some(max)) => format!("{item}{{{min},{max}}}"),
    }
}

fn count(
    schema: &serde_json::Map<String, Value>,
    keyword: &str,
    name: &str,
) -> Result<Option<u64>, EngineError> {
    match schema.get(keyword) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            invalid(&format!(
                "`{keyword}` at `{name}` must be a non-negative integer"
            ))
        }),
    }
}

fn check_range(
    min: u64,
    max: Option<u64>,
    min_keyword: &str,
    max_keyword: &str,
    name: &str,
) -> Result<(), EngineError> {
    match max {
        Some(max) if max < min => Err(invalid(&format!(
            "`{min_keyword}` {min} exceeds `{max_keyword}` {max} at `{name}`"
        ))),
        _ => Ok(()),
    }
}

/// A GBNF literal matching `value`'s compact JSON text.
fn literal(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len() + 2);
    out.push('"');
    for c in json.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `c` as it may appear inside a GBNF character class.
fn class_char(c: char) -> String {
    match u32::from(c) {
        _ if c.is_ascii_alphanumeric() => c.to_string(),
        code @ 0..=0x7F => format!("\\x{code:02X}"),
        code @ 0x80..=0xFFFF => format!("\\u{code:04X}"),
        code => format!("\\U{code:08X}"),
    }
}

/// A rule name from anything: GBNF names are letters, digits and dashes.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    if out.is_empty() {
        out.push_str("rule");
    }
    out
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid(message: &str) -> EngineError {
    EngineError::InvalidRequest(format!("invalid JSON schema: {message}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn gbnf(schema: Value) -> String {
        json_schema_to_gbnf(&schema).unwrap()
    }

    fn refused(schema: Value) -> String {
        match json_schema_to_gbnf(&schema) {
            Err(EngineError::InvalidRequest(message)) => message,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    #[test]
    fn tool_input_object_with_an_enum() {
        let schema = json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"]
        });
        assert_eq!(
            gbnf(schema),
            r#"root ::= "{" space city-kv "," space unit-kv "}" space
char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})
city-kv ::= "\"city\"" space ":" space string
space ::= | " " | "\n" [ \t]{0,20}
string ::= "\"" char* "\"" space
unit ::= ("\"c\"" | "\"f\"") space
unit-kv ::= "\"unit\"" space ":" space unit
"#
        );
    }

    #[test]
    fn optional_properties_follow_the_required_ones_each_at_most_once() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}, "c": {"type": "null"}},
            "required": ["a"],
            "additionalProperties": false
        });
        assert_eq!(
            gbnf(schema),
            r#"root ::= "{" space a-kv ( "," space ( b-kv root-b-rest | c-kv ) )? "}" space
a-kv ::= "\"a\"" space ":" space integer
b-kv ::= "\"b\"" space ":" space boolean
boolean ::= ("true" | "false") space
c-kv ::= "\"c\"" space ":" space null
integer ::= ("-"? integral-part) space
integral-part ::= [0] | [1-9] [0-9]{0,15}
null ::= "null" space
root-b-rest ::= ( "," space c-kv )?
space ::= | " " | "\n" [ \t]{0,20}
"#
        );
    }

    #[test]
    fn all_optional_and_empty_objects() {
        let first = gbnf(json!({"properties": {"x": {"type": "number"}}}));
        assert!(
            first.starts_with("root ::= \"{\" space ( x-kv )? \"}\" space\n"),
            "{first}"
        );
        // Declared with no properties: only `{}`; a bare object type: any object.
        let empty = gbnf(json!({"type": "object", "properties": {}}));
        assert!(
            empty.starts_with("root ::= \"{\" space \"}\" space\n"),
            "{empty}"
        );
        let any = gbnf(json!({"type": "object"}));
        assert!(any.starts_with("root ::= object\n"), "{any}");
        assert!(any.contains("\nvalue ::= object | array | string | number | boolean | null\n"));
    }

    #[test]
    fn arrays_with_bounds() {
        let bounded = gbnf(
            json!({"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3}),
        );
        assert!(
            bounded.starts_with(r#"root ::= "[" space number ( "," space number ){0,2} "]" space"#),
            "{bounded}"
        );
        let open = gbnf(json!({"type": "array", "items": {"type": "string"}}));
        assert!(
            open.starts_with(r#"root ::= "[" space ( string ( "," space string )* )? "]" space"#),
            "{open}"
        );
        let tuple = gbnf(
            json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}),
        );
        assert!(
            tuple.starts_with(r#"root ::= "[" space string "," space integer "]" space"#),
            "{tuple}"
        );
        assert_eq!(separated("x", 0, Some(0)), "");
        assert_eq!(separated("x", 0, Some(1)), "( x )?");
        assert_eq!(separated("x", 2, None), r#"x ( "," space x )+"#);
        assert_eq!(separated("x", 3, Some(3)), r#"x ( "," space x ){2}"#);
    }

    #[test]
    fn nested_objects_name_rules_after_their_path() {
        let schema = json!({
            "type": "object",
            "properties": {
                "stops": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string", "maxLength": 5}},
                        "required": ["name"]
                    }
                }
            },
            "required": ["stops"]
        });
        let text = gbnf(schema);
        for line in [
            r#"root ::= "{" space stops-kv "}" space"#,
            r#"stops ::= "[" space ( stops-item ( "," space stops-item )* )? "]" space"#,
            r#"stops-item ::= "{" space stops-item-name-kv "}" space"#,
            r#"stops-item-name ::= "\"" char{0,5} "\"" space"#,
            r#"stops-item-name-kv ::= "\"name\"" space ":" space stops-item-name"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn recursive_refs_and_type_unions() {
        let schema = json!({
            "$defs": {"node": {
                "type": "object",
                "properties": {"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
                "required": ["v", "next"]
            }},
            "$ref": "#/$defs/node"
        });
        let text = gbnf(schema);
        assert!(text.starts_with("root ::= ref-node\n"), "{text}");
        assert!(
            text.contains("\nref-node-next ::= ref-node | null\n"),
            "{text}"
        );
        let union = gbnf(json!({"type": ["string", "null"]}));
        assert!(union.starts_with("root ::= string | null\n"), "{union}");
        let legacy = gbnf(
            json!({"definitions": {"u": {"const": "x"}}, "allOf": [{"$ref": "#/definitions/u"}]}),
        );
        assert!(
            legacy.contains("\nref-u ::= \"\\\"x\\\"\" space\n"),
            "{legacy}"
        );
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        let text = gbnf(json!({"const": {"say": "a \"b\" \\ c"}}));
        assert!(
            text.starts_with(r#"root ::= "{\"say\":\"a \\\"b\\\" \\\\ c\"}" space"#),
            "{text}"
        );
    }

    #[test]
    fn additional_property_names_never_repeat_a_declared_one() {
        let text = gbnf(
            json!({"type": "object", "properties": {"ab": {"type": "string"}}, "additionalProperties": true}),
        );
        assert!(
            text.contains(r#"root-additional-key ::= ["] ( [a] ([b] char+ | [^"\\\x7F\x00-\x1Fb] char*)? | [^"\\\x7F\x00-\x1Fa] char* )? ["] space"#),
            "{text}"
        );
        assert!(text.starts_with(
            r#"root ::= "{" space ( ab-kv root-ab-rest | root-additional-kv ( "," space root-additional-kv )* )? "}" space"#
        ));
        assert_eq!(class_char('-'), "\\x2D");
        assert_eq!(class_char('é'), "\\u00E9");
    }

    #[test]
    fn property_names_cannot_take_reserved_rule_names() {
        let text = gbnf(json!({
            "type": "object",
            "properties": {"root": {"type": "integer"}, "string": {"enum": [1]}},
            "required": ["root", "string"]
        }));
        assert!(
            text.starts_with(
                r#"root ::= "{" space root-value-kv "," space string-value-kv "}" space"#
            ),
            "{text}"
        );
        assert!(
            text.contains("\nstring-value ::= (\"1\") space\n"),
            "{text}"
        );
        assert!(
            text.contains("\nstring ::= \"\\\"\" char* \"\\\"\" space\n")
                || !text.contains(" string\n")
        );
    }

    #[test]
    fn tool_calls_name_the_tool_then_its_input() {
        let weather = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let noop = json!({"type": "object", "properties": {}});
        let text = tool_call_gbnf(&[("get_weather", &weather), ("noop", &noop)]).unwrap();
        for line in [
            "root ::= call-get-weather | call-noop",
            r#"call-get-weather ::= "{" space "\"name\"" space ":" space "\"get_weather\"" space "," space "\"input\"" space ":" space get-weather-input "}" space"#,
            r#"call-noop ::= "{" space "\"name\"" space ":" space "\"noop\"" space "," space "\"input\"" space ":" space noop-input "}" space"#,
            r#"get-weather-input ::= "{" space get-weather-input-city-kv "}" space"#,
            r#"noop-input ::= "{" space "}" space"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let call =
            ToolCall::parse(r#"{"name": "get_weather", "input": {"city": "Paris"}} "#).unwrap();
        assert_eq!(call.name, "get_weather");
        assert_eq!(call.input, json!({"city": "Paris"}));
        assert!(ToolCall::parse(r#"{"name": "get_weather", "input": {"ci"#).is_err());
        assert!(tool_call_gbnf(&[]).is_err());
        assert!(tool_call_gbnf(&[("", &weather)]).is_err());
        let grammar = Grammar::tool_call(&[("noop", &noop)]).unwrap();
        assert_eq!(grammar.root, "root");
    }

    #[test]
    fn parallel_tool_calls_repeat_the_call_rule() {
        let noop = json!({"type": "object", "properties": {}});
        let weather = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let text = tool_calls_gbnf(&[("noop", &noop), ("get_weather", &weather)], 4).unwrap();
        assert!(
            text.lines().any(|l| l == "root ::= call call{0,3}"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l == "call ::= call-noop | call-get-weather"),
            "{text}"
        );
        assert!(tool_calls_gbnf(&[("noop", &noop)], 0).is_err());

        let calls = ToolCall::parse_all(
            "{\"name\": \"get_weather\", \"input\": {\"city\": \"Paris\"}}\n{\"name\": \"noop\", \"input\": {}} ",
        )
        .unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].input, json!({"city": "Paris"}));
        assert_eq!(calls[1].name, "noop");
        assert!(
            ToolCall::parse_all("{\"name\": \"noop\", \"input\": {}}\n{\"name\": \"no").is_err()
        );
        assert!(ToolCall::parse_all("  ").is_err());
    }

    #[test]
    fn malformed_schemas_are_refused_with_the_reason() {
        assert!(refused(json!("object")).contains("must be an object or a boolean, got a string"));
        assert!(refused(json!(false)).contains("no value satisfies it"));
        assert!(refused(json!({"type": "thing"})).contains("unknown type `thing`"));
        assert!(refused(json!({"type": 3})).contains("`type`"));
        assert!(refused(json!({"type": "object", "properties": []})).contains("`properties`"));
        assert!(refused(json!({"type": "object", "required": "a"})).contains("`required`"));
        assert!(refused(json!({"type": "object", "required": [1]})).contains("`required`"));
        assert!(
            refused(json!({"type": "object", "additionalProperties": 1}))
                .contains("additionalProperties")
        );
        assert!(refused(json!({"enum": []})).contains("`enum`"));
        assert!(refused(json!({"anyOf": {}})).contains("`anyOf`"));
        assert!(refused(json!({"allOf": [{}, {}]})).contains("`allOf`"));
        assert!(
            refused(json!({"type": "array", "minItems": 3, "maxItems": 1})).contains("exceeds")
        );
        assert!(refused(json!({"type": "array", "minItems": -1})).contains("`minItems`"));
        assert!(refused(json!({"$ref": "https://example.com/s.json"})).contains("not local"));
        assert!(refused(json!({"$ref": "#/$defs/missing"})).contains("points at nothing"));
        assert!(
            refused(json!({"properties": {"a": {"type": "string", "maxLength": "5"}}}))
                .contains("`maxLength` at `a`")
        );
    }

    #[test]
    fn anything_goes_for_an_empty_schema() {
        assert!(gbnf(json!({})).starts_with("root ::= value\n"));
        assert!(gbnf(json!(true)).starts_with("root ::= value\n"));
        assert_eq!(sanitize("get_weather v2"), "get-weather-v2");
        assert_eq!(sanitize("__"), "-");
        assert_eq!(sanitize(""), "rule");
    }
}
