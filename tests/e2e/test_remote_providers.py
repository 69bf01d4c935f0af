"""Remote providers: basalt in front of a real second model server on loopback
(llama-cpp-python's OpenAI-compatible server running the same SmolLM2 GGUF), and a scripted fake
upstream for the failures a real one cannot be made to show on demand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import jsonschema
import pytest
from botocore.exceptions import ClientError, EventStreamError

from conftest import MODELS_DIR, free_port, make_client
from upstream_fake import FakeUpstream, RecordingProxy

pytestmark = pytest.mark.models

GGUF = MODELS_DIR / "SmolLM2-135M-Instruct.Q4_1.gguf"
REMOTE = "anthropic.claude-3-haiku-20240307-v1:0"      # served by the real llama-cpp-python server
FALLS_BACK = "anthropic.claude-3-5-haiku-20241022-v1:0"  # a dead server that falls back to it
DEAD = "meta.llama3-1-8b-instruct-v1:0"               # a dead server, no fallback
EMBED = "amazon.titan-embed-text-v2:0"                # the fake's embeddings
SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France?"
FAKE_KEY = "sk-basalt-test-0123456789abcdef"
# Fault models on the fake upstream: catalog model id -> (fake behaviour, extra served settings).
FAULTS = {
    "fault.throttle-once": ("throttle-once", ""),
    "fault.throttle": ("throttle", "retries = 1\n"),
    "fault.loading": ("loading", "retries = 0\n"),
    "fault.unauthorized": ("unauthorized", ""),
    "fault.rejects": ("rejects", ""),
    "fault.slow": ("slow", "timeout_s = 1.0\nretries = 0\n"),
    "fault.malformed": ("malformed", ""),
    "fault.cut": ("cut", ""),
    "fault.tool": ("tool", ""),
}


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server on the same GGUF."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.fail("llama-cpp-python[server] is not installed in the test venv (make venv)")
    port = free_port()
    log = open(tmp_path_factory.mktemp("llama-server") / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "1"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/models", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("llama-cpp-python server did not start")
            time.sleep(0.3)
    yield base
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def recorder(llama_server):
    """basalt reaches the llama-cpp-python server through this proxy, which keeps what it sent."""
    proxy = RecordingProxy(llama_server)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream()
    yield upstream
    upstream.stop()


def catalog(llama_base: str, fake_base: str) -> str:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    text = f"""
region = "us-east-1"
account_id = "000000000000"

[served.llama]
provider = "openai"
base_url = "{llama_base}"
model = "smollm2"
name = "SmolLM2 on llama-cpp-python"
context_length = 4096
max_output_tokens = 1024

[served.dead-with-fallback]
provider = "openai"
base_url = "{dead}"
model = "smollm2"
retries = 0
fallback = "llama"

[served.dead]
provider = "openai"
base_url = "{dead}"
model = "smollm2"
retries = 1

[served.embed]
provider = "openai-embedding"
base_url = "{fake_base}"
model = "embedder"
dimensions = 4

[[foundation_models]]
model_id = "{REMOTE}"
model_name = "Claude 3 Haiku"
provider_name = "Anthropic"
body_format = "anthropic-messages"
serve_with = "llama"
inference_profiles = ["us"]

[[foundation_models]]
model_id = "{FALLS_BACK}"
model_name = "Claude 3.5 Haiku"
provider_name = "Anthropic"
body_format = "anthropic-messages"
serve_with = "dead-with-fallback"

[[foundation_models]]
model_id = "{DEAD}"
model_name = "Llama 3.1 8B Instruct"
provider_name = "Meta"
body_format = "meta-llama"
serve_with = "dead"

[[foundation_models]]
model_id = "{EMBED}"
model_name = "Titan Text Embeddings V2"
provider_name = "Amazon"
body_format = "titan-embed-v2"
serve_with = "embed"
dimensions = 1024
output_modalities = ["EMBEDDING"]
streaming = false
"""
    for model_id, (behaviour, extra) in FAULTS.items():
        served = model_id.replace(".", "-")
        text += f"""
