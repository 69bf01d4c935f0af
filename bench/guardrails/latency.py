"""ApplyGuardrail latency with every policy on, over HTTP with boto3.

Starts a real `basalt serve` (BASALT_BIN, BASALT_MODELS_DIR) unless BASALT_URL points at one,
creates a guardrail with all six content filters at HIGH, three denied topics, custom words and
the PROFANITY list, every PII type this script names, and two regexes, then sends the same text
sequentially (each request's text distinct, see make_text) and reports p50/p95/p99. The text is built from the Python Language Reference's prose (pydoc_data) plus
a few PII values, cut to the requested number of all-MiniLM-L6-v2 tokens (the model the
embedding policies read), so it is the same on every machine with the same Python.

    python bench/guardrails/latency.py --tokens 1000 --requests 200
    python bench/guardrails/latency.py --tokens 1000 --policies pii,words   # one part at a time
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

PII_TYPES = [
    "ADDRESS", "AGE", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "CREDIT_DEBIT_CARD_NUMBER", "EMAIL",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER", "IP_ADDRESS", "NAME", "PASSWORD", "PHONE", "URL",
    "US_BANK_ACCOUNT_NUMBER", "US_SOCIAL_SECURITY_NUMBER", "USERNAME", "DRIVER_ID",
]
POLICIES = ("content", "topics", "words", "pii", "regex")


def guardrail_config(policies: set[str]) -> dict:
    config: dict = {
        "name": f"latency-{int(time.time() * 1000)}",
        "blockedInputMessaging": "Sorry, I cannot help with that.",
        "blockedOutputsMessaging": "Sorry, I cannot answer that.",
    }
    if "content" in policies:
        config["contentPolicyConfig"] = {"filtersConfig": [
            {"type": t, "inputStrength": "HIGH", "outputStrength": "HIGH" if t != "PROMPT_ATTACK" else "NONE"}
            for t in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK")
        ]}
    if "topics" in policies:
        config["topicPolicyConfig"] = {"topicsConfig": [
            {"name": "investment-advice", "type": "DENY",
             "definition": "Recommendations on which stocks, funds or cryptocurrencies to buy or sell.",
             "examples": ["Which stocks should I buy?", "Is bitcoin a good investment now?"]},
            {"name": "medical-diagnosis", "type": "DENY",
             "definition": "Telling a person which illness they have from their symptoms.",
             "examples": ["Do I have diabetes?", "What disease causes these symptoms?"]},
            {"name": "legal-advice", "type": "DENY",
             "definition": "Advice on how to act in a specific lawsuit or legal dispute.",
             "examples": ["Should I sue my landlord?", "How do I win my custody case?"]},
        ]}
    if "words" in policies:
        config["wordPolicyConfig"] = {
            "wordsConfig": [{"text": w} for w in ("competitorx", "project nightingale", "internal only")],
            "managedWordListsConfig": [{"type": "PROFANITY"}],
        }
    if "pii" in policies or "regex" in policies:
        sensitive: dict = {}
        if "pii" in policies:
            sensitive["piiEntitiesConfig"] = [
                {"type": t, "action": "BLOCK" if t in ("AWS_SECRET_KEY", "PASSWORD") else "ANONYMIZE"}
                for t in PII_TYPES
            ]
        if "regex" in policies:
            sensitive["regexesConfig"] = [
                {"name": "order-id", "pattern": r"ORD-\d{6,}", "action": "ANONYMIZE"},
                {"name": "ticket", "pattern": r"\bTCK[0-9A-F]{8}\b", "action": "ANONYMIZE"},
            ]
        config["sensitiveInformationPolicyConfig"] = sensitive
    return config


def make_text(tokens: int, tokenizer_path: Path, variant: int = 0) -> tuple[str, int]:
    """English prose with PII sprinkled in, cut to `tokens` MiniLM tokens. Each `variant` marks
    every sentence with its number, so no two requests share a sentence: basalt remembers the
    vectors of texts it saw lately (a conversation repeats its history), and a benchmark that
    sent one text again and again would measure that memory, not the policies."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    pii = [
        "Reach the maintainer at jane.doe@example.org or +1 (415) 555-0132.",
        "The order ORD-2024117 shipped to 1600 Amphitheatre Parkway, Mountain View, CA 94043.",
        "Contact John Smith from the build team if the mirror at https://mirror.example.net/ is down.",
    ]
    # The Python Language Reference's prose (pydoc's topic texts), paragraphs without code.
    from pydoc_data.topics import topics

    paragraphs = [
        " ".join(p.split())
        for key in sorted(topics)
        for p in topics[key].split("\n\n")
        if len(p) > 200 and not p.lstrip().startswith(("*", ">>>", "   ")) and "::=" not in p
    ]
    parts: list[str] = []
    for i, paragraph in enumerate(paragraphs[:40]):
        parts.append(paragraph)
        parts.append(pii[i % len(pii)])
    words = f"(v{variant}) {' '.join(parts)}".replace(". ", f". (v{variant}) ").split(" ")
    lo, hi = 1, len(words)
    while lo < hi:  # the longest word prefix within the token budget
        mid = (lo + hi + 1) // 2
        if len(tokenizer.encode(" ".join(words[:mid])).ids) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    text = " ".join(words[:lo])
    return text, len(tokenizer.encode(text).ids)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_basalt(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [os.environ["BASALT_BIN"], "serve", "--listen", f"127.0.0.1:{port}",
            "--data-dir", str(workdir / "data"), "--models-dir", os.environ["BASALT_MODELS_DIR"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASALT_")}
    env["RUST_LOG"] = "warn"
    log = open(workdir / "basalt.log", "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(480):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.25)
    proc.kill()
    sys.exit(f"basalt did not start; see {workdir / 'basalt.log'}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--policies", default=",".join(POLICIES),
                        help=f"comma-separated subset of {','.join(POLICIES)}")
    parser.add_argument("--source", default="INPUT", choices=("INPUT", "OUTPUT"))
    args = parser.parse_args()
    policies = set(args.policies.split(","))
    unknown = policies - set(POLICIES)
    if unknown:
        parser.error(f"unknown policies {sorted(unknown)}")

    models = Path(os.environ.get("BASALT_MODELS_DIR", Path.home() / ".local/share/basalt/models"))
    tokenizer = models / "all-MiniLM-L6-v2" / "tokenizer.json"
    texts = [make_text(args.tokens, tokenizer, v)[0] for v in range(args.warmup + args.requests + 1)]
    text, n_tokens = make_text(args.tokens, tokenizer, 0)

    proc = None
    url = os.environ.get("BASALT_URL")
    if not url:
        proc, url = start_basalt(Path(tempfile.mkdtemp(prefix="guardrail-latency-")))
    try:
        cfg = Config(retries={"total_max_attempts": 1}, read_timeout=60)
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                  aws_secret_access_key="bench", config=cfg)
        control, runtime = boto3.client("bedrock", **kw), boto3.client("bedrock-runtime", **kw)
        gid = control.create_guardrail(**guardrail_config(policies))["guardrailId"]
        def call(text: str) -> dict:
            return runtime.apply_guardrail(
                guardrailIdentifier=gid, guardrailVersion="DRAFT", source=args.source,
                content=[{"text": {"text": text}}])

        first = call(texts[0])
        for text in texts[1:args.warmup + 1]:
            call(text)
        times = []
        for text in texts[args.warmup + 1:]:
            t0 = time.perf_counter()
            call(text)
            times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        call(texts[-1])  # the last text again: what a conversation's repeated history costs
        repeated_ms = (time.perf_counter() - t0) * 1000
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=20)

    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "policies": sorted(policies), "source": args.source,
        "chars": len(text), "minilm_tokens": n_tokens, "requests": args.requests,
        "p50_ms": round(statistics.median(times), 2), "p95_ms": round(percentile(times, 0.95), 2),
        "p99_ms": round(percentile(times, 0.99), 2), "max_ms": round(max(times), 2),
        "repeated_text_ms": round(repeated_ms, 2),
        "action": first["action"], "usage": first["usage"],
        "findings": {a: list(k for k in first["assessments"][0] if k != "invocationMetrics")
                     for a in ["assessment"]} if first["assessments"] else {},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
