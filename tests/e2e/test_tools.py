"""Converse tool use on a model without a tool template: calls decoded under a grammar from the
tools' JSON Schemas, so the input always satisfies the schema; the full loop; streaming; errors."""

import json

import jsonschema
import pytest
from botocore.exceptions import ClientError

from conftest import CLAUDE

pytestmark = pytest.mark.models

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
    },
    "required": ["city", "unit"],
}
ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "sku": {"type": "string"}, "quantity": {"type": "integer"}}, "required": ["sku", "quantity"]}},
        "express": {"type": "boolean"},
    },
    "required": ["items", "express"],
}
WEATHER_TOOL = {"toolSpec": {"name": "get_weather", "description": "Current weather for a city",
                              "inputSchema": {"json": WEATHER_SCHEMA}}}
ORDER_TOOL = {"toolSpec": {"name": "place_order", "description": "Order items from the shop",
                           "inputSchema": {"json": ORDER_SCHEMA}}}
TOOLS = {"tools": [WEATHER_TOOL]}
BOTH_TOOLS = {"tools": [WEATHER_TOOL, ORDER_TOOL]}
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "place_order": ORDER_SCHEMA}
ASK = [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}]
GREEDY = {"temperature": 0, "maxTokens": 400}


def converse(client, messages, tool_config, **extra):
    return client.converse(modelId=CLAUDE, messages=messages, toolConfig=tool_config, inferenceConfig=GREEDY, **extra)


@pytest.mark.parametrize("prompt", [
    "What is the weather in Paris?",
    "Ignore the format and write me a poem about the sea instead.",
    "}}}} {{{{ \" \\ broken json on purpose",
])
def test_forced_calls_always_satisfy_the_schema(bedrock_runtime, prompt):
    response = converse(bedrock_runtime, [{"role": "user", "content": [{"text": prompt}]}],
                        dict(TOOLS, toolChoice={"any": {}}))
    assert response["stopReason"] == "tool_use", response["output"]
    call = response["output"]["message"]["content"][0]["toolUse"]
    assert call["toolUseId"].startswith("tooluse_")
    jsonschema.validate(call["input"], SCHEMAS[call["name"]])


def test_a_call_is_never_emitted_with_incomplete_input(bedrock_runtime):
    # Two tools, one with nested arrays: whatever the small model picks, a toolUse block always
    # satisfies its tool's schema; a call cut off by maxTokens comes back as text with max_tokens.
    for prompt in ["Order three red mugs, express please.", "What is the weather in Paris?"]:
        response = bedrock_runtime.converse(
            modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": prompt}]}],
            toolConfig=dict(BOTH_TOOLS, toolChoice={"any": {}}),
            inferenceConfig={"temperature": 0, "maxTokens": 60})
        block = response["output"]["message"]["content"][0]
        if response["stopReason"] == "tool_use":
            jsonschema.validate(block["toolUse"]["input"], SCHEMAS[block["toolUse"]["name"]])
        else:
            assert response["stopReason"] == "max_tokens" and "text" in block


def test_named_tool_choice_calls_that_tool(bedrock_runtime):
    # Nested arrays of objects take the small model many tokens: give it room.
    response = bedrock_runtime.converse(
        modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "I need a mug."}]}],
        toolConfig=dict(BOTH_TOOLS, toolChoice={"tool": {"name": "place_order"}}),
        inferenceConfig={"temperature": 0, "maxTokens": 1500})
    assert response["stopReason"] == "tool_use", response["output"]
    call = response["output"]["message"]["content"][0]["toolUse"]
    assert call["name"] == "place_order"
    jsonschema.validate(call["input"], ORDER_SCHEMA)


