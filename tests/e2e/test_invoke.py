"""InvokeModel and InvokeModelWithResponseStream with each provider's body format."""

import json

import pytest

from conftest import CLAUDE, LLAMA, MISTRAL, NOVA, TITAN_TEXT

pytestmark = pytest.mark.models

QUESTION = "What is the capital of France?"


def anthropic_body(max_tokens):
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": QUESTION}],
    }


def titan_body(max_tokens):
    return {"inputText": QUESTION, "textGenerationConfig": {"maxTokenCount": max_tokens, "temperature": 0}}


def llama_body(max_tokens):
    prompt = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
        f"{QUESTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    return {"prompt": prompt, "max_gen_len": max_tokens, "temperature": 0}


def mistral_body(max_tokens):
    return {"prompt": f"<s>[INST] {QUESTION} [/INST]", "max_tokens": max_tokens, "temperature": 0}


def nova_body(max_tokens):
    return {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0},
    }


# Each format: (model id, body builder, parse(result) -> (text, stop reason, input tokens|None,
# output tokens|None), stop reason for "ran out of tokens", stop reason for "finished").
def parse_anthropic(r):
    assert r["type"] == "message" and r["role"] == "assistant" and r["id"]
    assert r["content"][0]["type"] == "text"
    return r["content"][0]["text"], r["stop_reason"], r["usage"]["input_tokens"], r["usage"]["output_tokens"]


def parse_titan(r):
    res = r["results"][0]
    return res["outputText"], res["completionReason"], r["inputTextTokenCount"], res["tokenCount"]


def parse_llama(r):
    return r["generation"], r["stop_reason"], r["prompt_token_count"], r["generation_token_count"]


def parse_mistral(r):
    out = r["outputs"][0]
    return out["text"], out["stop_reason"], None, None


def parse_nova(r):
    msg = r["output"]["message"]
    assert msg["role"] == "assistant"
    u = r["usage"]
    assert u["totalTokens"] == u["inputTokens"] + u["outputTokens"]
    return msg["content"][0]["text"], r["stopReason"], u["inputTokens"], u["outputTokens"]


FORMATS = {
    "anthropic": (CLAUDE, anthropic_body, parse_anthropic, "max_tokens", "end_turn"),
    "titan": (TITAN_TEXT, titan_body, parse_titan, "LENGTH", "FINISH"),
    "llama": (LLAMA, llama_body, parse_llama, "length", "stop"),
    "mistral": (MISTRAL, mistral_body, parse_mistral, "length", "stop"),
    "nova": (NOVA, nova_body, parse_nova, "max_tokens", "end_turn"),
}

# Formats whose body is messages (the server applies the model's chat template).
CHAT_FORMATS = {"anthropic", "nova"}


def invoke(client, fmt, max_tokens):
    model, build, parse, _, _ = FORMATS[fmt]
    resp = client.invoke_model(
        modelId=model, body=json.dumps(build(max_tokens)),
        contentType="application/json", accept="application/json",
    )
    result = json.loads(resp["body"].read())
    return resp, result, parse(result)


def header_counts(resp):
    h = resp["ResponseMetadata"]["HTTPHeaders"]
    return (
        int(h["x-amzn-bedrock-input-token-count"]),
        int(h["x-amzn-bedrock-output-token-count"]),
        int(h["x-amzn-bedrock-invocation-latency"]),
    )


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_invoke_model(bedrock_runtime, fmt):
    resp, _, (text, stop, n_in, n_out) = invoke(bedrock_runtime, fmt, 128)
    assert resp["contentType"] == "application/json"
    assert text.strip()
    if fmt in CHAT_FORMATS:
        assert "Paris" in text, text
        assert stop == FORMATS[fmt][4], (stop, text)
    else:
        # Raw-prompt formats hand the prompt to the model as written; a 135M model may ramble on.
        assert stop in (FORMATS[fmt][3], FORMATS[fmt][4]), (stop, text)
    h_in, h_out, latency = header_counts(resp)
    assert h_in > 0 and h_out > 0 and latency >= 0
    if n_in is not None:
        assert n_in == h_in
        assert n_out == h_out


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_invoke_model_max_tokens(bedrock_runtime, fmt):
    resp, _, (text, stop, _, n_out) = invoke(bedrock_runtime, fmt, 4)
    assert stop == FORMATS[fmt][3]
    assert header_counts(resp)[1] == 4
    if n_out is not None:
        assert n_out == 4


