"""Ingestion jobs end to end with boto3: the seeds' flow (upload to S3, create a knowledge base and
an S3 data source, start_ingestion_job, poll get_ingestion_job), exact statistics on incremental
re-syncs (added, edited, metadata-only edits, deleted), failed documents, the errors Bedrock gives,
StopIngestionJob, and a server killed mid-job that a re-run finishes."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import BasaltServer, make_client
from test_knowledge_bases import seed_knowledge_base
from test_s3 import s3_client

CORPUS = Path(__file__).resolve().parents[2] / "crates/basalt-kb/tests/data/corpus"
TERMINAL = {"COMPLETE", "FAILED", "STOPPED"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = BasaltServer(tmp_path_factory.mktemp("ingestion"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def agent(server):
    return make_client("bedrock-agent", server.endpoint)


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server.endpoint)


def new_bucket(s3) -> str:
    name = f"kb-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def upload_corpus(s3, bucket: str, prefix: str = "docs/") -> int:
    documents = 0
    for path in sorted(CORPUS.iterdir()):
        s3.put_object(Bucket=bucket, Key=prefix + path.name, Body=path.read_bytes())
        documents += not path.name.endswith(".metadata.json")
    return documents


def data_source(agent, kb_id: str, bucket: str, prefix: str = "docs/", name: str | None = None, **extra):
    return agent.create_data_source(
        knowledgeBaseId=kb_id,
        name=name or f"ds-{uuid.uuid4().hex[:8]}",
        dataSourceConfiguration={
            "type": "S3",
            "s3Configuration": {"bucketArn": f"arn:aws:s3:::{bucket}", "inclusionPrefixes": [prefix]},
        },
        vectorIngestionConfiguration={
            "chunkingConfiguration": {
                "chunkingStrategy": "FIXED_SIZE",
                "fixedSizeChunkingConfiguration": {"maxTokens": 512, "overlapPercentage": 20},
            }
        },
        **extra,
    )["dataSource"]["dataSourceId"]


def wait_for(agent, kb_id: str, ds_id: str, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job = agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)["ingestionJob"]
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in TERMINAL:
            job["seen"] = seen
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {seen[-1]} after {timeout}s")


def sync(agent, kb_id: str, ds_id: str) -> dict:
    started = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJob"]
    assert started["status"] == "STARTING"
    return wait_for(agent, kb_id, ds_id, started["ingestionJobId"])


def stats(**counts) -> dict:
    base = {
        "numberOfDocumentsScanned": 0,
        "numberOfMetadataDocumentsScanned": 0,
        "numberOfNewDocumentsIndexed": 0,
        "numberOfModifiedDocumentsIndexed": 0,
        "numberOfMetadataDocumentsModified": 0,
        "numberOfDocumentsDeleted": 0,
        "numberOfDocumentsFailed": 0,
        "numberOfDocumentsSkipped": 0,
    }
    for key, value in counts.items():
        base["numberOf" + key] = value
    return base


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_the_seeds_flow_then_incremental_syncs_count_exactly(agent, s3):
    bucket = new_bucket(s3)
    documents = upload_corpus(s3, bucket)
    kb_id = seed_knowledge_base(agent, f"kb-{uuid.uuid4().hex[:8]}")["knowledgeBase"]["knowledgeBaseId"]
    ds_id = data_source(agent, kb_id, bucket)

    # The seed's call, as written.
    ingest = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)
    job_id = ingest["ingestionJob"]["ingestionJobId"]
    first = wait_for(agent, kb_id, ds_id, job_id)
    assert first["status"] == "COMPLETE", first
    assert first["statistics"] == stats(
        DocumentsScanned=documents, MetadataDocumentsScanned=documents, NewDocumentsIndexed=documents
    )
    assert first["seen"][-1] == "COMPLETE"
    assert first["startedAt"] <= first["updatedAt"]

    # Nothing changed: nothing is re-indexed.
    again = sync(agent, kb_id, ds_id)
    assert again["statistics"] == stats(DocumentsScanned=documents, MetadataDocumentsScanned=documents)

    # One edit, one metadata-only edit, one delete, one new document.
    s3.put_object(Bucket=bucket, Key="docs/chess.txt", Body=b"Chess is a board game for two players. Castling moves king and rook at once.")
    s3.put_object(
        Bucket=bucket,
        Key="docs/coffee.txt.metadata.json",
        Body=json.dumps({"metadataAttributes": {"topic": "drinks", "year": 2024}}).encode(),
    )
    s3.delete_object(Bucket=bucket, Key="docs/jazz.txt")
    s3.delete_object(Bucket=bucket, Key="docs/jazz.txt.metadata.json")
    s3.put_object(Bucket=bucket, Key="docs/new/kites.md", Body=b"# Kites\nKites fly on the wind; the first kites came from China.")
    # Outside the inclusion prefix: never seen.
    s3.put_object(Bucket=bucket, Key="other/ignored.txt", Body=b"not in the data source")
    changed = sync(agent, kb_id, ds_id)
    assert changed["status"] == "COMPLETE", changed
    assert changed["statistics"] == stats(
        DocumentsScanned=documents,
        MetadataDocumentsScanned=documents - 1,
        NewDocumentsIndexed=1,
        ModifiedDocumentsIndexed=1,
        MetadataDocumentsModified=1,
        DocumentsDeleted=1,
    )

    listed = agent.list_ingestion_jobs(
        knowledgeBaseId=kb_id, dataSourceId=ds_id, sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"}
    )["ingestionJobSummaries"]
    assert [j["ingestionJobId"] for j in listed][-1] == job_id
    assert len(listed) == 3 and all(j["status"] == "COMPLETE" for j in listed)
    assert listed[0]["statistics"] == changed["statistics"]
    page = agent.list_ingestion_jobs(knowledgeBaseId=kb_id, dataSourceId=ds_id, maxResults=2)
    rest = agent.list_ingestion_jobs(knowledgeBaseId=kb_id, dataSourceId=ds_id, nextToken=page["nextToken"])
    assert len(page["ingestionJobSummaries"]) == 2 and len(rest["ingestionJobSummaries"]) == 1
    failed_only = agent.list_ingestion_jobs(
        knowledgeBaseId=kb_id, dataSourceId=ds_id, filters=[{"attribute": "STATUS", "operator": "EQ", "values": ["FAILED"]}]
    )
    assert failed_only["ingestionJobSummaries"] == []


def test_bad_documents_fail_alone_and_are_reported(agent, s3):
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="in/good.txt", Body=b"Otters hold hands while they sleep so they do not drift apart.")
    s3.put_object(Bucket=bucket, Key="in/broken.pdf", Body=b"%PDF-1.7\nthis is not really a pdf at all\n%%EOF")
    s3.put_object(Bucket=bucket, Key="in/picture.png", Body=b"\x89PNG\r\n\x1a\n\x00\x00")
    s3.put_object(Bucket=bucket, Key="in/bad.txt", Body=b"Text with a broken sidecar.")
    s3.put_object(Bucket=bucket, Key="in/bad.txt.metadata.json", Body=b"{not json")
    kb_id = seed_knowledge_base(agent, f"kb-{uuid.uuid4().hex[:8]}")["knowledgeBase"]["knowledgeBaseId"]
    ds_id = data_source(agent, kb_id, bucket, prefix="in/")
    job = sync(agent, kb_id, ds_id)
    assert job["status"] == "COMPLETE", job
    assert job["statistics"] == stats(
        DocumentsScanned=4, MetadataDocumentsScanned=1, NewDocumentsIndexed=1, DocumentsFailed=3
    )
    reasons = "\n".join(job["failureReasons"])
    for name in ("broken.pdf", "picture.png", "bad.txt.metadata.json"):
        assert name in reasons, reasons
    # Failed documents are tried again next time (and fail again); the good one is not redone.
    again = sync(agent, kb_id, ds_id)
    assert again["statistics"] == stats(DocumentsScanned=4, MetadataDocumentsScanned=1, DocumentsFailed=3)


def test_a_data_source_pointing_at_nothing_fails_the_job_with_a_reason(agent):
    kb_id = seed_knowledge_base(agent, f"kb-{uuid.uuid4().hex[:8]}")["knowledgeBase"]["knowledgeBaseId"]
    ds_id = data_source(agent, kb_id, f"no-such-bucket-{uuid.uuid4().hex[:8]}")
    job = sync(agent, kb_id, ds_id)
    assert job["status"] == "FAILED"
    assert "does not exist" in job["failureReasons"][0]


def test_unknown_ids_and_bad_input(agent, s3):
    kb_id = seed_knowledge_base(agent, f"kb-{uuid.uuid4().hex[:8]}")["knowledgeBase"]["knowledgeBaseId"]
    ds_id = data_source(agent, kb_id, new_bucket(s3))
    code, message = error_of(agent.start_ingestion_job, knowledgeBaseId="NOSUCHKB00", dataSourceId=ds_id)
    assert code == "ResourceNotFoundException" and "NOSUCHKB00" in message
    code, message = error_of(agent.start_ingestion_job, knowledgeBaseId=kb_id, dataSourceId="NOSUCHDS00")
    assert code == "ResourceNotFoundException" and "NOSUCHDS00" in message
    code, message = error_of(agent.get_ingestion_job, knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId="NOSUCHJOB0")
    assert code == "ResourceNotFoundException" and "NOSUCHJOB0" in message
    code, _ = error_of(agent.list_ingestion_jobs, knowledgeBaseId=kb_id, dataSourceId="NOSUCHDS00")
    assert code == "ResourceNotFoundException"
    code, _ = error_of(
        agent.list_ingestion_jobs, knowledgeBaseId=kb_id, dataSourceId=ds_id, nextToken="not-a-token"
    )
    assert code == "ValidationException"


def many_documents(s3, bucket: str, count: int, prefix: str = "bulk/"):
    subjects = ["rivers", "glaciers", "deserts", "forests", "reefs", "caves", "islands", "canyons"]
    for n in range(count):
        subject = subjects[n % len(subjects)]
        body = (
            f"Field note {n} about {subject}. Observers recorded {n * 7 % 101} sightings near station {n}. "
            f"The {subject} changed with the seasons and the survey team returned every spring."
        )
        s3.put_object(Bucket=bucket, Key=f"{prefix}note-{n:04}.txt", Body=body.encode())


def test_one_job_at_a_time_and_stop_keeps_what_was_done(agent, s3):
    bucket = new_bucket(s3)
    many_documents(s3, bucket, 400)
    kb_id = seed_knowledge_base(agent, f"kb-{uuid.uuid4().hex[:8]}")["knowledgeBase"]["knowledgeBaseId"]
    ds_id = data_source(agent, kb_id, bucket, prefix="bulk/")
    other_ds = data_source(agent, kb_id, bucket, prefix="bulk/")
    job_id = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJob"]["ingestionJobId"]
    # A second job on the same knowledge base, through either data source, waits its turn.
    for source in (ds_id, other_ds):
        code, message = error_of(agent.start_ingestion_job, knowledgeBaseId=kb_id, dataSourceId=source)
        assert code == "ConflictException" and job_id in message
    code, _ = error_of(agent.delete_data_source, knowledgeBaseId=kb_id, dataSourceId=ds_id)
    assert code == "ConflictException"

    stopping = agent.stop_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)["ingestionJob"]
    assert stopping["status"] == "STOPPING"
    stopped = wait_for(agent, kb_id, ds_id, job_id)
    assert stopped["status"] == "STOPPED", stopped
    done = stopped["statistics"]["numberOfNewDocumentsIndexed"]
    assert done < 400
    code, _ = error_of(agent.stop_ingestion_job, knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)
    assert code == "ConflictException"

    # The next job does only the rest.
    rest = sync(agent, kb_id, ds_id)
    assert rest["status"] == "COMPLETE"
    assert rest["statistics"]["numberOfNewDocumentsIndexed"] == 400 - done


def test_a_server_killed_mid_job_leaves_a_consistent_index_that_a_rerun_finishes(tmp_path):
    first = BasaltServer(tmp_path)
    try:
        agent, s3 = make_client("bedrock-agent", first.endpoint), s3_client(first.endpoint)
        bucket = new_bucket(s3)
        many_documents(s3, bucket, 600)
        kb_id = seed_knowledge_base(agent, "kb-crash")["knowledgeBase"]["knowledgeBaseId"]
        ds_id = data_source(agent, kb_id, bucket, prefix="bulk/")
        job_id = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJob"]["ingestionJobId"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)["ingestionJob"]
            if job["statistics"]["numberOfNewDocumentsIndexed"] > 0:
                break
            time.sleep(0.05)
        assert job["status"] == "IN_PROGRESS", job
        first.proc.kill()  # no graceful shutdown: a crash
        first.proc.wait(timeout=10)
    finally:
        first.stop()

    second = BasaltServer(tmp_path)
    try:
        agent = make_client("bedrock-agent", second.endpoint)
        crashed = agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)["ingestionJob"]
        assert crashed["status"] == "FAILED"
        assert "start a new ingestion job" in crashed["failureReasons"][0]
        rerun = sync(agent, kb_id, ds_id)
        assert rerun["status"] == "COMPLETE", rerun
        assert 0 < rerun["statistics"]["numberOfNewDocumentsIndexed"] <= 600
        # Everything is recorded now: a third run has nothing to do.
        third = sync(agent, kb_id, ds_id)
        assert third["statistics"] == stats(DocumentsScanned=600)
    finally:
        second.stop()


def test_deleting_a_data_source_or_knowledge_base_cleans_up(agent, s3, server):
    bucket = new_bucket(s3)
    upload_corpus(s3, bucket)
    kb_id = seed_knowledge_base(agent, f"kb-{uuid.uuid4().hex[:8]}")["knowledgeBase"]["knowledgeBaseId"]
    ds_id = data_source(agent, kb_id, bucket)
    assert sync(agent, kb_id, ds_id)["status"] == "COMPLETE"
    index_dir = server.data_dir / "knowledge-bases" / kb_id
    assert index_dir.is_dir()
    agent.delete_data_source(knowledgeBaseId=kb_id, dataSourceId=ds_id)
    # A new data source over the same files indexes them all again as new.
    ds2 = data_source(agent, kb_id, bucket)
    assert sync(agent, kb_id, ds2)["statistics"]["numberOfNewDocumentsIndexed"] == 15
    agent.delete_knowledge_base(knowledgeBaseId=kb_id)
    assert not index_dir.exists()
