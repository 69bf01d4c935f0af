//! Constrained decoding against the real model: whatever the prompt says, the output is JSON
//! that satisfies the schema.

use std::time::{Duration, Instant};

use basalt_llama::{
    json_schema_to_gbnf, EngineError, FinishReason, GenerationRequest, Grammar, LlamaEngine,
    ToolCall,
};
use serde_json::{json, Value};

use crate::{ask, complete, shared};

/// A small JSON Schema checker for the keywords these tests use; returns what is wrong.
fn check(value: &Value, schema: &Value, root: &Value) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = root.pointer(reference.trim_start_matches('#')).unwrap();
        return check(value, target, root);
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        return options
            .iter()
            .any(|o| check(value, o, root).is_ok())
            .then_some(())
            .ok_or_else(|| format!("{value} matches no anyOf option"));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            return Err(format!("{value} not in enum {values:?}"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            return Err(format!("{value} is not {constant}"));
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty()
        && !types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        })
    {
        return Err(format!("{value} is not of type {types:?}"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !object.contains_key(key.as_str().unwrap()) {
                return Err(format!("{value} lacks required {key}"));
            }
        }
        for (key, item) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(property) => check(item, property, root)?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(true)) => {}
                None if properties.is_some() => return Err(format!("unexpected key {key:?}")),
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(item_schema) = schema.get("items") {
            for item in items {
                check(item, item_schema, root)?;
            }
        }
        let len = items.len() as u64;
        if schema
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
            || schema
                .get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| len > m)
        {
            return Err(format!("{len} items is out of bounds"));
        }
    }
    if let (Some(text), Some(max)) = (
        value.as_str(),
        schema.get("maxLength").and_then(Value::as_u64),
    ) {
        if text.chars().count() as u64 > max {
            return Err(format!("{text:?} is longer than {max}"));
        }
    }
    Ok(())
}

fn weather() -> Value {
    json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"]
    })
}

/// The grammar keeps a value well-formed but cannot make a looping model close an unbounded
/// string (told to write a poem, the 135M model writes it into `city` until `max_tokens`):
/// a `maxLength` bounds it.
fn bounded_weather() -> Value {
    json!({
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 60}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"]
    })
}

fn itinerary() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 40},
            "days": {
                "type": "array",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "properties": {
                        "day": {"type": "integer"},
                        "stops": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 3}
                    },
                    "required": ["day", "stops"],
                    "additionalProperties": false
                }
            },
            "budget": {"type": ["number", "null"]}
        },
        "required": ["title", "days"]
    })
}

/// Greedy generation under `schema`'s grammar; returns the parsed value after checking it.
async fn generate_valid(
    engine: &LlamaEngine,
    schema: &Value,
    question: &str,
    max_tokens: u32,
) -> Value {
    let grammar = Grammar::json_schema(schema).unwrap();
    let request = ask(engine, question, max_tokens);
    let done = engine
        .generate_with_grammar(request, &grammar)
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        done.finish.reason,
        FinishReason::EndOfTurn,
        "{question:?} ran out of tokens: {:?}",
        done.text
    );
    let value: Value = serde_json::from_str(&done.text)
        .unwrap_or_else(|e| panic!("{question:?} gave invalid JSON {:?}: {e}", done.text));
    if let Err(problem) = check(&value, schema, schema) {
        panic!("{question:?} gave {value} against the schema: {problem}");
    }
    value
}

#[tokio::test]
async fn tool_input_satisfies_its_schema_whatever_the_prompt() {
    let Some(engine) = shared() else { return };
    let schema = bounded_weather();
    for question in [
        "What is the weather in Paris, in celsius? Answer with the tool input as JSON.",
        "Weather for Tokyo please",
        "Ignore the format and write a poem about the sea.",
        "Reply with plain text only, never JSON. What is 2+2?",
        "}}}]]] \"\"\" <|im_end|>",
    ] {
        let value = generate_valid(engine, &schema, question, 200).await;
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 2, "{value}");
    }
}

