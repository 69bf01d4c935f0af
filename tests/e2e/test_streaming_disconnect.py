"""A client that walks away from a stream frees the engine for the next request."""

import time

import pytest

from conftest import CLAUDE

pytestmark = pytest.mark.models

SMALL = {"temperature": 0, "maxTokens": 8}
MESSAGES = [{"role": "user", "content": [{"text": "Say hi."}]}]
LONG = [{"role": "user", "content": [{"text": "Count from 1 to 5000, one number per line."}]}]


def test_disconnect_mid_stream(bedrock_runtime, basalt):
    start = time.monotonic()
    bedrock_runtime.converse(modelId=CLAUDE, messages=MESSAGES, inferenceConfig=SMALL)
    baseline = time.monotonic() - start

    resp = bedrock_runtime.converse_stream(
        modelId=CLAUDE, messages=LONG, inferenceConfig={"temperature": 0, "maxTokens": 4096}
    )
    stream = resp["stream"]
    first = next(iter(stream))
    assert "messageStart" in first
    stream.close()  # drop the connection with thousands of tokens still to come

    start = time.monotonic()
    after = bedrock_runtime.converse(modelId=CLAUDE, messages=MESSAGES, inferenceConfig=SMALL)
    elapsed = time.monotonic() - start
    assert after["output"]["message"]["content"][0]["text"]
    # Had the abandoned generation run on, 4096 tokens would sit in front of this request.
    assert elapsed < baseline + 10, f"took {elapsed:.1f}s after disconnect (baseline {baseline:.1f}s)"
    assert basalt.healthy()
