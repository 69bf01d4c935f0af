"""Embeddings side by side in one run: basalt's /v1/embeddings (HTTP, all-MiniLM-L6-v2 on candle)
vs sentence-transformers (PyTorch CPU) in-process, same texts, same thread count.

    HF_HUB_OFFLINE=1 ST_PYTHON=/tmp/st/bin/python python3 bench/embeddings_http.py ENDPOINT MODEL_DIR [THREADS]

ENDPOINT is a running `basalt serve` (e.g. http://127.0.0.1:8080); ST_PYTHON is a Python with
sentence-transformers installed (`pip install sentence-transformers`). Prints texts/s for batches
of 1 and 32 on short (~21 tokens) and long (256 tokens) texts, single-text latency, and ratios.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from embeddings_speed import long_texts, short_texts  # noqa: E402  (the same texts on both sides)

BUDGET_S = 5.0


def basalt_rate(endpoint, texts, batch):
    def call(chunk):
        body = json.dumps({"model": "amazon.titan-embed-text-v2:0", "input": chunk, "dimensions": 512}).encode()
        request = urllib.request.Request(endpoint + "/v1/embeddings", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    call(texts[:batch])
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < BUDGET_S:
        for i in range(0, len(texts), batch):
            call(texts[i : i + batch])
            done += len(texts[i : i + batch])
    return done / (time.perf_counter() - started)


def basalt_latency(endpoint, text, runs=20):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        body = json.dumps({"model": "amazon.titan-embed-text-v2:0", "input": text}).encode()
        request = urllib.request.Request(endpoint + "/v1/embeddings", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


ST_SCRIPT = r"""
import json, statistics, sys, time, torch
sys.path.insert(0, sys.argv[3])
from embeddings_speed import long_texts, short_texts, rate
from sentence_transformers import SentenceTransformer
torch.set_num_threads(int(sys.argv[2]))
model = SentenceTransformer(sys.argv[1], device="cpu")
out = {}
for name, texts in (("short", short_texts(64)), ("long", long_texts(64))):
    for batch in (1, 32):
        out[f"{name}/{batch}"] = rate(model, texts, batch)
times = []
for _ in range(20):
    started = time.perf_counter(); model.encode([short_texts(1)[0]]); times.append((time.perf_counter() - started) * 1000)
out["latency_ms"] = statistics.median(times)
print(json.dumps(out))
"""


def main():
    endpoint, model_dir = sys.argv[1], sys.argv[2]
    threads = sys.argv[3] if len(sys.argv) > 3 else "2"
    results = {"basalt": {}, "sentence-transformers": {}}
    for name, texts in (("short", short_texts(64)), ("long", long_texts(64))):
        for batch in (1, 32):
            results["basalt"][f"{name}/{batch}"] = basalt_rate(endpoint, texts, batch)
    results["basalt"]["latency_ms"] = basalt_latency(endpoint, short_texts(1)[0])
    st = subprocess.run([os.environ.get("ST_PYTHON", "python3"), "-c", ST_SCRIPT, model_dir, threads, os.path.dirname(os.path.abspath(__file__))],
                        capture_output=True, text=True, check=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    results["sentence-transformers"] = json.loads(st.stdout.strip().splitlines()[-1])
    print(f"load average: {os.getloadavg()}")
    print("| texts | batch | basalt (HTTP) texts/s | sentence-transformers texts/s | ratio |")
    print("|---|---|---|---|---|")
    for key in ("short/1", "short/32", "long/1", "long/32"):
        b, s = results["basalt"][key], results["sentence-transformers"][key]
        name, batch = key.split("/")
        print(f"| {name} | {batch} | {b:.1f} | {s:.1f} | {b / s:.2f}x |")
    print(f"single short text latency: basalt {results['basalt']['latency_ms']:.2f} ms (HTTP) vs "
          f"sentence-transformers {results['sentence-transformers']['latency_ms']:.2f} ms (in-process)")


if __name__ == "__main__":
    main()
