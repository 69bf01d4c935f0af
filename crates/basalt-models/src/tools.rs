//! Tool use for models without a tool-calling chat template (SmolLM2's has none).
//!
//! The documented prompt format: the tools are listed, as JSON, after the system prompt, with
//! the instruction to answer a call as one JSON object `{"name": ..., "input": ...}`. A past
//! `toolUse` block is rendered as that object in the assistant's turn, a `toolResult` as a user
//! turn naming the call it answers. The engine decodes under a grammar built from the tools'
//! input schemas (`toolChoice` any / tool: the answer must be a call; auto: a call or plain text
//! that does not start with `{`), so a call's input always satisfies its schema. Several calls
//! (parallel tool use) are several such objects, one per line. With `auto`, the
//! turn right after tool results is answered in text: the small local models otherwise call the
//! same tool again rather than read the result.

use basalt_types::{ContentBlock, ConverseRequest, ToolResultBlock, ToolUseBlock};
use serde_json::{json, Value};

use crate::ModelError;

/// One tool the request offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model answers in text or calls a tool.
    Auto,
    /// The model must call one of the tools.
    Any,
    /// The model must call this tool.
    Tool(String),
}

/// The tools of a request and how the model must use them.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolPlan {
    pub tools: Vec<ToolSpec>,
    pub choice: ToolChoice,
    /// Most calls in one answer: [`MAX_PARALLEL_CALLS`], or 1 when the request disables
    /// parallel tool use or forces one named tool.
    pub max_calls: usize,
}

/// Most tool calls the local model may make in one answer.
pub const MAX_PARALLEL_CALLS: usize = 8;

impl ToolPlan {
    /// Reads Converse's `toolConfig`; `None` when the request offers no tools.
    pub fn from_request(request: &ConverseRequest) -> Result<Option<Self>, ModelError> {
        let Some(config) = &request.tool_config else {
            return Ok(None);
        };
        let mut tools = Vec::new();
        for (i, tool) in config
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(spec) = tool.get("toolSpec") else {
                // cachePoint entries carry no tool; system tools are not served by local models.
                if tool.get("cachePoint").is_some() {
                    continue;
                }
                return Err(invalid(format!(
                    "toolConfig.tools.{i}: only toolSpec tools are supported by this model."
                )));
            };
            let name = spec
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if name.is_empty() {
                return Err(invalid(format!(
                    "toolConfig.tools.{i}.toolSpec.name is required."
                )));
            }
            if tools.iter().any(|t: &ToolSpec| t.name == name) {
                return Err(invalid(format!(
                    "toolConfig.tools.{i}.toolSpec.name: the tool name {name} is used twice."
                )));
            }
            let input_schema = spec
                .get("inputSchema")
                .and_then(|s| s.get("json"))
                .cloned()
                .ok_or_else(|| {
                    invalid(format!(
                        "toolConfig.tools.{i}.toolSpec.inputSchema.json is required."
                    ))
                })?;
            if !input_schema.is_object() {
                return Err(invalid(format!(
                    "toolConfig.tools.{i}.toolSpec.inputSchema.json must be a JSON Schema object."
                )));
            }
            let description = spec
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            tools.push(ToolSpec {
                name,
                description,
                input_schema,
            });
        }
        if tools.is_empty() {
            return Err(invalid(
                "toolConfig.tools must hold at least one toolSpec.".into(),
            ));
        }
        let choice = match config.get("toolChoice") {
            None => ToolChoice::Auto,
            Some(choice) if choice.get("auto").is_some() => ToolChoice::Auto,
            Some(choice) if choice.get("any").is_some() => ToolChoice::Any,
            Some(choice) => match choice.get("tool").and_then(|t| t.get("name")).and_then(Value::as_str) {
                Some(name) if tools.iter().any(|t| t.name == name) => ToolChoice::Tool(name.to_string()),
                Some(name) => {
                    return Err(invalid(format!(
                        "toolConfig.toolChoice.tool.name: {name} is not one of the tools in toolConfig.tools."
                    )))
                }
                None => return Err(invalid("toolConfig.toolChoice must set auto, any or tool.".into())),
            },
        };
        let one_call = request.disable_parallel_tool_use || matches!(choice, ToolChoice::Tool(_));
        let max_calls = if one_call { 1 } else { MAX_PARALLEL_CALLS };
        Ok(Some(ToolPlan {
            tools,
            choice,
            max_calls,
        }))
    }

    /// Text appended to the system prompt that teaches the call format.
    pub fn instructions(&self) -> String {
        let listed: Vec<Value> = self
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
        let must = match &self.choice {
            ToolChoice::Auto => {
                "If a tool helps, call it; otherwise answer in plain text.".to_string()
            }
            ToolChoice::Any => "You must call one of these tools.".to_string(),
            ToolChoice::Tool(name) => format!("You must call the tool {name}."),
        };
        let several = if self.max_calls > 1 {
            " To call several tools at once, write one such object per line."
        } else {
            ""
        };
        format!(
            "You can call these tools:\n{}\nTo call a tool, answer with only a JSON object: {{\"name\": \"<tool name>\", \"input\": {{<arguments>}}}}.{several} {must}",
            Value::Array(listed)
        )
    }

    /// (name, input schema) of the tools the answer may call, each schema [`bounded`].
    pub fn callable(&self) -> Vec<(&str, Value)> {
        self.tools
            .iter()
            .filter(|t| match &self.choice {
                ToolChoice::Tool(name) => &t.name == name,
                ToolChoice::Auto | ToolChoice::Any => true,
            })
            .map(|t| (t.name.as_str(), bounded(&t.input_schema)))
            .collect()
    }
}

