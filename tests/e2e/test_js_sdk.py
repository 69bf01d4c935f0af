"""The AWS SDK for JavaScript v3 (npm, tests/js) against a real `basalt serve`, over HTTP/2 and
HTTP/1.1, in both auth modes.

bedrock-runtime's JS client speaks cleartext HTTP/2 with prior knowledge and signs the
`:authority` pseudo-header instead of `host`; real Bedrock accepts that, so basalt must too. Each
answer is compared with boto3's answer to the same request on the same server, so nothing here
depends on one CPU's greedy wording."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import REGION, make_client, wait_for_job

pytestmark = pytest.mark.models

JS_DIR = Path(__file__).resolve().parents[1] / "js"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
KEY = "AKIDBASALTJSSDKTEST1"
SECRET = "basalt/js+secret/0123456789abcdefghijklmn"
VERIFY = f"""
[auth]
mode = "verify"

[[auth.credentials]]
access_key_id = "{KEY}"
secret_access_key = "{SECRET}"
"""
SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France?"
DOCUMENTS = {
    "paris.txt": "Paris is the capital of France. The river Seine flows through Paris, past the Louvre and Notre-Dame.",
    "tokyo.txt": "Tokyo is the capital of Japan. Its busiest station is Shinjuku, used by millions every day.",
    "cairo.txt": "Cairo is the capital of Egypt. The Nile runs through the city on its way to the Mediterranean.",
}


def run_js(endpoint: str, http_version: str, key: str = KEY, secret: str = SECRET, kb_id: str = "",
           calls: str | None = None) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the JS SDK tests need Node.js 20+ (make venv says how)")
    if not (JS_DIR / "node_modules/@aws-sdk/client-bedrock-runtime").is_dir():
        pytest.fail(f"the JS SDK is not installed in {JS_DIR}: run `make venv` (npm ci)")
    env = {**os.environ, "BASALT_ENDPOINT": endpoint, "HTTP_VERSION": http_version,
           "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "MODEL_ID": MODEL,
           "KNOWLEDGE_BASE_ID": kb_id}
    if calls is not None:
        env["CALLS"] = calls
    done = subprocess.run([node, "bedrock_sdk.mjs"], cwd=JS_DIR, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def verifying(start_basalt):
    return start_basalt(VERIFY)


@pytest.fixture(scope="module")
def knowledge_base(verifying):
    """Three one-paragraph documents uploaded through basalt's S3 API and ingested."""
    s3 = boto3.client("s3", endpoint_url=verifying.endpoint, region_name=REGION, aws_access_key_id=KEY,
                      aws_secret_access_key=SECRET,
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    s3.create_bucket(Bucket="js-sdk-docs")
    for name, text in DOCUMENTS.items():
        s3.put_object(Bucket="js-sdk-docs", Key=f"docs/{name}", Body=text.encode())
    agent = make_client("bedrock-agent", verifying.endpoint, key=KEY, secret=SECRET)
    kb = agent.create_knowledge_base(
        name="js-sdk-kb",
        roleArn="arn:aws:iam::123456789012:role/AmazonBedrockExecutionRoleForKnowledgeBase",
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
            "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"}},
        storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
            "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/jssdk",
            "vectorIndexName": "index",
            "fieldMapping": {"vectorField": "vector", "textField": "text", "metadataField": "metadata"}}},
    )["knowledgeBase"]["knowledgeBaseId"]
    ds = agent.create_data_source(
        knowledgeBaseId=kb, name="docs",
        dataSourceConfiguration={"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::js-sdk-docs"}},
    )["dataSource"]["dataSourceId"]
    job = agent.start_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds)["ingestionJob"]["ingestionJobId"]
    status = wait_for_job(agent, kb, ds, job)
    assert status["status"] == "COMPLETE", status
    return kb