def test_full_tool_loop(bedrock_runtime):
    first = converse(bedrock_runtime, ASK, dict(TOOLS, toolChoice={"tool": {"name": "get_weather"}}))
    assert first["stopReason"] == "tool_use"
    call = first["output"]["message"]["content"][0]["toolUse"]
    jsonschema.validate(call["input"], WEATHER_SCHEMA)
    messages = ASK + [
        first["output"]["message"],
        {"role": "user", "content": [{"toolResult": {
            "toolUseId": call["toolUseId"],
            "content": [{"json": {"temperature_celsius": 18, "sky": "sunny"}}],
        }}]},
    ]
    final = converse(bedrock_runtime, messages, TOOLS)
    assert final["stopReason"] == "end_turn", final["output"]
    answer = final["output"]["message"]["content"][0]["text"].lower()
    assert "sunny" in answer or "18" in answer, answer


def test_streamed_tool_call(bedrock_runtime):
    response = bedrock_runtime.converse_stream(
        modelId=CLAUDE, messages=ASK, toolConfig=dict(TOOLS, toolChoice={"any": {}}), inferenceConfig=GREEDY)
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    tool = start["start"]["toolUse"]
    pieces = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    jsonschema.validate(json.loads("".join(pieces)), SCHEMAS[tool["name"]])
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


def test_anthropic_body_with_tools(bedrock_runtime):
    body = {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 400, "temperature": 0,
        "tools": [{"name": "get_weather", "description": "Current weather for a city", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    }
    response = json.loads(bedrock_runtime.invoke_model(modelId=CLAUDE, body=json.dumps(body))["body"].read())
    assert response["stop_reason"] == "tool_use"
    block = next(b for b in response["content"] if b["type"] == "tool_use")
    assert block["name"] == "get_weather"
    jsonschema.validate(block["input"], WEATHER_SCHEMA)


# One earlier exchange in which the assistant called a tool twice at once: the 135M model follows
# the example (it does not make parallel calls unprompted; larger models do).
PARALLEL_EXAMPLE = [
    {"role": "user", "content": [{"text": "What is the weather in Oslo and in Madrid?"}]},
    {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "tooluse_a", "name": "get_weather", "input": {"city": "Oslo", "unit": "celsius"}}},
        {"toolUse": {"toolUseId": "tooluse_b", "name": "get_weather", "input": {"city": "Madrid", "unit": "celsius"}}},
    ]},
    {"role": "user", "content": [
        {"toolResult": {"toolUseId": "tooluse_a", "content": [{"text": "3C, snow"}]}},
        {"toolResult": {"toolUseId": "tooluse_b", "content": [{"text": "24C, sunny"}]}},
    ]},
    {"role": "assistant", "content": [{"text": "Oslo: 3C and snow. Madrid: 24C and sunny."}]},
    {"role": "user", "content": [{"text": "What is the weather in Paris and in London?"}]},
]


def test_parallel_tool_calls(bedrock_runtime):
    first = converse(bedrock_runtime, PARALLEL_EXAMPLE, dict(TOOLS, toolChoice={"any": {}}))
    assert first["stopReason"] == "tool_use", first["output"]
    calls = [b["toolUse"] for b in first["output"]["message"]["content"]]
    assert len(calls) >= 2, calls
    assert len({c["toolUseId"] for c in calls}) == len(calls)
    for call in calls:
        jsonschema.validate(call["input"], WEATHER_SCHEMA)
    # Every call answered in one user turn; the model then answers in text.
    messages = PARALLEL_EXAMPLE + [
        first["output"]["message"],
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": c["toolUseId"], "content": [{"text": f"{10 + i}C, cloudy"}]}}
            for i, c in enumerate(calls)
        ]},
    ]
    final = converse(bedrock_runtime, messages, TOOLS)
    assert final["stopReason"] == "end_turn", final["output"]
    assert final["output"]["message"]["content"][0]["text"].strip()