[served.{served}]
provider = "openai"
base_url = "{fake_base}"
model = "{behaviour}"
api_key_env = "FAKE_UPSTREAM_KEY"
{extra}
[[foundation_models]]
model_id = "{model_id}"
model_name = "{behaviour}"
provider_name = "Test"
body_format = "anthropic-messages"
serve_with = "{served}"
"""
    return text


@pytest.fixture(scope="module")
def gateway(recorder, fake, start_basalt, tmp_path_factory):
    os.environ["FAKE_UPSTREAM_KEY"] = FAKE_KEY
    catalog_path = tmp_path_factory.mktemp("remote-catalog") / "catalog.toml"
    catalog_path.write_text(catalog(recorder.base_url, fake.base_url))
    return start_basalt(f'catalog = "{catalog_path}"\n')


@pytest.fixture(scope="module")
def runtime(gateway):
    return make_client("bedrock-runtime", gateway.endpoint)


# The chat completion a client would send for ask(): what basalt must forward for it.
DIRECT_BODY = {"model": "smollm2", "temperature": 0, "max_tokens": 40,
               "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]}


def post_completion(llama_base, body):
    request = urllib.request.Request(llama_base + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def settle(llama_base):
    """Puts the upstream in the same cache state before each compared call. llama-cpp-python
    keeps the previous prompt's KV cache and evaluates only what follows the longest common
    prefix, and a prompt decoded partly from cache may not give the same greedy text as one
    evaluated whole (the batch shapes differ, so the float rounding does; on some CPUs the first
    token flips). A different prompt first leaves only the chat template's opening tokens shared."""
    post_completion(llama_base, {"model": "smollm2", "temperature": 0, "max_tokens": 1,
                                 "messages": [{"role": "system", "content": "Reset."},
                                              {"role": "user", "content": "Hello"}]})


def direct_completion(llama_base):
    settle(llama_base)
    return post_completion(llama_base, DIRECT_BODY)


def ask(client, model_id=REMOTE, **extra):
    return client.converse(modelId=model_id, system=[{"text": SYSTEM}],
                           messages=[{"role": "user", "content": [{"text": QUESTION}]}],
                           inferenceConfig={"temperature": 0, "maxTokens": 40}, **extra)


def test_converse_forwards_the_request_a_client_would_send(runtime, recorder):
    ask(runtime)
    assert recorder.last_body() == DIRECT_BODY


def test_converse_returns_the_upstream_servers_answer(runtime, llama_server, recorder):
    direct = direct_completion(llama_server)
    settle(llama_server)
    response = ask(runtime)
    # Same request, same cache state: so the same answer, on any CPU.
    assert recorder.last_body() == DIRECT_BODY
    assert response["output"]["message"]["content"][0]["text"] == direct["choices"][0]["message"]["content"]
    assert response["usage"]["inputTokens"] == direct["usage"]["prompt_tokens"]
    assert response["usage"]["outputTokens"] == direct["usage"]["completion_tokens"]
    assert response["stopReason"] == {"stop": "end_turn", "length": "max_tokens"}[direct["choices"][0]["finish_reason"]]


def test_converse_stream_through_the_upstream(runtime, llama_server, recorder):
    settle(llama_server)
    whole = ask(runtime)["output"]["message"]["content"][0]["text"]
    settle(llama_server)
    response = runtime.converse_stream(
        modelId=f"us.{REMOTE}", system=[{"text": SYSTEM}],
        messages=[{"role": "user", "content": [{"text": QUESTION}]}],
        inferenceConfig={"temperature": 0, "maxTokens": 40})
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == whole
    assert sum(1 for k in kinds if k == "contentBlockDelta") > 1, "streamed in pieces"
    assert recorder.last_body() == {**DIRECT_BODY, "stream": True, "stream_options": {"include_usage": True}}
    # llama-cpp-python ignores stream_options.include_usage, so its streams carry no usage and
    # basalt reports none rather than guessing (vLLM, llama.cpp's server and OpenAI send it).
    assert set(events[-1]["metadata"]["usage"]) >= {"inputTokens", "outputTokens", "totalTokens"}


