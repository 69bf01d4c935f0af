"""bedrock-agent-runtime over a real knowledge base: the 15-document corpus of basalt-kb's tests
(with .metadata.json sidecars) uploaded through the S3 API, synced by an ingestion job, then
Retrieve (SEMANTIC, HYBRID, filters, errors), RetrieveAndGenerate and its stream (citations,
sessions, external sources), and Retrieve again after a restart on the same data dir.

The chat model is a 135M model: answers are checked for structure and citations, not wording."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, BasaltServer, make_client

pytestmark = pytest.mark.models

CORPUS = Path(__file__).resolve().parents[2] / "crates/basalt-kb/tests/data/corpus"
BUCKET = "kb-retrieval-corpus"
TITAN_V2 = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
SONNET_ARN = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0"


def s3_client(endpoint: str):
    base = make_client("s3", endpoint)
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test",
        aws_secret_access_key="test",
        config=base.meta.config.merge(Config(s3={"addressing_style": "path"}, signature_version="s3v4")),
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kb-retrieval")


@pytest.fixture(scope="module")
def server(workdir):
    server = BasaltServer(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def runtime(server):
    return make_client("bedrock-agent-runtime", server.endpoint)


@pytest.fixture(scope="module")
def runtime_unvalidated(server):
    """Sends what boto3's own checks refuse (numberOfResults 0, two filter operators at once)."""
    return make_client("bedrock-agent-runtime", server.endpoint, validate=False)


def wait_for_job(agent, kb_id, ds_id, job_id, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)["ingestionJob"]
        if job["status"] in ("COMPLETE", "FAILED", "STOPPED"):
            return job
        time.sleep(0.5)
    pytest.fail(f"ingestion job {job_id} did not finish in {timeout}s")


@pytest.fixture(scope="module")
def kb_id(server):
    s3 = s3_client(server.endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for path in sorted(CORPUS.iterdir()):
        s3.put_object(Bucket=BUCKET, Key=f"docs/{path.name}", Body=path.read_bytes())
    agent = make_client("bedrock-agent", server.endpoint)
    # The seeds' shapes: an OpenSearch Serverless VECTOR knowledge base on Titan v2, an S3 data
    # source with FIXED_SIZE chunking.
    kb = agent.create_knowledge_base(
        name="retrieval-kb",
        description="Knowledge base for retrieval tests",
        roleArn="arn:aws:iam::123456789012:role/AmazonBedrockExecutionRoleForKnowledgeBase",
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": TITAN_V2}},
        storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
            "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/kbcollection0001",
            "vectorIndexName": "bedrock-knowledge-base-default-index",
            "fieldMapping": {"vectorField": "bedrock-knowledge-base-default-vector",
                             "textField": "AMAZON_BEDROCK_TEXT_CHUNK", "metadataField": "AMAZON_BEDROCK_METADATA"}}},
    )["knowledgeBase"]
    ds = agent.create_data_source(
        knowledgeBaseId=kb["knowledgeBaseId"], name="retrieval-docs",
        dataSourceConfiguration={"type": "S3", "s3Configuration": {
            "bucketArn": f"arn:aws:s3:::{BUCKET}", "inclusionPrefixes": ["docs/"]}},
        vectorIngestionConfiguration={"chunkingConfiguration": {
            "chunkingStrategy": "FIXED_SIZE",
            "fixedSizeChunkingConfiguration": {"maxTokens": 512, "overlapPercentage": 20}}},
    )["dataSource"]
    job = agent.start_ingestion_job(knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=ds["dataSourceId"])
    done = wait_for_job(agent, kb["knowledgeBaseId"], ds["dataSourceId"], job["ingestionJob"]["ingestionJobId"])
    assert done["status"] == "COMPLETE", done
    assert done["statistics"]["numberOfNewDocumentsIndexed"] == 15, done["statistics"]
    return kb["knowledgeBaseId"]


def uri(name: str) -> str:
    return f"s3://{BUCKET}/docs/{name}"


