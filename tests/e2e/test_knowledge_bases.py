"""bedrock-agent knowledge bases and data sources: the seed's create calls as written, then every
read, update, list and delete, and the errors Bedrock gives for bad input. State lives in the
metadata store (SQLite under the data dir) and survives a restart."""

from __future__ import annotations

import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import BASALT_BIN, BasaltServer, make_client

ROLE = "arn:aws:iam::123456789012:role/AmazonBedrockExecutionRoleForKnowledgeBase"
TITAN_V2 = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
collection_id = "kbcollection0001"


def seed_knowledge_base(bedrock_agent, name="product-documentation-kb"):
    # The seed's call, as written.
    return bedrock_agent.create_knowledge_base(
        name=name,
        description="Knowledge base for product documentation and FAQs",
        roleArn="arn:aws:iam::123456789012:role/AmazonBedrockExecutionRoleForKnowledgeBase",
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
            },
        },
        storageConfiguration={
            "type": "OPENSEARCH_SERVERLESS",
            "opensearchServerlessConfiguration": {
                "collectionArn": f"arn:aws:aoss:us-east-1:123456789012:collection/{collection_id}",
                "vectorIndexName": "bedrock-knowledge-base-default-index",
                "fieldMapping": {
                    "vectorField": "bedrock-knowledge-base-default-vector",
                    "textField": "AMAZON_BEDROCK_TEXT_CHUNK",
                    "metadataField": "AMAZON_BEDROCK_METADATA",
                },
            },
        },
    )


def seed_data_source(bedrock_agent, kb_id, name="product-docs-s3", prefixes=("docs/",)):
    # The seed's call, except that it lists two inclusionPrefixes: botocore's service model
    # allows one (max length 1), and Bedrock refuses more (see the test below).
    return bedrock_agent.create_data_source(
        knowledgeBaseId=kb_id,
        name=name,
        dataSourceConfiguration={
            "type": "S3",
            "s3Configuration": {
                "bucketArn": "arn:aws:s3:::my-product-documentation",
                "inclusionPrefixes": list(prefixes),  # Only ingest these prefixes
            },
        },
        vectorIngestionConfiguration={
            "chunkingConfiguration": {
                "chunkingStrategy": "FIXED_SIZE",
                "fixedSizeChunkingConfiguration": {
                    "maxTokens": 512,  # Tokens per chunk
                    "overlapPercentage": 20,  # 20% overlap between chunks for context continuity
                },
            }
        },
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = BasaltServer(tmp_path_factory.mktemp("kb"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def agent(server):
    return make_client("bedrock-agent", server.endpoint)


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"], \
        info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_seed_creates_a_knowledge_base_and_a_data_source(agent):
    kb_response = seed_knowledge_base(agent)
    assert kb_response["ResponseMetadata"]["HTTPStatusCode"] == 202
    kb = kb_response["knowledgeBase"]
    kb_id = kb["knowledgeBaseId"]
    assert len(kb_id) == 10 and kb_id.isalnum() and kb_id.isupper()
    assert kb["knowledgeBaseArn"] == f"arn:aws:bedrock:us-east-1:000000000000:knowledge-base/{kb_id}"
    assert kb["status"] == "ACTIVE"
    assert kb["storageConfiguration"]["type"] == "OPENSEARCH_SERVERLESS"
    assert kb["createdAt"].year >= 2026  # boto3 parsed the timestamp

    ds = seed_data_source(agent, kb_id)["dataSource"]
    assert ds["status"] == "AVAILABLE" and ds["knowledgeBaseId"] == kb_id
    assert ds["dataDeletionPolicy"] == "DELETE"
    assert ds["vectorIngestionConfiguration"]["chunkingConfiguration"]["fixedSizeChunkingConfiguration"]["maxTokens"] == 512

    got = agent.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ds["dataSourceId"])["dataSource"]
    assert got["dataSourceConfiguration"]["s3Configuration"]["inclusionPrefixes"] == ["docs/"]
    summaries = agent.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"]
    assert [s["dataSourceId"] for s in summaries] == [ds["dataSourceId"]]


def test_update_list_and_delete(agent):
    kb_id = seed_knowledge_base(agent, "kb-to-update")["knowledgeBase"]["knowledgeBaseId"]
    current = agent.get_knowledge_base(knowledgeBaseId=kb_id)["knowledgeBase"]
    updated = agent.update_knowledge_base(
        knowledgeBaseId=kb_id, name="kb-renamed", description="new words", roleArn=current["roleArn"],
        knowledgeBaseConfiguration=current["knowledgeBaseConfiguration"],
        storageConfiguration=current["storageConfiguration"])["knowledgeBase"]
    assert updated["name"] == "kb-renamed" and updated["description"] == "new words"
    assert updated["createdAt"] == current["createdAt"]

    names = [s["name"] for page in agent.get_paginator("list_knowledge_bases").paginate(PaginationConfig={"PageSize": 1})
             for s in page["knowledgeBaseSummaries"]]
    assert "kb-renamed" in names and len(names) == len(set(names))

    deleted = agent.delete_knowledge_base(knowledgeBaseId=kb_id)
    assert deleted["status"] == "DELETING"
    code, _, status = error_of(agent.get_knowledge_base, knowledgeBaseId=kb_id)
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_bad_input_gets_bedrocks_errors(agent):
    kb_id = seed_knowledge_base(agent, "kb-for-errors")["knowledgeBase"]["knowledgeBaseId"]
    code, message, status = error_of(seed_knowledge_base, bedrock_agent=agent, name="kb-for-errors")
    assert (code, status) == ("ConflictException", 409)

    code, message, _ = error_of(agent.get_knowledge_base, knowledgeBaseId="NOSUCHKB00")
    assert code == "ResourceNotFoundException" and "NOSUCHKB00" in message
    code, _, _ = error_of(seed_data_source, bedrock_agent=agent, kb_id="NOSUCHKB00")
    assert code == "ResourceNotFoundException"
    # The seed's two prefixes, as written: the service model allows one.
    code, message, _ = error_of(seed_data_source, bedrock_agent=agent, kb_id=kb_id, prefixes=("docs/", "faqs/"))
    assert code == "ValidationException" and "inclusionPrefixes" in message
    code, _, _ = error_of(agent.get_data_source, knowledgeBaseId=kb_id, dataSourceId="NOSUCHDS00")
    assert code == "ResourceNotFoundException"

    code, message, _ = error_of(
        agent.create_knowledge_base, name="kb-chat-model", roleArn=ROLE,
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
            "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"}},
        storageConfiguration={"type": "RDS", "rdsConfiguration": {
            "resourceArn": "arn:aws:rds:us-east-1:123456789012:cluster:c", "credentialsSecretArn":
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:s", "databaseName": "d", "tableName": "t",
            "fieldMapping": {"primaryKeyField": "id", "vectorField": "v", "textField": "t", "metadataField": "m"}}})
    assert code == "ValidationException" and "embedding model" in message

    code, message, _ = error_of(
        agent.create_knowledge_base, name="bad name!", roleArn=ROLE,
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": TITAN_V2}},
        storageConfiguration={"type": "OPENSEARCH_SERVERLESS"})
    assert code == "ValidationException" and "name" in message

    code, message, _ = error_of(
        agent.create_data_source, knowledgeBaseId=kb_id, name="ds-bad-bucket",
        dataSourceConfiguration={"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::bucket/with/path"}})
    assert code == "ValidationException" and "bucketArn" in message

    code, message, _ = error_of(
        agent.create_data_source, knowledgeBaseId=kb_id, name="ds-bad-chunking",
        dataSourceConfiguration={"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::docs"}},
        vectorIngestionConfiguration={"chunkingConfiguration": {"chunkingStrategy": "HIERARCHICAL"}})
    assert code == "ValidationException" and "hierarchicalChunkingConfiguration" in message