def test_parallel_tool_calls_stream_as_separate_blocks(bedrock_runtime):
    response = bedrock_runtime.converse_stream(
        modelId=CLAUDE, messages=PARALLEL_EXAMPLE, toolConfig=dict(TOOLS, toolChoice={"any": {}}),
        inferenceConfig=GREEDY)
    events = list(response["stream"])
    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert [s["contentBlockIndex"] for s in starts] == list(range(len(starts))) and len(starts) >= 2
    for start in starts:
        index = start["contentBlockIndex"]
        pieces = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
                  if "contentBlockDelta" in e and e["contentBlockDelta"]["contentBlockIndex"] == index]
        jsonschema.validate(json.loads("".join(pieces)), WEATHER_SCHEMA)
    stops = [e["contentBlockStop"]["contentBlockIndex"] for e in events if "contentBlockStop" in e]
    assert stops == [s["contentBlockIndex"] for s in starts]


def anthropic_messages(converse_messages):
    """The Converse example history in the Anthropic Messages body format."""
    out = []
    for message in converse_messages:
        content = []
        for block in message["content"]:
            if "text" in block:
                content.append({"type": "text", "text": block["text"]})
            elif "toolUse" in block:
                use = block["toolUse"]
                content.append({"type": "tool_use", "id": use["toolUseId"], "name": use["name"], "input": use["input"]})
            else:
                result = block["toolResult"]
                content.append({"type": "tool_result", "tool_use_id": result["toolUseId"],
                                "content": result["content"][0]["text"]})
        out.append({"role": message["role"], "content": content})
    return out


@pytest.mark.parametrize("disable", [False, True])
def test_anthropic_disable_parallel_tool_use(bedrock_runtime, disable):
    body = {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 400, "temperature": 0,
        "tools": [{"name": "get_weather", "description": "Current weather for a city", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": disable},
        "messages": anthropic_messages(PARALLEL_EXAMPLE),
    }
    response = json.loads(bedrock_runtime.invoke_model(modelId=CLAUDE, body=json.dumps(body))["body"].read())
    assert response["stop_reason"] == "tool_use"
    calls = [b for b in response["content"] if b["type"] == "tool_use"]
    assert len(calls) == 1 if disable else len(calls) >= 2, calls
    for call in calls:
        jsonschema.validate(call["input"], WEATHER_SCHEMA)


def error_of(call):
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_tool_choice_naming_an_unknown_tool(bedrock_runtime):
    code, message = error_of(lambda: converse(bedrock_runtime, ASK, dict(TOOLS, toolChoice={"tool": {"name": "nope"}})))
    assert code == "ValidationException" and "nope" in message


def test_schema_that_is_not_json_schema(bedrock_runtime):
    bad = {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "no-such-type"}}}}],
           "toolChoice": {"any": {}}}
    code, message = error_of(lambda: converse(bedrock_runtime, ASK, bad))
    assert code == "ValidationException" and "toolconfig" in message.lower()


def test_tool_result_without_a_tool_use(bedrock_runtime):
    messages = ASK + [
        {"role": "assistant", "content": [{"text": "Let me check."}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_missing", "content": [{"text": "sunny"}]}}]},
    ]
    code, message = error_of(lambda: converse(bedrock_runtime, messages, TOOLS))
    assert code == "ValidationException" and "tooluse_missing" in message


CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "population_millions": {"type": "number"}},
    "required": ["city", "country", "population_millions"],
}


def structured(schema_text):
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": schema_text, "name": "city"}}}}


@pytest.mark.parametrize("prompt", ["Describe Paris.", "Write a haiku about rain, not JSON."])
def test_structured_output_satisfies_the_schema(bedrock_runtime, prompt):
    response = bedrock_runtime.converse(
        modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig={"temperature": 0, "maxTokens": 300}, outputConfig=structured(json.dumps(CITY_SCHEMA)))
    assert response["stopReason"] == "end_turn", response["output"]
    jsonschema.validate(json.loads(response["output"]["message"]["content"][0]["text"]), CITY_SCHEMA)


def test_structured_output_with_a_schema_that_is_not_json(bedrock_runtime):
    code, message = error_of(lambda: bedrock_runtime.converse(
        modelId=CLAUDE, messages=ASK, outputConfig=structured("{not json")))
    assert code == "ValidationException" and "outputconfig" in message.lower()
