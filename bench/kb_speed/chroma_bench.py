"""The reference side of the speed benchmark: Chroma (embedded PersistentClient, HNSW, cosine)
given exactly the vectors basalt's index got (DIR/chunks.f32, DIR/queries.f32 from
index_speed). Times the build (add in the largest batches Chroma takes), size on disk, query
latency (top 10, one query at a time, same warm-up as basalt), and the recall@10 of its
approximate search against exact cosine search. Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import chromadb
import numpy as np

DIMENSIONS = 384
WARM_UP = 20


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentiles(ms: list[float]) -> dict:
    ms = sorted(ms)
    at = lambda p: ms[min(max(int(np.ceil(len(ms) * p)), 1), len(ms)) - 1]  # noqa: E731
    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "mean_ms": sum(ms) / len(ms)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", required=True, type=Path)
    parser.add_argument("--queries", required=True, type=Path)
    parser.add_argument("--work", required=True, type=Path)
    args = parser.parse_args()
    chunks = read_jsonl(args.chunks)
    queries = read_jsonl(args.queries)
    vectors = np.fromfile(args.work / "chunks.f32", dtype="<f4").reshape(-1, DIMENSIONS)
    query_vectors = np.fromfile(args.work / "queries.f32", dtype="<f4").reshape(-1, DIMENSIONS)
    assert len(vectors) == len(chunks) and len(query_vectors) == len(queries)

    path = args.work / "chroma"
    shutil.rmtree(path, ignore_errors=True)
    client = chromadb.PersistentClient(path=str(path), settings=chromadb.Settings(anonymized_telemetry=False))
    collection = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
    batch = client.get_max_batch_size()
    started = time.perf_counter()
    for start in range(0, len(chunks), batch):
        rows = chunks[start:start + batch]
        collection.add(
            ids=[c["id"] for c in rows],
            embeddings=vectors[start:start + batch],
            documents=[c["text"] for c in rows],
            metadatas=[{"x-amz-bedrock-kb-source-uri": "s3://bench/" + c["document"]} for c in rows],
        )
    build_seconds = time.perf_counter() - started
    del client, collection
    open_started = time.perf_counter()
    client = chromadb.PersistentClient(path=str(path), settings=chromadb.Settings(anonymized_telemetry=False))
    collection = client.get_collection("bench")
    open_seconds = time.perf_counter() - open_started
    assert collection.count() == len(chunks)

    exact = np.argsort(-(query_vectors @ vectors.T), axis=1)[:, :10]
    ids = np.array([c["id"] for c in chunks])
    ms, recall = [], []
    for n, vector in enumerate(query_vectors):
        started = time.perf_counter()
        found = collection.query(query_embeddings=[vector], n_results=10, include=["documents", "metadatas", "distances"])
        elapsed = (time.perf_counter() - started) * 1e3
        if n >= WARM_UP:
            ms.append(elapsed)
        recall.append(len(set(found["ids"][0]) & set(ids[exact[n]])) / 10)
    print(json.dumps({
        "chroma": chromadb.__version__,
        "chunks": len(chunks),
        "build_seconds": build_seconds,
        "build_chunks_per_s": len(chunks) / build_seconds,
        "open_seconds": open_seconds,
        "index_bytes": dir_size(path),
        "latency": {"semantic": percentiles(ms)},
        "recall_at_10_vs_exact": float(np.mean(recall)),
    }))


if __name__ == "__main__":
    main()