def test_client_token_makes_create_idempotent(agent):
    kwargs = dict(name="kb-idempotent", roleArn=ROLE, clientToken="token-0123456789-abcdefghijklmnop",
                  knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": TITAN_V2}},
                  storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
                      "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/kbcollection", "vectorIndexName": "i",
                      "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}})
    first = agent.create_knowledge_base(**kwargs)["knowledgeBase"]["knowledgeBaseId"]
    again = agent.create_knowledge_base(**kwargs)["knowledgeBase"]["knowledgeBaseId"]
    assert first == again


def test_knowledge_bases_survive_a_restart(tmp_path):
    first = BasaltServer(tmp_path)
    try:
        kb_id = seed_knowledge_base(make_client("bedrock-agent", first.endpoint), "kb-durable")["knowledgeBase"]["knowledgeBaseId"]
    finally:
        first.stop()
    second = BasaltServer(tmp_path)
    try:
        kb = make_client("bedrock-agent", second.endpoint).get_knowledge_base(knowledgeBaseId=kb_id)["knowledgeBase"]
        assert kb["name"] == "kb-durable"
    finally:
        second.stop()


def test_storage_types_map_to_what_the_config_says(tmp_path):
    """Every storageConfiguration.type is accepted on the embedded index by default; a type the
    config maps to `reject` is refused naming the served types, and the start-up log and
    `basalt coverage` say where each type lands."""
    config = '[knowledge_bases.storage]\nPINECONE = "reject"\n'
    server = BasaltServer(tmp_path, config)
    try:
        agent = make_client("bedrock-agent", server.endpoint)
        code, message, status = error_of(
            agent.create_knowledge_base,
            name="on-pinecone",
            roleArn="arn:aws:iam::123456789012:role/AmazonBedrockExecutionRoleForKnowledgeBase",
            knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"}},
            storageConfiguration={"type": "PINECONE", "pineconeConfiguration": {
                "connectionString": "https://example.pinecone.io", "credentialsSecretArn":
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:pinecone",
                "fieldMapping": {"textField": "text", "metadataField": "metadata"}}})
        assert (code, status) == ("ValidationException", 400)
        assert "PINECONE" in message and "OPENSEARCH_SERVERLESS" in message, message
        # The seed's OpenSearch Serverless knowledge base still lands on the embedded index.
        kb = seed_knowledge_base(agent, "still-served")["knowledgeBase"]
        assert kb["status"] == "ACTIVE"
        log = server.log_tail(200)
        assert "PINECONE → rejected" in log and "OPENSEARCH_SERVERLESS → embedded index" in log, log
    finally:
        server.stop()
    report = subprocess.run(
        [str(BASALT_BIN), "coverage", "--config", str(tmp_path / "basalt.toml")],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "PINECONE → rejected" in report and "RDS → embedded index" in report, report
