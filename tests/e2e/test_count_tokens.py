"""CountTokens in both input forms, checked against what Converse/InvokeModel bill."""

import json

import pytest

from conftest import CLAUDE

pytestmark = pytest.mark.models

SYSTEM = [{"text": "You are a concise assistant."}]
MESSAGES = [{"role": "user", "content": [{"text": "How many legs does a spider have?"}]}]


def test_count_tokens_converse_equals_converse_usage(bedrock_runtime):
    counted = bedrock_runtime.count_tokens(
        modelId=CLAUDE, input={"converse": {"messages": MESSAGES, "system": SYSTEM}}
    )
    assert counted["inputTokens"] > 0
    resp = bedrock_runtime.converse(
        modelId=CLAUDE, messages=MESSAGES, system=SYSTEM, inferenceConfig={"maxTokens": 1, "temperature": 0}
    )
    assert counted["inputTokens"] == resp["usage"]["inputTokens"]


def test_count_tokens_grows_with_input(bedrock_runtime):
    short = bedrock_runtime.count_tokens(modelId=CLAUDE, input={"converse": {"messages": MESSAGES}})
    longer_messages = [{"role": "user", "content": [{"text": "How many legs does a spider have? " * 10}]}]
    longer = bedrock_runtime.count_tokens(modelId=CLAUDE, input={"converse": {"messages": longer_messages}})
    assert longer["inputTokens"] > short["inputTokens"] + 9 * 5


def test_count_tokens_invoke_model_body(bedrock_runtime):
    body = json.dumps({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 1,
        "system": SYSTEM[0]["text"],
        "messages": [{"role": "user", "content": MESSAGES[0]["content"][0]["text"]}],
    }).encode()
    counted = bedrock_runtime.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": body}})
    assert counted["inputTokens"] > 0
    invoked = bedrock_runtime.invoke_model(modelId=CLAUDE, body=body)
    billed = int(invoked["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"])
    assert counted["inputTokens"] == billed
    # The same conversation through Converse is the same prompt.
    conv = bedrock_runtime.count_tokens(
        modelId=CLAUDE, input={"converse": {"messages": MESSAGES, "system": SYSTEM}}
    )
    assert counted["inputTokens"] == conv["inputTokens"]