/// The JSON Schema of Converse's `outputConfig.textFormat` (structured output), when set.
pub fn output_schema(request: &ConverseRequest) -> Result<Option<Value>, ModelError> {
    let Some(format) = request
        .output_config
        .as_ref()
        .and_then(|c| c.get("textFormat"))
    else {
        return Ok(None);
    };
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return Err(invalid(
            "outputConfig.textFormat.type must be json_schema.".into(),
        ));
    }
    let text = format
        .pointer("/structure/jsonSchema/schema")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid("outputConfig.textFormat.structure.jsonSchema.schema is required.".into())
        })?;
    let schema: Value = serde_json::from_str(text).map_err(|e| {
        invalid(format!(
            "outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON: {e}"
        ))
    })?;
    if !schema.is_object() {
        return Err(invalid(
            "outputConfig.textFormat.structure.jsonSchema.schema must be a JSON Schema object."
                .into(),
        ));
    }
    Ok(Some(bounded(&schema)))
}

/// Longest string and array a local tool call may hold where the schema sets no bound, so that a
/// small model cannot loop inside one value until maxTokens runs out.
pub const MAX_STRING_LENGTH: u64 = 64;
pub const MAX_ARRAY_ITEMS: u64 = 8;

/// `schema` with [`MAX_STRING_LENGTH`] / [`MAX_ARRAY_ITEMS`] added to every string and array that
/// has no `maxLength` / `maxItems` of its own.
pub fn bounded(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), bounded(v))).collect();
            let types: Vec<&str> = match map.get("type") {
                Some(Value::String(t)) => vec![t.as_str()],
                Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if types.contains(&"string")
                && !map.contains_key("maxLength")
                && !map.contains_key("enum")
            {
                out.insert("maxLength".into(), MAX_STRING_LENGTH.into());
            }
            if types.contains(&"array") && !map.contains_key("maxItems") {
                out.insert("maxItems".into(), MAX_ARRAY_ITEMS.into());
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(bounded).collect()),
        other => other.clone(),
    }
}

/// How a past tool call reads in the assistant's turn: exactly the format the model answers in.
pub fn render_tool_use(block: &ToolUseBlock) -> String {
    // Spelled out so `name` comes first, as the grammar makes the model write it.
    format!(
        r#"{{"name": {}, "input": {}}}"#,
        Value::from(block.name.as_str()),
        block.input
    )
}

/// How a tool's result reads in the user's turn; `question` is the user's last question, repeated
/// so that a small model answers it rather than imitating its own call.
pub fn render_tool_result(
    block: &ToolResultBlock,
    tool_name: &str,
    question: Option<&str>,
) -> String {
    let parts: Vec<String> = block
        .content
        .iter()
        .map(
            |part| match (part.get("text").and_then(Value::as_str), part.get("json")) {
                (Some(text), _) => text.to_string(),
                (None, Some(json)) => json.to_string(),
                (None, None) => part.to_string(),
            },
        )
        .collect();
    let status = match block.status.as_deref() {
        Some("error") => " (the tool failed)",
        _ => "",
    };
    let ask = match question {
        Some(question) => format!("Use this result to answer in plain words: {question}"),
        None => "Use this result to answer in plain words.".to_string(),
    };
    format!(
        "Result of the tool {tool_name}{status}: {}\n{ask}",
        parts.join("\n")
    )
}

/// Every `toolResult` must answer a `toolUse` of the assistant turn just before it.
pub fn check_tool_results(request: &ConverseRequest) -> Result<(), ModelError> {
    for (i, message) in request.messages.iter().enumerate() {
        for block in &message.content {
            let ContentBlock::ToolResult(result) = block else {
                continue;
            };
            let asked = i.checked_sub(1).map(|p| &request.messages[p]).is_some_and(|previous| {
                previous.content.iter().any(
                    |b| matches!(b, ContentBlock::ToolUse(call) if call.tool_use_id == result.tool_use_id),
                )
            });
            if !asked {
                return Err(invalid(format!(
                    "messages.{i}: the toolResult for toolUseId {} does not match any toolUse in the previous assistant message.",
                    result.tool_use_id
                )));
            }
        }
    }
    Ok(())
}

