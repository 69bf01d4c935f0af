"""ConverseStream: the event sequence and its agreement with Converse."""

import pytest

from conftest import CLAUDE

pytestmark = pytest.mark.models

MESSAGES = [{"role": "user", "content": [{"text": "Name three colors of the rainbow."}]}]
INFERENCE = {"temperature": 0, "maxTokens": 48}


def collapse(names):
    """['a', 'b', 'b', 'c'] -> ['a', 'b', 'c']"""
    out = []
    for n in names:
        if not out or out[-1] != n:
            out.append(n)
    return out


def test_event_order_and_content_match_converse(bedrock_runtime):
    resp = bedrock_runtime.converse_stream(modelId=CLAUDE, messages=MESSAGES, inferenceConfig=INFERENCE)
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"].startswith(
        "application/vnd.amazon.eventstream"
    )
    events = list(resp["stream"])
    names = [next(iter(e)) for e in events]
    # Bedrock sends contentBlockStart only for toolUse blocks; text starts with a delta.
    names_no_start = [n for n in names if n != "contentBlockStart"]
    assert collapse(names_no_start) == [
        "messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata",
    ], names

    assert events[0]["messageStart"]["role"] == "assistant"
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    assert all(d["contentBlockIndex"] == 0 for d in deltas)
    streamed = "".join(d["delta"]["text"] for d in deltas)
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    meta = events[-1]["metadata"]
    usage = meta["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert usage["outputTokens"] > 0
    assert isinstance(meta["metrics"]["latencyMs"], int)

    whole = bedrock_runtime.converse(modelId=CLAUDE, messages=MESSAGES, inferenceConfig=INFERENCE)
    text = "".join(b["text"] for b in whole["output"]["message"]["content"])
    assert streamed == text
    assert stop["stopReason"] == whole["stopReason"]
    assert usage["inputTokens"] == whole["usage"]["inputTokens"]
    assert usage["outputTokens"] == whole["usage"]["outputTokens"]


def test_stream_max_tokens(bedrock_runtime):
    resp = bedrock_runtime.converse_stream(
        modelId=CLAUDE, messages=MESSAGES, inferenceConfig={"temperature": 0, "maxTokens": 3}
    )
    events = list(resp["stream"])
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    assert stop["stopReason"] == "max_tokens"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 3
