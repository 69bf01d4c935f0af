"""Ingestion speed end to end, side by side in one run on the same documents:

- basalt: the documents uploaded with boto3's s3 client to a `basalt serve`, a knowledge base with
  FIXED_SIZE chunking (300 tokens, 20% overlap), StartIngestionJob, polled until COMPLETE. Time
  is from the start call to COMPLETE; chunks come from the job's log line.
- reference: the same documents cut into the same 300-token windows with 20% overlap by the same
  tokenizer, embedded by sentence-transformers (all-MiniLM-L6-v2 from the same directory, batch
  32) and added to a Chroma PersistentClient collection.

Both are embedding-bound; docs/s and chunks/s are reported for each. Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basalt_run(binary: Path, models: Path, documents: list[dict], work: Path) -> dict:
    data = work / "basalt-data"
    shutil.rmtree(data, ignore_errors=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = work / "basalt.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data), "--models-dir", str(models)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
        )
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(endpoint + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")
        s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **kw)
        agent = boto3.client("bedrock-agent", config=Config(read_timeout=600), **kw)
        s3.create_bucket(Bucket="bench")
        for doc in documents:
            s3.put_object(Bucket="bench", Key="docs/" + doc["id"] + ".txt", Body=doc["text"].encode())
        kb = agent.create_knowledge_base(
            name="bench", roleArn="arn:aws:iam::123456789012:role/bench",
            knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"}},
            storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
                "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/bench", "vectorIndexName": "i",
                "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}},
        )["knowledgeBase"]["knowledgeBaseId"]
        ds = agent.create_data_source(
            knowledgeBaseId=kb, name="bench",
            dataSourceConfiguration={"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::bench", "inclusionPrefixes": ["docs/"]}},
            vectorIngestionConfiguration={"chunkingConfiguration": {"chunkingStrategy": "FIXED_SIZE",
                "fixedSizeChunkingConfiguration": {"maxTokens": 300, "overlapPercentage": 20}}},
        )["dataSource"]["dataSourceId"]
        started = time.perf_counter()
        job = agent.start_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds)["ingestionJob"]["ingestionJobId"]
        while True:
            state = agent.get_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds, ingestionJobId=job)["ingestionJob"]
            if state["status"] in ("COMPLETE", "FAILED", "STOPPED"):
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        assert state["status"] == "COMPLETE", state
        assert state["statistics"]["numberOfNewDocumentsIndexed"] == len(documents), state
        log = log_path.read_text(errors="replace")
        chunks = int(re.findall(r"ingestion job finished.*?chunks=(\d+)", log)[-1])
        index_bytes = sum(p.stat().st_size for p in (data / "knowledge-bases").rglob("*") if p.is_file())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"seconds": seconds, "documents": len(documents), "chunks": chunks,
            "docs_per_s": len(documents) / seconds, "chunks_per_s": chunks / seconds, "index_bytes": index_bytes}


def reference_run(models: Path, documents: list[dict], work: Path) -> dict:
    import chromadb
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(os.cpu_count() or 1)
    model = SentenceTransformer(str(models / "all-MiniLM-L6-v2"), device="cpu")
    tokenizer = model.tokenizer
    path = work / "chroma-ingest"
    shutil.rmtree(path, ignore_errors=True)
    client = chromadb.PersistentClient(path=str(path), settings=chromadb.Settings(anonymized_telemetry=False))
    collection = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
    started = time.perf_counter()
    texts, ids, metadatas = [], [], []
    for doc in documents:
        encoding = tokenizer(doc["text"], add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoding["offset_mapping"]
        step = 300 - 60
        for n, first in enumerate(range(0, max(len(offsets) - 60, 1), step)):
            window = offsets[first:first + 300]
            texts.append(doc["text"][window[0][0]:window[-1][1]])
            ids.append(f"{doc['id']}#{n}")
            metadatas.append({"x-amz-bedrock-kb-source-uri": "s3://bench/docs/" + doc["id"] + ".txt"})
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
    batch = client.get_max_batch_size()
    for start in range(0, len(texts), batch):
        collection.add(ids=ids[start:start + batch], embeddings=vectors[start:start + batch],
                       documents=texts[start:start + batch], metadatas=metadatas[start:start + batch])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "documents": len(documents), "chunks": len(texts),
            "docs_per_s": len(documents) / seconds, "chunks_per_s": len(texts) / seconds,
            "index_bytes": sum(p.stat().st_size for p in path.rglob("*") if p.is_file())}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", required=True, type=Path)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--basalt", required=True, type=Path)
    parser.add_argument("--models", required=True, type=Path)
    parser.add_argument("--work", required=True, type=Path)
    args = parser.parse_args()
    documents = [json.loads(line) for line in args.documents.read_text().splitlines()][: args.count]
    for doc in documents:
        doc["id"] = re.sub(r"[^A-Za-z0-9_.-]+", "_", doc["id"])
    args.work.mkdir(parents=True, exist_ok=True)
    basalt = basalt_run(args.basalt, args.models, documents, args.work)
    reference = reference_run(args.models, documents, args.work)
    print(json.dumps({"basalt": basalt, "reference": reference,
                      "docs_per_s_ratio": basalt["docs_per_s"] / reference["docs_per_s"]}))


if __name__ == "__main__":
    main()
