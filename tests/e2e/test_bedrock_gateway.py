"""basalt as a gateway in front of Bedrock: a served model with `provider = "bedrock"` re-signs
requests with SigV4. The "Bedrock" here is a second basalt in `verify` auth mode, so every
forwarded request must carry a valid signature for the configured keys (a wrong one is refused
there), and the answers come from its real local model."""

from __future__ import annotations

import json
import os

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

pytestmark = pytest.mark.models

KEY = "AKIDBASALTGATEWAY001"
SECRET = "gateway/secret+0123456789abcdefghijklmnop"
MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"  # what the "Bedrock" side serves
QUESTION = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
GREEDY = {"temperature": 0, "maxTokens": 30}

UPSTREAM_CONFIG = f"""
[auth]
mode = "verify"

[[auth.credentials]]
access_key_id = "{KEY}"
secret_access_key = "{SECRET}"
"""


def gateway_catalog(upstream: str) -> str:
    served = """
[served.{name}]
provider = "bedrock"
base_url = "{upstream}"
region = "us-east-1"
model = "{model}"
retries = 0
"""
    model = """
[[foundation_models]]
model_id = "{model_id}"
model_name = "{model_id}"
provider_name = "Anthropic"
body_format = "anthropic-messages"
serve_with = "{name}"
"""
    return (
        'region = "us-east-1"\naccount_id = "000000000000"\n'
        + served.format(name="aws", upstream=upstream, model=MODEL)
        + served.format(name="aws-wrong-model", upstream=upstream, model="no.such-model-v1:0")
        + model.format(model_id="gateway.claude", name="aws")
        + model.format(model_id="gateway.missing", name="aws-wrong-model")
    )


@pytest.fixture(scope="module")
def upstream(start_basalt):
    return start_basalt(UPSTREAM_CONFIG)


def start_gateway(start_basalt, tmp_path_factory, upstream, key, secret):
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key, secret
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        path = tmp_path_factory.mktemp("gateway") / "catalog.toml"
        path.write_text(gateway_catalog(upstream.endpoint))
        return start_basalt(f'catalog = "{path}"\n')
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def gateway(start_basalt, tmp_path_factory, upstream):
    return start_gateway(start_basalt, tmp_path_factory, upstream, KEY, SECRET)


def test_converse_through_the_gateway_matches_bedrock(gateway, upstream):
    direct = make_client("bedrock-runtime", upstream.endpoint, key=KEY, secret=SECRET)
    through = make_client("bedrock-runtime", gateway.endpoint)
    expected = direct.converse(modelId=MODEL, messages=QUESTION, inferenceConfig=GREEDY)
    answer = through.converse(modelId="gateway.claude", messages=QUESTION, inferenceConfig=GREEDY)
    assert answer["output"] == expected["output"]
    assert answer["usage"] == expected["usage"]
    assert answer["stopReason"] == expected["stopReason"]


def test_converse_stream_through_the_gateway(gateway, upstream):
    through = make_client("bedrock-runtime", gateway.endpoint)
    whole = through.converse(modelId="gateway.claude", messages=QUESTION, inferenceConfig=GREEDY)
    events = list(through.converse_stream(modelId="gateway.claude", messages=QUESTION,
                                          inferenceConfig=GREEDY)["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == whole["output"]["message"]["content"][0]["text"]
    assert events[-1]["metadata"]["usage"] == whole["usage"]


def test_invoke_model_anthropic_body_through_the_gateway(gateway):
    through = make_client("bedrock-runtime", gateway.endpoint)
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 30, "temperature": 0,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]}
    answer = json.loads(through.invoke_model(modelId="gateway.claude", body=json.dumps(body))["body"].read())
    converse = through.converse(modelId="gateway.claude", messages=QUESTION, inferenceConfig=GREEDY)
    assert answer["content"][0]["text"] == converse["output"]["message"]["content"][0]["text"]


def test_invoke_model_bodies_pass_through_unchanged(gateway, upstream):
    direct = make_client("bedrock-runtime", upstream.endpoint, key=KEY, secret=SECRET)
    through = make_client("bedrock-runtime", gateway.endpoint)
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 30, "temperature": 0,
                       "messages": [{"role": "user", "content": "Name a colour."}]})
    expected = direct.invoke_model(modelId=MODEL, body=body)
    answer = through.invoke_model(modelId="gateway.claude", body=body)
    expected_body, answer_body = json.loads(expected["body"].read()), json.loads(answer["body"].read())
    expected_body.pop("id"), answer_body.pop("id")
    assert answer_body == expected_body
    headers = answer["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == str(expected_body["usage"]["input_tokens"])

    expected_chunks = [json.loads(e["chunk"]["bytes"]) for e in
                       direct.invoke_model_with_response_stream(modelId=MODEL, body=body)["body"]]
    chunks = [json.loads(e["chunk"]["bytes"]) for e in
              through.invoke_model_with_response_stream(modelId="gateway.claude", body=body)["body"]]
    assert [c["type"] for c in chunks] == [c["type"] for c in expected_chunks]
    text = lambda cs: "".join(c["delta"].get("text", "") for c in cs if c["type"] == "content_block_delta")
    assert text(chunks) == text(expected_chunks)
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == expected_chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"]


def test_bedrock_errors_pass_through(gateway):
    through = make_client("bedrock-runtime", gateway.endpoint)
    with pytest.raises(ClientError) as info:
        through.converse(modelId="gateway.missing", messages=QUESTION)
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_wrong_credentials_are_refused_by_bedrock(start_basalt, tmp_path_factory, upstream):
    wrong = start_gateway(start_basalt, tmp_path_factory, upstream, KEY, SECRET + "x")
    through = make_client("bedrock-runtime", wrong.endpoint)
    with pytest.raises(ClientError) as info:
        through.converse(modelId="gateway.claude", messages=QUESTION)
    error = info.value.response["Error"]
    assert error["Code"] == "InternalServerException"
    assert "credentials" in error["Message"]
    assert SECRET not in wrong.log_tail(400)