def boto3_answers(endpoint: str, key: str, secret: str, kb_id: str = "") -> dict:
    """What boto3 gets for the same requests the JS script sends."""
    runtime = make_client("bedrock-runtime", endpoint, key=key, secret=secret)
    converse = runtime.converse(
        modelId=MODEL, system=[{"text": SYSTEM}],
        messages=[{"role": "user", "content": [{"text": QUESTION}]}],
        inferenceConfig={"maxTokens": 24, "temperature": 0})
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 24, "temperature": 0,
                       "system": SYSTEM, "messages": [{"role": "user", "content": QUESTION}]})
    invoke = json.loads(runtime.invoke_model(modelId=MODEL, body=body)["body"].read())
    models = make_client("bedrock", endpoint, key=key, secret=secret).list_foundation_models()["modelSummaries"]
    answers = {"converse": converse, "invoke": invoke, "model_ids": [m["modelId"] for m in models]}
    if kb_id:
        answers["retrieve"] = make_client("bedrock-agent-runtime", endpoint, key=key, secret=secret).retrieve(
            knowledgeBaseId=kb_id, retrievalQuery={"text": "Which river flows through Paris?"},
            retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 2}})["retrievalResults"]
    return answers


def check_same_answers(report: dict, expected: dict):
    for name, result in report.items():
        assert result["ok"], (name, result)
    converse = expected["converse"]
    text = converse["output"]["message"]["content"][0]["text"]
    assert text
    assert report["converse"]["text"] == text
    assert report["converse"]["stopReason"] == converse["stopReason"]
    assert report["converse"]["usage"]["inputTokens"] == converse["usage"]["inputTokens"]
    assert report["converse"]["usage"]["outputTokens"] == converse["usage"]["outputTokens"]

    stream = report["converseStream"]
    assert stream["kinds"][0] == "messageStart" and stream["kinds"][-2:] == ["messageStop", "metadata"]
    assert "contentBlockDelta" in stream["kinds"]
    assert stream["text"] == text
    assert stream["stopReason"] == converse["stopReason"]
    assert stream["usage"]["outputTokens"] == converse["usage"]["outputTokens"]

    invoke_text = "".join(block.get("text", "") for block in expected["invoke"]["content"])
    assert invoke_text
    assert report["invokeModel"]["text"] == invoke_text
    assert report["invokeModel"]["usage"]["input_tokens"] == expected["invoke"]["usage"]["input_tokens"]
    chunks = report["invokeModelWithResponseStream"]
    assert chunks["types"][0] == "message_start" and chunks["types"][-1] == "message_stop"
    assert chunks["text"] == invoke_text

    assert report["listFoundationModels"]["modelIds"] == expected["model_ids"]
    assert MODEL in report["listFoundationModels"]["modelIds"]

    if "retrieve" in expected:
        got = report["retrieve"]["results"]
        assert [r["uri"] for r in got] == [r["location"]["s3Location"]["uri"] for r in expected["retrieve"]]
        assert got[0]["uri"].endswith("/paris.txt")
        assert "Seine" in got[0]["text"]
        assert [r["score"] for r in got] == pytest.approx([r["score"] for r in expected["retrieve"]])


@pytest.mark.parametrize("http_version", ["default", "2", "1.1"])
def test_every_call_in_verify_mode(verifying, knowledge_base, http_version):
    report = run_js(verifying.endpoint, http_version, kb_id=knowledge_base)
    check_same_answers(report, boto3_answers(verifying.endpoint, KEY, SECRET, knowledge_base))


@pytest.mark.parametrize("http_version", ["default", "2", "1.1"])
def test_every_runtime_call_in_the_default_auth_mode(endpoint, http_version):
    # The default `any` mode: any well-formed signature with any key is accepted. "default" is
    # what a user who only sets `endpoint` gets (bedrock-runtime's client on HTTP/2).
    report = run_js(endpoint, http_version, key="test", secret="test")
    assert report["retrieve"] == {"ok": True, "skipped": True}
    del report["retrieve"]
    check_same_answers(report, boto3_answers(endpoint, "test", "test"))


@pytest.mark.parametrize("http_version", ["2", "1.1"])
def test_a_wrong_secret_is_refused_over_both_protocols(verifying, http_version):
    report = run_js(verifying.endpoint, http_version, secret=SECRET + "x", calls="converse,listFoundationModels")
    for name in ("converse", "listFoundationModels"):
        assert report[name]["ok"] is False
        assert report[name]["error"] == "InvalidSignatureException", report[name]
        assert report[name]["status"] == 403