def test_invoke_model_anthropic_body_through_the_upstream(runtime, llama_server):
    direct = direct_completion(llama_server)
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 40, "temperature": 0, "system": SYSTEM,
            "messages": [{"role": "user", "content": QUESTION}]}
    settle(llama_server)
    answer = json.loads(runtime.invoke_model(modelId=REMOTE, body=json.dumps(body))["body"].read())
    assert answer["content"][0]["text"] == direct["choices"][0]["message"]["content"]
    assert answer["usage"]["input_tokens"] == direct["usage"]["prompt_tokens"]

    settle(llama_server)
    stream = runtime.invoke_model_with_response_stream(modelId=REMOTE, body=json.dumps(body))["body"]
    chunks = [json.loads(event["chunk"]["bytes"]) for event in stream]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text == answer["content"][0]["text"]
    assert chunks[-1]["type"] == "message_stop"


def test_fallback_answers_when_the_primary_is_down(runtime, llama_server):
    direct = direct_completion(llama_server)
    settle(llama_server)
    response = ask(runtime, FALLS_BACK)
    assert response["output"]["message"]["content"][0]["text"] == direct["choices"][0]["message"]["content"]


def error_of(call):
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_an_unreachable_upstream_is_service_unavailable(runtime):
    started = time.monotonic()
    body = {"prompt": "Hi", "max_gen_len": 10}
    code, message = error_of(lambda: runtime.invoke_model(modelId=DEAD, body=json.dumps(body)))
    assert code == "ServiceUnavailableException"
    assert "cannot be reached" in message
    assert time.monotonic() - started < 10


def test_a_429_is_retried_after_retry_after(runtime, fake):
    response = ask(runtime, "fault.throttle-once")
    assert response["output"]["message"]["content"][0]["text"] == "fine"
    assert fake.calls["throttle-once"] == 2
    assert fake.headers_seen[-1]["authorization"] == f"Bearer {FAKE_KEY}"


def test_upstream_failures_become_bedrock_errors(runtime, fake):
    cases = {
        "fault.throttle": "ThrottlingException",
        "fault.loading": "ModelNotReadyException",
        "fault.unauthorized": "InternalServerException",
        "fault.rejects": "ValidationException",
        "fault.slow": "ModelTimeoutException",
        "fault.malformed": "ModelErrorException",
    }
    for model_id, expected in cases.items():
        started = time.monotonic()
        code, message = error_of(lambda: ask(runtime, model_id))
        assert code == expected, (model_id, message)
        assert FAKE_KEY not in message
        if model_id == "fault.slow":
            assert time.monotonic() - started < 2.9, "the timeout, not the slow answer, ended the call"
        if model_id == "fault.rejects":
            assert "too long for this model" in message
    assert fake.calls["throttle"] == 2, "one retry, as configured"