def retrieve(runtime, kb_id, text, **vector):
    config = {"vectorSearchConfiguration": vector} if vector else None
    kwargs = {"knowledgeBaseId": kb_id, "retrievalQuery": {"text": text}}
    if config:
        kwargs["retrievalConfiguration"] = config
    return runtime.retrieve(**kwargs)["retrievalResults"]


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


# --- Retrieve ------------------------------------------------------------------------------------

@pytest.mark.parametrize("search_type", ["SEMANTIC", "HYBRID"])
def test_the_document_holding_the_answer_comes_first(runtime, kb_id, search_type):
    for question, name in [
        ("How do honeybees tell other workers where the flowers are?", "honeybees.txt"),
        ("Who reached North America around the year 1000?", "vikings.txt"),
        ("What causes spring tides?", "tides.txt"),
    ]:
        results = retrieve(runtime, kb_id, question, numberOfResults=3, overrideSearchType=search_type)
        assert len(results) == 3
        first = results[0]
        assert first["location"] == {"type": "S3", "s3Location": {"uri": uri(name)}}, (question, results)
        assert first["content"]["type"] == "TEXT" and first["content"]["text"]
        assert first["metadata"]["x-amz-bedrock-kb-source-uri"] == uri(name)
        assert first["metadata"]["x-amz-bedrock-kb-chunk-id"]
        assert first["metadata"]["x-amz-bedrock-kb-data-source-id"]
        scores = [r["score"] for r in results]
        assert scores == sorted(scores, reverse=True)


def test_metadata_comes_back_as_plain_json(runtime, kb_id):
    results = retrieve(runtime, kb_id, "waggle dance of honeybees", numberOfResults=1)
    metadata = results[0]["metadata"]
    assert metadata["category"] == "biology"
    assert metadata["year"] == 2021
    assert metadata["tags"] == ["insects", "behaviour"]


def test_default_number_of_results_is_five(runtime, kb_id):
    assert len(retrieve(runtime, kb_id, "history")) == 5


def test_the_seeds_retrieve_call(runtime, kb_id):
    # The seed's call as written (its knowledge base id swapped for ours): nothing has
    # documentType "policy", so the filter admits nothing.
    retrieve_response = runtime.retrieve(
        knowledgeBaseId=kb_id,
        retrievalQuery={"text": "refund policy SaaS"},
        retrievalConfiguration={
            "vectorSearchConfiguration": {
                "numberOfResults": 10,
                "filter": {"equals": {"key": "documentType", "value": "policy"}}
            }
        }
    )
    assert retrieve_response["retrievalResults"] == []


@pytest.mark.parametrize("search_type", ["SEMANTIC", "HYBRID"])
def test_filters_narrow_the_results(runtime, kb_id, search_type):
    def sources(filter_, n=15):
        results = retrieve(runtime, kb_id, "what happened and why", numberOfResults=n,
                           overrideSearchType=search_type, filter=filter_)
        return {r["location"]["s3Location"]["uri"].rsplit("/", 1)[1] for r in results}

    assert sources({"equals": {"key": "category", "value": "cooking"}}) == {"coffee.txt", "sourdough.txt"}
    assert sources({"andAll": [
        {"equals": {"key": "category", "value": "biology"}},
        {"greaterThan": {"key": "year", "value": 2021}},
    ]}) == {"photosynthesis.txt"}
    assert sources({"in": {"key": "category", "value": ["music", "games"]}}) == {"jazz.txt", "chess.txt"}
    assert sources({"startsWith": {"key": "category", "value": "geo"}}) == {"volcanoes.txt"}
    assert sources({"listContains": {"key": "tags", "value": "earth"}}) == {"tides.txt", "volcanoes.txt"}
    assert sources({"orAll": [
        {"lessThan": {"key": "year", "value": 2016}},
        {"stringContains": {"key": "x-amz-bedrock-kb-source-uri", "value": "marathon"}},
    ]}) == {"vikings.txt", "marathon.txt"}
    assert sources({"notEquals": {"key": "category", "value": "biology"}}).isdisjoint(
        {"honeybees.txt", "photosynthesis.txt"})


