"""basalt with its objects on an S3-compatible endpoint ([objects] endpoint): a second basalt
("front") keeps its buckets on the first one's S3 API ("origin"), a real server over HTTP, as it
would on MinIO or Amazon S3. The S3 API on front lands in origin; a knowledge base on front
ingests documents stored in origin; a dead endpoint gives clear errors, never a hang."""

from __future__ import annotations

import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import BasaltServer, free_port, make_client
from test_kb_ingestion import CORPUS, data_source, sync, stats
from test_knowledge_bases import seed_knowledge_base
from test_s3 import s3_client

MIB = 1024 * 1024


def remote_config(endpoint: str) -> str:
    return (
        "[objects]\n"
        f'endpoint = "{endpoint}"\n'
        'region = "us-east-1"\n'
        'access_key_id = "front"\n'
        'secret_access_key = "front-secret"\n'
    )


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    server = BasaltServer(tmp_path_factory.mktemp("origin"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def front(tmp_path_factory, origin):
    server = BasaltServer(tmp_path_factory.mktemp("front"), remote_config(origin.endpoint))
    yield server
    server.stop()


def error_code(call, **kwargs) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_s3_api_on_front_lands_in_origin(front, origin):
    via_front, at_origin = s3_client(front.endpoint), s3_client(origin.endpoint)
    bucket = f"remote-{uuid.uuid4().hex[:10]}"
    via_front.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in at_origin.list_buckets()["Buckets"]]
    assert bucket in [b["Name"] for b in via_front.list_buckets()["Buckets"]]

    key = "notes/a file+1 é.txt"
    via_front.put_object(
        Bucket=bucket, Key=key, Body=b"0123456789", ContentType="text/plain", Metadata={"team": "kb"}
    )
    assert at_origin.get_object(Bucket=bucket, Key=key)["Body"].read() == b"0123456789"
    head = via_front.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == 10
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"team": "kb"}
    ranged = via_front.get_object(Bucket=bucket, Key=key, Range="bytes=2-5")
    assert ranged["Body"].read() == b"2345"
    assert ranged["ContentRange"] == "bytes 2-5/10"

    # Paging and common prefixes come through the endpoint's own listing.
    for name in ("notes/b.txt", "notes/c.txt", "other/d.txt", "top.txt"):
        at_origin.put_object(Bucket=bucket, Key=name, Body=name.encode())
    keys, token = [], None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": "notes/", "MaxKeys": 2}
        if token:
            kwargs["ContinuationToken"] = token
        page = via_front.list_objects_v2(**kwargs)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert keys == [key, "notes/b.txt", "notes/c.txt"]
    grouped = via_front.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["notes/", "other/"]
    assert [o["Key"] for o in grouped["Contents"]] == ["top.txt"]

    # Multipart through front: the parts and the assembled object are origin's.
    upload = via_front.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    parts = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    etags = [
        via_front.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload, PartNumber=n + 1, Body=body)["ETag"]
        for n, body in enumerate(parts)
    ]
    via_front.complete_multipart_upload(
        Bucket=bucket,
        Key="big.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]},
    )
    assert at_origin.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == b"".join(parts)

    via_front.delete_object(Bucket=bucket, Key=key)
    assert error_code(at_origin.head_object, Bucket=bucket, Key=key)[1] == 404
    assert error_code(via_front.get_object, Bucket=bucket, Key=key) == ("NoSuchKey", 404)
    assert error_code(via_front.list_objects_v2, Bucket=f"none-{uuid.uuid4().hex[:8]}") == ("NoSuchBucket", 404)
    assert error_code(via_front.delete_bucket, Bucket=bucket) == ("BucketNotEmpty", 409)


def test_a_knowledge_base_on_front_ingests_documents_kept_in_origin(front, origin):
    at_origin = s3_client(origin.endpoint)
    bucket = f"kb-remote-{uuid.uuid4().hex[:8]}"
    at_origin.create_bucket(Bucket=bucket)
    documents = 0
    for path in sorted(CORPUS.iterdir()):
        at_origin.put_object(Bucket=bucket, Key="docs/" + path.name, Body=path.read_bytes())
        documents += not path.name.endswith(".metadata.json")

    agent = make_client("bedrock-agent", front.endpoint)
    kb_id = seed_knowledge_base(agent, f"kb-{uuid.uuid4().hex[:8]}")["knowledgeBase"]["knowledgeBaseId"]
    ds_id = data_source(agent, kb_id, bucket)
    job = sync(agent, kb_id, ds_id)
    assert job["status"] == "COMPLETE", job
    assert job["statistics"] == stats(
        DocumentsScanned=documents, MetadataDocumentsScanned=documents, NewDocumentsIndexed=documents
    )

    runtime = make_client("bedrock-agent-runtime", front.endpoint)
    results = runtime.retrieve(
        knowledgeBaseId=kb_id, retrievalQuery={"text": "How do honeybees tell each other where flowers are?"}
    )["retrievalResults"]
    assert results[0]["location"]["s3Location"]["uri"] == f"s3://{bucket}/docs/honeybees.txt"

    # An edit made at origin is what the next sync on front sees.
    at_origin.delete_object(Bucket=bucket, Key="docs/chess.txt")
    at_origin.delete_object(Bucket=bucket, Key="docs/chess.txt.metadata.json")
    again = sync(agent, kb_id, ds_id)
    assert again["statistics"]["numberOfDocumentsDeleted"] == 1, again


def test_a_dead_endpoint_gives_clear_errors_not_hangs(tmp_path_factory):
    dead = f"http://127.0.0.1:{free_port()}"
    server = BasaltServer(tmp_path_factory.mktemp("dead-endpoint"), remote_config(dead))
    try:
        s3 = s3_client(server.endpoint)
        started = time.monotonic()
        code, status = error_code(s3.list_buckets)
        assert (code, status) == ("ServiceUnavailable", 503)
        assert time.monotonic() - started < 30

        agent = make_client("bedrock-agent", server.endpoint)
        kb_id = seed_knowledge_base(agent, f"kb-{uuid.uuid4().hex[:8]}")["knowledgeBase"]["knowledgeBaseId"]
        ds_id = data_source(agent, kb_id, "unreachable-bucket")
        job = sync(agent, kb_id, ds_id)
        assert job["status"] == "FAILED", job
        assert dead in " ".join(job["failureReasons"]), job["failureReasons"]
    finally:
        server.stop()


def test_missing_credentials_stop_the_server_with_a_reason(tmp_path_factory, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    workdir = tmp_path_factory.mktemp("no-credentials")
    config = '[objects]\nendpoint = "http://127.0.0.1:9"\n'
    with pytest.raises(pytest.fail.Exception) as failed:
        BasaltServer(workdir, config)
    assert "needs credentials" in str(failed.value)