def test_a_cut_stream_ends_with_a_stream_error(runtime):
    response = runtime.converse_stream(modelId="fault.cut", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    with pytest.raises(EventStreamError) as info:
        for _ in response["stream"]:
            pass
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"


def test_tool_calls_from_an_upstream(runtime):
    tool = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
        "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}}}}
    response = runtime.converse(modelId="fault.tool", messages=[{"role": "user", "content": [{"text": "Weather?"}]}],
                                toolConfig={"tools": [tool]})
    assert response["stopReason"] == "tool_use"
    call = response["output"]["message"]["content"][0]["toolUse"]
    assert call == {"toolUseId": "call_fake1", "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}

    stream = runtime.converse_stream(modelId="fault.tool", messages=[{"role": "user", "content": [{"text": "Weather?"}]}],
                                     toolConfig={"tools": [tool]})["stream"]
    events = list(stream)
    start = next(e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e)
    assert start == {"toolUseId": "call_fake1", "name": "get_weather"}
    pieces = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    jsonschema.validate(json.loads(pieces), tool["toolSpec"]["inputSchema"]["json"])
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


def test_embeddings_from_an_upstream(runtime):
    answer = json.loads(runtime.invoke_model(
        modelId=EMBED, body=json.dumps({"inputText": "hello", "dimensions": 256, "normalize": True}))["body"].read())
    vector = answer["embedding"]
    assert len(vector) == 256
    assert vector[:4] == pytest.approx([0.6, 0.8, 0.0, 0.0])
    assert all(x == 0 for x in vector[4:])
    assert answer["inputTextTokenCount"] == 4


def test_count_tokens_on_a_remote_model_says_why_not(runtime):
    code, message = error_of(lambda: runtime.count_tokens(
        modelId=REMOTE, input={"converse": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}))
    assert code == "ValidationException" and "remote" in message


def test_the_api_key_never_reaches_the_log(gateway, runtime):
    error_of(lambda: ask(runtime, "fault.unauthorized"))
    assert FAKE_KEY not in gateway.log_path.read_text(errors="replace")


def scrape(endpoint):
    """`GET /metrics`: (content type, text, {sample with its labels: value})."""
    with urllib.request.urlopen(endpoint + "/metrics", timeout=10) as response:
        content_type, text = response.headers["content-type"], response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return content_type, text, samples


def test_metrics_count_requests_tokens_and_upstream_errors(gateway, runtime):
    ask(runtime)
    content_type, text, samples = scrape(gateway.endpoint)
    assert content_type.startswith("text/plain")

    def value(prefix, *labels):
        found = [v for k, v in samples.items() if k.startswith(prefix + "{") and all(l in k for l in labels)]
        assert found, f"no {prefix} with {labels} in\n{text}"
        return sum(found)

    assert value("basalt_requests_total", 'operation="Converse"', 'status="200"') >= 1
    assert value("basalt_requests_total", 'status="429"') >= 1
    assert value("basalt_request_duration_seconds_bucket", 'operation="Converse"', 'le="+Inf"') >= 1
    assert value("basalt_model_tokens_total", f'model="{REMOTE}"', 'direction="output"') > 0
    assert value("basalt_model_invocations_total", 'model="fault.throttle"', 'outcome="error"') >= 1
    assert value("basalt_upstream_errors_total", 'served="fault-throttle"', 'failure="throttled"') >= 1
    assert value("basalt_upstream_errors_total", 'served="fault-slow"', 'failure="timeout"') >= 1
    assert value("basalt_upstream_retries_total", 'served="fault-throttle-once"') >= 1
    assert FAKE_KEY not in text


def converse_counts(samples):
    """(requests counted, requests timed) for Converse: the counter and the histogram's _count."""
    counted = sum(v for k, v in samples.items()
                  if k.startswith("basalt_requests_total{") and 'operation="Converse"' in k)
    timed = sum(v for k, v in samples.items()
                if k.startswith("basalt_request_duration_seconds_count{") and 'operation="Converse"' in k)
    return counted, timed


def test_latency_histogram_keeps_every_request_across_upkeep(gateway, runtime):
    # The recorder folds histogram samples into buckets every 5 s (so an unscraped server does
    # not grow); a fold must neither drop nor double a sample.
    before = converse_counts(scrape(gateway.endpoint)[2])
    for _ in range(3):
        ask(runtime)
    time.sleep(6)
    ask(runtime)
    after = converse_counts(scrape(gateway.endpoint)[2])
    assert after[0] - before[0] == 4
    assert after[1] - before[1] == 4
    assert after[0] == after[1]