def test_anthropic_content_blocks_and_system(bedrock_runtime):
    plain = anthropic_body(32)
    blocks = dict(plain, messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}]}])
    r_plain = bedrock_runtime.invoke_model(modelId=CLAUDE, body=json.dumps(plain))
    r_blocks = bedrock_runtime.invoke_model(modelId=CLAUDE, body=json.dumps(blocks))
    a = json.loads(r_plain["body"].read())
    b = json.loads(r_blocks["body"].read())
    # A string content and one text block are the same prompt.
    assert a["content"] == b["content"]
    assert a["usage"] == b["usage"]
    # Longer than basalt's default system prompt ("You are a helpful assistant."), which a request
    # without `system` gets, so the count must grow if `system` is read.
    with_system = dict(plain, system="You are a patient geography teacher who answers in one short sentence.")
    c = json.loads(bedrock_runtime.invoke_model(modelId=CLAUDE, body=json.dumps(with_system))["body"].read())
    assert c["usage"]["input_tokens"] > a["usage"]["input_tokens"]


# --- streaming ---------------------------------------------------------------------------


def stream_chunks(client, fmt, max_tokens):
    model, build, _, _, _ = FORMATS[fmt]
    resp = client.invoke_model_with_response_stream(
        modelId=model, body=json.dumps(build(max_tokens)),
        contentType="application/json", accept="application/json",
    )
    assert resp["contentType"] == "application/json"
    chunks = []
    for event in resp["body"]:
        assert set(event) == {"chunk"}, event
        chunks.append(json.loads(event["chunk"]["bytes"]))
    assert chunks
    return chunks


def stream_text_anthropic(chunks):
    types = [c["type"] for c in chunks]
    assert types[0] == "message_start"
    assert types[1] == "content_block_start"
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"], types
    assert set(types[2:-3]) == {"content_block_delta"}, types
    start = chunks[0]["message"]
    assert start["role"] == "assistant" and start["usage"]["input_tokens"] > 0
    assert chunks[1]["content_block"]["type"] == "text"
    deltas = [c["delta"] for c in chunks if c["type"] == "content_block_delta"]
    assert all(d["type"] == "text_delta" for d in deltas)
    assert chunks[-2]["delta"]["stop_reason"] in {"end_turn", "max_tokens", "stop_sequence"}
    assert chunks[-2]["usage"]["output_tokens"] > 0
    return "".join(d["text"] for d in deltas)


def stream_text_titan(chunks):
    assert chunks[0]["inputTextTokenCount"] > 0
    assert chunks[-1]["completionReason"] in {"FINISH", "LENGTH", "STOP_CRITERIA_MET"}
    assert all(c["completionReason"] is None for c in chunks[:-1])
    return "".join(c["outputText"] for c in chunks)


def stream_text_llama(chunks):
    assert chunks[0]["prompt_token_count"] > 0
    assert chunks[-1]["stop_reason"] in {"stop", "length"}
    assert all(c["stop_reason"] is None for c in chunks[:-1])
    return "".join(c["generation"] for c in chunks)


def stream_text_mistral(chunks):
    assert chunks[-1]["outputs"][0]["stop_reason"] in {"stop", "length"}
    return "".join(c["outputs"][0]["text"] for c in chunks)


def stream_text_nova(chunks):
    names = [next(k for k in c if k != "amazon-bedrock-invocationMetrics") for c in chunks]
    assert names[0] == "messageStart" and names[-2:] == ["messageStop", "metadata"], names
    assert names[-3] == "contentBlockStop", names
    deltas = [c["contentBlockDelta"]["delta"]["text"] for c in chunks if "contentBlockDelta" in c]
    assert deltas
    return "".join(deltas)


STREAM_TEXT = {
    "anthropic": stream_text_anthropic,
    "titan": stream_text_titan,
    "llama": stream_text_llama,
    "mistral": stream_text_mistral,
    "nova": stream_text_nova,
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_invoke_model_with_response_stream(bedrock_runtime, fmt):
    chunks = stream_chunks(bedrock_runtime, fmt, 48)
    streamed = STREAM_TEXT[fmt](chunks)
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])
    resp, _, (text, _, _, _) = invoke(bedrock_runtime, fmt, 48)
    h_in, h_out, _ = header_counts(resp)
    assert streamed == text
    assert metrics["inputTokenCount"] == h_in
    assert metrics["outputTokenCount"] == h_out
    assert metrics["invocationLatency"] >= 0
    assert metrics["firstByteLatency"] >= 0