/// Whether the latest message returns tool results, so the model's turn reads them.
pub fn answers_tool_results(request: &ConverseRequest) -> bool {
    request.messages.last().is_some_and(|m| {
        m.content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolResult(_)))
    })
}

/// The text of the last user message before `index` that asked something in words.
pub fn question_before(request: &ConverseRequest, index: usize) -> Option<&str> {
    request.messages[..index.min(request.messages.len())]
        .iter()
        .rev()
        .filter(|m| m.role == basalt_types::Role::User)
        .find_map(|m| m.content.iter().find_map(ContentBlock::as_text))
}

/// The name of the tool a `toolUseId` called, from the conversation so far.
pub fn tool_name_for<'a>(request: &'a ConverseRequest, tool_use_id: &str) -> Option<&'a str> {
    request
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .find_map(|b| match b {
            ContentBlock::ToolUse(call) if call.tool_use_id == tool_use_id => {
                Some(call.name.as_str())
            }
            _ => None,
        })
}

fn invalid(message: String) -> ModelError {
    ModelError::Validation(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_types::{Message, Role};

    fn request(tool_config: Value) -> ConverseRequest {
        ConverseRequest {
            messages: vec![Message::text(Role::User, "Weather in Paris?")],
            tool_config: Some(tool_config),
            ..ConverseRequest::default()
        }
    }

    fn weather() -> Value {
        json!({"toolSpec": {"name": "weather", "description": "Weather for a city",
               "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}})
    }

    #[test]
    fn reads_tools_and_choices() {
        let plan = ToolPlan::from_request(&request(json!({"tools": [weather()]})))
            .expect("valid")
            .expect("tools");
        assert_eq!(plan.choice, ToolChoice::Auto);
        assert_eq!(plan.tools[0].name, "weather");
        let plan = ToolPlan::from_request(&request(
            json!({"tools": [weather()], "toolChoice": {"tool": {"name": "weather"}}}),
        ))
        .expect("valid")
        .expect("tools");
        assert_eq!(plan.choice, ToolChoice::Tool("weather".into()));
        assert_eq!(plan.callable().len(), 1);
        assert!(plan
            .instructions()
            .contains("You must call the tool weather"));
    }

    #[test]
    fn unbounded_strings_and_arrays_get_bounds() {
        let schema = json!({"type": "object", "properties": {
            "tags": {"type": "array", "items": {"type": "string"}},
            "code": {"type": "string", "maxLength": 8},
            "unit": {"type": "string", "enum": ["c", "f"]}}});
        let out = bounded(&schema);
        assert_eq!(out["properties"]["tags"]["maxItems"], MAX_ARRAY_ITEMS);
        assert_eq!(
            out["properties"]["tags"]["items"]["maxLength"],
            MAX_STRING_LENGTH
        );
        assert_eq!(out["properties"]["code"]["maxLength"], 8);
        assert!(out["properties"]["unit"].get("maxLength").is_none());
    }

    #[test]
    fn unknown_tool_choice_and_bad_schemas_are_refused() {
        let err = ToolPlan::from_request(&request(
            json!({"tools": [weather()], "toolChoice": {"tool": {"name": "nope"}}}),
        ))
        .expect_err("unknown tool");
        assert!(err.to_string().contains("nope"), "{err}");
        let bad = json!({"toolSpec": {"name": "f", "inputSchema": {"json": "not a schema"}}});
        assert!(ToolPlan::from_request(&request(json!({"tools": [bad]}))).is_err());
        assert!(ToolPlan::from_request(&request(json!({"tools": []}))).is_err());
    }

    #[test]
    fn tool_results_must_answer_the_previous_tool_use() {
        let call = ToolUseBlock {
            tool_use_id: "t1".into(),
            name: "weather".into(),
            input: json!({"city": "Paris"}),
        };
        let result = |id: &str| ToolResultBlock {
            tool_use_id: id.into(),
            content: vec![json!({"text": "sunny"})],
            status: None,
        };
        let mut conversation = ConverseRequest {
            messages: vec![
                Message::text(Role::User, "Weather?"),
                Message {
                    role: Role::Assistant,
                    content: vec![ContentBlock::ToolUse(call.clone())],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult(result("t1"))],
                },
            ],
            ..ConverseRequest::default()
        };
        assert!(check_tool_results(&conversation).is_ok());
        assert_eq!(tool_name_for(&conversation, "t1"), Some("weather"));
        assert_eq!(
            render_tool_use(&call),
            r#"{"name": "weather", "input": {"city":"Paris"}}"#
        );
        assert_eq!(
            render_tool_result(&result("t1"), "weather", Some("Weather?")),
            "Result of the tool weather: sunny\nUse this result to answer in plain words: Weather?"
        );
        conversation.messages[2] = Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult(result("t9"))],
        };
        assert!(check_tool_results(&conversation).is_err());
    }
}