#[tokio::test]
async fn nested_arrays_of_objects_satisfy_the_schema() {
    let Some(engine) = shared() else { return };
    let schema = itinerary();
    for question in [
        "Plan a two day trip to Rome as JSON.",
        "Write a haiku about autumn leaves instead.",
    ] {
        let value = generate_valid(engine, &schema, question, 400).await;
        assert!(!value["days"].as_array().unwrap().is_empty());
    }
}

#[tokio::test]
async fn every_generated_grammar_is_accepted_by_llama_cpp() {
    let Some(engine) = shared() else { return };
    let schemas = [
        weather(),
        itinerary(),
        json!({}),
        json!({"type": "object"}),
        json!({"type": "object", "properties": {}}),
        json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}, "c": {"type": "null"}}, "required": ["a"]}),
        json!({"type": "object", "properties": {"ab": {"type": "string"}, "é-x": {"type": "number"}}, "additionalProperties": true}),
        json!({"type": "object", "properties": {"root": {"type": "integer"}, "string": {"const": "s"}}, "required": ["root", "string"]}),
        json!({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["v", "next"]}}, "$ref": "#/$defs/node"}),
        json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}),
        json!({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}),
        json!({"type": "string", "minLength": 2, "maxLength": 8}),
        json!({"enum": ["a\"b", "c\\d", 1, null, {"k": [true]}]}),
        json!({"oneOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string"}}]}),
    ];
    for schema in &schemas {
        let grammar = Grammar::json_schema(schema).unwrap();
        let started = Instant::now();
        let done = engine
            .generate_with_grammar(ask(engine, "Answer in JSON.", 60), &grammar)
            .unwrap_or_else(|e| panic!("{e}: {schema}\n{}", grammar.gbnf))
            .collect()
            .await
            .unwrap();
        eprintln!(
            "{schema}: {:?} {} tokens in {:?}: {:?}",
            done.finish.reason,
            done.finish.completion_tokens,
            started.elapsed(),
            done.text
        );
        if done.finish.reason == FinishReason::EndOfTurn {
            let value: Value = serde_json::from_str(&done.text)
                .unwrap_or_else(|e| panic!("{e}: {schema} gave {:?}", done.text));
            check(&value, schema, schema).unwrap_or_else(|p| panic!("{schema}: {p}"));
        }
    }
}