def test_bad_requests_get_validation_errors_naming_the_field(runtime, runtime_unvalidated, kb_id):
    for n in (0, 101):
        code, message, status = error_of(
            runtime_unvalidated.retrieve, knowledgeBaseId=kb_id, retrievalQuery={"text": "bees"},
            retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": n}})
        assert (code, status) == ("ValidationException", 400)
        assert "numberOfResults" in message, message
    # A number operator with a string value: well-formed for the service model, wrong for Bedrock.
    code, message, _ = error_of(
        runtime.retrieve, knowledgeBaseId=kb_id, retrievalQuery={"text": "bees"},
        retrievalConfiguration={"vectorSearchConfiguration": {
            "filter": {"greaterThan": {"key": "year", "value": "2020"}}}})
    assert code == "ValidationException" and "filter.greaterThan.value" in message, message
    code, message, _ = error_of(
        runtime.retrieve, knowledgeBaseId=kb_id, retrievalQuery={"text": "bees"},
        retrievalConfiguration={"vectorSearchConfiguration": {
            "filter": {"andAll": [{"equals": {"key": "a", "value": 1}}, {"in": {"key": "b", "value": "x"}}]}}})
    assert code == "ValidationException" and "andAll[1].in" in message, message
    code, message, _ = error_of(
        runtime_unvalidated.retrieve, knowledgeBaseId=kb_id, retrievalQuery={"text": "bees"},
        retrievalConfiguration={"vectorSearchConfiguration": {
            "filter": {"equals": {"key": "a", "value": 1}, "notEquals": {"key": "a", "value": 2}}}})
    assert code == "ValidationException" and "filter" in message, message
    code, message, status = error_of(runtime.retrieve, knowledgeBaseId="NOSUCHKB00", retrievalQuery={"text": "bees"})
    assert (code, status) == ("ResourceNotFoundException", 404) and "NOSUCHKB00" in message
    code, message, _ = error_of(
        runtime.retrieve, knowledgeBaseId=kb_id, retrievalQuery={"text": "bees"},
        guardrailConfiguration={"guardrailId": "abc123", "guardrailVersion": "1"})
    assert code == "ValidationException" and "guardrails are not supported" in message, message
    code, message, _ = error_of(
        runtime.retrieve, knowledgeBaseId=kb_id, retrievalQuery={"text": "bees"},
        retrievalConfiguration={"vectorSearchConfiguration": {"rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {"modelConfiguration": {
                "modelArn": "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"}}}}})
    assert code == "ValidationException" and "reranking" in message, message


def test_a_knowledge_base_never_ingested_has_no_results(server, runtime):
    agent = make_client("bedrock-agent", server.endpoint)
    empty = agent.create_knowledge_base(
        name="never-ingested", roleArn="arn:aws:iam::123456789012:role/r",
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": TITAN_V2}},
        storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
            "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/c", "vectorIndexName": "i",
            "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}},
    )["knowledgeBase"]["knowledgeBaseId"]
    assert retrieve(runtime, empty, "anything at all") == []


def test_rerank_says_no_reranker_is_served(runtime):
    code, message, status = error_of(
        runtime.rerank,
        queries=[{"type": "TEXT", "textQuery": {"text": "bees"}}],
        sources=[{"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "Bees dance."}}}],
        rerankingConfiguration={"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {
            "modelConfiguration": {"modelArn": "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"}}})
    assert (code, status) == ("ValidationException", 400)
    assert "reranking model" in message and "amazon.rerank-v1:0" in message, message


# --- After a restart -----------------------------------------------------------------------------

def test_retrieve_survives_a_restart(server, workdir, kb_id):
    server.stop()
    again = BasaltServer(workdir)
    try:
        results = retrieve(make_client("bedrock-agent-runtime", again.endpoint), kb_id,
                           "What causes spring tides?", numberOfResults=1)
        assert results[0]["location"]["s3Location"]["uri"] == uri("tides.txt")
    finally:
        again.stop()
