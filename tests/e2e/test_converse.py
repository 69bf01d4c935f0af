"""Converse against the real local model (SmolLM2-135M), greedy decoding (temperature 0)."""

import pytest

from conftest import CLAUDE

pytestmark = pytest.mark.models

QUESTION = "What is the capital of France?"


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def assistant(text):
    return {"role": "assistant", "content": [{"text": text}]}


def converse(client, messages, max_tokens=64, **kw):
    inference = {"temperature": 0, "maxTokens": max_tokens}
    inference.update(kw.pop("inference", {}))
    return client.converse(modelId=CLAUDE, messages=messages, inferenceConfig=inference, **kw)


def text_of(resp):
    return "".join(b.get("text", "") for b in resp["output"]["message"]["content"])


def test_capital_of_france_mentions_paris(bedrock_runtime):
    resp = converse(bedrock_runtime, [user(QUESTION)])
    message = resp["output"]["message"]
    assert message["role"] == "assistant"
    assert "Paris" in text_of(resp), text_of(resp)


def test_response_shape_usage_and_metrics(bedrock_runtime):
    resp = converse(bedrock_runtime, [user(QUESTION)])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
    usage = resp["usage"]
    assert usage["inputTokens"] > 0
    assert usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert isinstance(resp["metrics"]["latencyMs"], int)
    assert resp["metrics"]["latencyMs"] >= 0
    assert resp["stopReason"] in {"end_turn", "max_tokens", "stop_sequence"}


def test_greedy_is_deterministic(bedrock_runtime):
    first = converse(bedrock_runtime, [user(QUESTION)])
    second = converse(bedrock_runtime, [user(QUESTION)])
    assert text_of(first) == text_of(second)
    assert first["usage"] == second["usage"]


def test_system_prompt_reaches_the_model(bedrock_runtime):
    plain = converse(bedrock_runtime, [user(QUESTION)])
    system = [{"text": "You are a geography teacher. Answer in one short sentence."}]
    with_system = converse(bedrock_runtime, [user(QUESTION)], system=system)
    assert text_of(with_system).strip()
    # The system text is part of the prompt: it costs input tokens.
    assert with_system["usage"]["inputTokens"] > plain["usage"]["inputTokens"]


def test_multi_turn_history_is_in_the_prompt(bedrock_runtime):
    last = user("What is my name?")
    single = converse(bedrock_runtime, [last])
    history = [user("Hello, my name is Alice."), assistant("Nice to meet you, Alice!"), last]
    multi = converse(bedrock_runtime, history)
    assert multi["output"]["message"]["role"] == "assistant"
    assert text_of(multi).strip()
    assert multi["usage"]["inputTokens"] > single["usage"]["inputTokens"] + 5


def test_stop_reason_end_turn(bedrock_runtime):
    resp = converse(bedrock_runtime, [user(QUESTION + " Answer in one word.")], max_tokens=512)
    assert resp["stopReason"] == "end_turn", text_of(resp)
    assert resp["usage"]["outputTokens"] < 512


def test_stop_reason_max_tokens(bedrock_runtime):
    resp = converse(bedrock_runtime, [user("Write a long story about a dragon.")], max_tokens=5)
    assert resp["stopReason"] == "max_tokens"
    assert resp["usage"]["outputTokens"] == 5
    assert text_of(resp).strip()


def test_stop_reason_stop_sequence(bedrock_runtime):
    full = text_of(converse(bedrock_runtime, [user(QUESTION)]))
    words = full.split()
    assert len(words) >= 3, full
    stop = words[2]  # a word the greedy answer is known to reach
    resp = converse(bedrock_runtime, [user(QUESTION)], inference={"stopSequences": [stop]})
    assert resp["stopReason"] == "stop_sequence"
    cut = text_of(resp)
    assert stop not in cut
    assert full.startswith(cut.rstrip()), (full, cut)
    assert resp["usage"]["outputTokens"] > 0


def test_additional_model_request_fields_top_k(bedrock_runtime):
    greedy = converse(bedrock_runtime, [user(QUESTION)])
    topk = bedrock_runtime.converse(
        modelId=CLAUDE,
        messages=[user(QUESTION)],
        inferenceConfig={"maxTokens": 64},
        additionalModelRequestFields={"top_k": 1},
    )
    # top_k = 1 keeps only the most likely token: the same text as temperature 0.
    assert text_of(topk) == text_of(greedy)