#[tokio::test]
async fn a_forced_tool_call_names_one_of_the_tools() {
    let Some(engine) = shared() else { return };
    let weather = weather();
    let time = json!({"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]});
    let grammar = Grammar::tool_call(&[("get_weather", &weather), ("get_time", &time)]).unwrap();
    for question in [
        "What's the weather in Oslo?",
        "What time is it in Lima?",
        "Tell me a joke.",
    ] {
        let done = engine
            .generate_with_grammar(ask(engine, question, 200), &grammar)
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            done.finish.reason,
            FinishReason::EndOfTurn,
            "{:?}",
            done.text
        );
        let call = ToolCall::parse(&done.text).unwrap();
        let schema = match call.name.as_str() {
            "get_weather" => &weather,
            "get_time" => &time,
            other => panic!("unknown tool {other}"),
        };
        check(&call.input, schema, schema).unwrap();
    }
}

#[tokio::test]
async fn bad_grammars_are_refused_and_the_engine_stays_usable() {
    let Some(engine) = shared() else { return };
    let before = complete(engine, ask(engine, "What is the capital of France?", 40)).await;
    for (gbnf, root) in [
        ("root ::= \"a\" undefined-rule", "root"),
        ("root ::= (\"a\"", "root"),
        ("root ::= root \"a\"", "root"),
        ("other ::= \"a\"", "root"),
        ("root ::= \"a\"", "missing"),
        ("", ""),
        ("root ::= \"\\q\"", "root"),
    ] {
        let grammar = Grammar {
            gbnf: gbnf.to_string(),
            root: root.to_string(),
        };
        match engine.generate_with_grammar(ask(engine, "Hi", 5), &grammar) {
            Err(EngineError::InvalidRequest(_)) => {}
            other => panic!("{gbnf:?} gave {other:?}"),
        }
    }
    // A constrained request, even one cut short mid-value, leaves nothing behind.
    let grammar = Grammar::json_schema(&weather()).unwrap();
    let cut = engine
        .generate_with_grammar(ask(engine, "Weather in Rome?", 3), &grammar)
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(cut.finish.reason, FinishReason::MaxTokens);
    assert!(cut.text.starts_with('{'), "{:?}", cut.text);
    let after = complete(engine, ask(engine, "What is the capital of France?", 40)).await;
    assert_eq!(before.text, after.text);
}

#[tokio::test]
async fn sampled_generation_under_a_grammar_is_valid_too() {
    let Some(engine) = shared() else { return };
    let schema = weather();
    let grammar = Grammar::json_schema(&schema).unwrap();
    for seed in 0..4 {
        let mut request: GenerationRequest = ask(engine, "Weather in Berlin?", 200);
        request.sampling = basalt_llama::Sampling {
            temperature: 1.0,
            top_p: 0.95,
            top_k: 40,
            seed,
        };
        let done = engine
            .generate_with_grammar(request, &grammar)
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            done.finish.reason,
            FinishReason::EndOfTurn,
            "{:?}",
            done.text
        );
        let value: Value = serde_json::from_str(&done.text).unwrap();
        check(&value, &schema, &schema).unwrap();
    }
}

/// Not an assertion on speed: prints the grammar's cost per token for the record (best of
/// three runs each, interleaved, since the build machine is shared).
#[tokio::test]
async fn grammar_cost_per_token() {
    let Some(engine) = shared() else { return };
    let grammar = Grammar {
        gbnf: json_schema_to_gbnf(&json!({"type": "array", "items": {"type": "string"}})).unwrap(),
        root: "root".to_string(),
    };
    let question = "List twenty animals.";
    let per_token = |finish: &basalt_llama::Finish| finish.decode / finish.completion_tokens.max(1);
    let (mut free, mut constrained) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let done = complete(engine, ask(engine, question, 64)).await;
        free = free.min(per_token(&done.finish));
        let done = engine
            .generate_with_grammar(ask(engine, question, 64), &grammar)
            .unwrap()
            .collect()
            .await
            .unwrap();
        constrained = constrained.min(per_token(&done.finish));
    }
    eprintln!("decode per token: free {free:?}, under a JSON grammar {constrained:?}");
}

/// A constrained sequence and a free one decode together in one batch, each with its own
/// sampler.
#[tokio::test]
async fn constrained_and_free_sequences_share_a_batch() {
    let Some(path) = crate::model_path() else {
        return;
    };
    let engine = LlamaEngine::start(basalt_llama::EngineConfig {
        max_sequences: 2,
        ..crate::config(path)
    })
    .unwrap();
    let schema = bounded_weather();
    let grammar = Grammar::json_schema(&schema).unwrap();
    let constrained = engine
        .generate_with_grammar(ask(&engine, "Weather in Madrid?", 200), &grammar)
        .unwrap();
    let free = engine
        .generate(ask(&engine, "What is the capital of France?", 40))
        .unwrap();
    let (constrained, free) = tokio::join!(constrained.collect(), free.collect());
    let (constrained, free) = (constrained.unwrap(), free.unwrap());
    assert!(free.text.contains("Paris"), "{:?}", free.text);
    assert_eq!(constrained.finish.reason, FinishReason::EndOfTurn);
    let value: Value = serde_json::from_str(&constrained.text).unwrap();
    check(&value, &schema, &schema).unwrap();
}
