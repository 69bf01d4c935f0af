"""basalt vs llama.cpp (llama-cpp-python), side by side: prefill tok/s, decode tok/s, TTFT.

Both sides load the same GGUF with the same thread count, prefill the same prompt tokens (the
ChatML text basalt renders from SmolLM2's own template) and decode greedily for the same number
of tokens. Everything is timed on the client side:

  TTFT          request sent -> first non-empty text delta
  decode tok/s  (n_out - 1) / (t_last_delta - t_first_delta)
  prefill tok/s prompt_tokens / TTFT

basalt is driven over HTTP (ConverseStream). The main measurement uses a raw http.client
request, SigV4-signed by botocore *before* the clock starts, and botocore's event-stream parser
(EventStreamBuffer) on the response body: that isolates the server's HTTP + event-stream path
from boto3's own client-side cost. A boto3 `converse_stream` run is timed too, as a reference
for what an unmodified boto3 caller sees.

llama-cpp-python runs in a child process (this file with --llama-worker) so that its model,
OpenMP threads and Python allocations stay out of the harness process.

Usage: bench/run.sh starts basalt and calls this; see BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from urllib.parse import quote

SYSTEM_PROMPT = "You are a helpful assistant."
# SmolLM2's chat template (ChatML), exactly as basalt renders it for one user turn with the
# catalog's default system prompt and the generation prompt appended.
CHATML = (
    "<|im_start|>system\n{system}<|im_end|>\n"
    "<|im_start|>user\n{user}<|im_end|>\n"
    "<|im_start|>assistant\n"
)

# One user message, ~200 tokens, that asks for a long answer so that greedy decoding runs for
# the full max_tokens on both sides (checked: finish reason must be max_tokens / "length").
USER_MESSAGE = (
    "I am preparing a long training guide for new volunteers at a community garden. "
    "The garden has twenty raised beds, a small greenhouse, three compost bins, a rain "
    "water tank and a tool shed. Volunteers come on weekends, most of them have never grown "
    "vegetables before, and many of them are students or retired people who want to learn. "
    "We grow tomatoes, beans, lettuce, carrots, potatoes, onions, squash, herbs and flowers "
    "for pollinators. We want the guide to explain how to prepare the soil in spring, how to "
    "plan the beds so that crops rotate every year, how to sow seeds and transplant seedlings, "
    "how to water during hot summers without wasting water, how to make good compost, how to "
    "recognize common pests and diseases, and how to harvest and store the vegetables. "
    "Please write the full guide now, in plain and friendly language, with many details, "
    "practical examples and step by step instructions for every season. Make it very long "
    "and thorough, and do not stop early."
)


def percentile_summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def rates(prompt_tokens: int, n_out: int, t0: float, t_first: float, t_last: float) -> dict:
    ttft = t_first - t0
    decode_time = t_last - t_first
    return {
        "ttft_ms": ttft * 1e3,
        "prefill_tok_s": prompt_tokens / ttft,
        "decode_tok_s": (n_out - 1) / decode_time if decode_time > 0 else float("nan"),
        "total_s": t_last - t0,
    }


# --------------------------------------------------------------------------------------------
# llama-cpp-python worker (child process): JSON lines on stdin/stdout.


def llama_worker(model_path: str, threads: int, n_ctx: int, flash_attn: bool) -> None:
    import llama_cpp

    out = sys.stdout
    sys.stdout = sys.stderr  # keep llama.cpp / library prints off the protocol channel
    llm = llama_cpp.Llama(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        flash_attn=flash_attn,
        verbose=False,
    )

    def reply(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    reply({"ready": True, "version": llama_cpp.__version__, "pid": os.getpid()})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "tokenize":
            toks = llm.tokenize(cmd["text"].encode(), add_bos=cmd.get("add_bos", True), special=True)
            reply({"n": len(toks)})
        elif cmd["op"] == "rss":
            reply({"rss_kib": read_rss_kib(os.getpid())})
        elif cmd["op"] == "generate":
            prompt = cmd["prompt"]
            # What create_completion will feed the model: same tokenization it does internally.
            prompt_tokens = len(llm.tokenize(prompt.encode(), add_bos=True, special=True))
            llm.reset()  # no prefix reuse from the previous run: prefill all tokens every time
            t_first = t_last = None
            pieces: list[str] = []
            chunks = 0
            finish = None
            t0 = time.perf_counter()
            for chunk in llm.create_completion(
                prompt,
                max_tokens=cmd["max_tokens"],
                temperature=0.0,
                repeat_penalty=1.0,  # pure greedy, like basalt's temperature 0
                stream=True,
            ):
                now = time.perf_counter()
                choice = chunk["choices"][0]
                text = choice.get("text") or ""
                if text:
                    if t_first is None:
                        t_first = now
                    t_last = now
                    pieces.append(text)
                    chunks += 1
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            # Every chunk is one token unless llama-cpp-python held text back (partial UTF-8);
            # a "length" finish means exactly max_tokens were generated.
            n_out = cmd["max_tokens"] if finish == "length" else chunks
            reply(
                {
                    "prompt_tokens": prompt_tokens,
                    "n_out": n_out,
                    "chunks": chunks,
                    "finish": finish,
                    "text": "".join(pieces),
                    **rates(prompt_tokens, n_out, t0, t_first, t_last),
                }
            )
        elif cmd["op"] == "quit":
            return


class LlamaSide:
    def __init__(self, model_path: str, threads: int, n_ctx: int, flash_attn: str):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--llama-worker",
             "--model-path", model_path, "--threads", str(threads), "--n-ctx", str(n_ctx),
             "--llama-flash-attn", flash_attn],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("llama-cpp-python worker exited")
        return json.loads(line)

    def call(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            self.call(op="quit")
        except Exception:
            pass
        self.proc.wait(timeout=30)


# --------------------------------------------------------------------------------------------
# basalt side


def converse_body(max_tokens: int) -> bytes:
    return json.dumps(
        {
            "messages": [{"role": "user", "content": [{"text": USER_MESSAGE}]}],
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
        }
    ).encode()


class BasaltRaw:
    """http.client + botocore SigV4 + botocore EventStreamBuffer, one keep-alive connection."""

    def __init__(self, host: str, port: int, model_id: str):
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials

        self.host, self.port = host, port
        self.path = f"/model/{quote(model_id, safe='')}/converse-stream"
        self.signer = SigV4Auth(Credentials("bench", "bench"), "bedrock", "us-east-1")
        self.conn = http.client.HTTPConnection(host, port, timeout=300)

    def _signed_headers(self, body: bytes) -> dict:
        from botocore.awsrequest import AWSRequest

        req = AWSRequest(
            method="POST",
            url=f"http://{self.host}:{self.port}{self.path}",
            data=body,
            headers={"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"},
        )
        self.signer.add_auth(req)
        return dict(req.headers.items())

    def generate(self, max_tokens: int) -> dict:
        from botocore.eventstream import EventStreamBuffer

        body = converse_body(max_tokens)
        headers = self._signed_headers(body)  # signing is client cost: done before the clock
        parser = EventStreamBuffer()
        t_first = t_last = None
        pieces: list[str] = []
        usage = stop = None
        t0 = time.perf_counter()
        self.conn.request("POST", self.path, body=body, headers=headers)
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"basalt: HTTP {resp.status}: {resp.read()[:500]!r}")
        while True:
            data = resp.read1(65536)
            if not data:
                break
            now = time.perf_counter()
            parser.add_data(data)
            for msg in parser:
                kind = msg.headers.get(":event-type")
                if msg.headers.get(":message-type") != "event":
                    raise RuntimeError(f"basalt stream error: {msg.headers} {msg.payload[:500]!r}")
                payload = json.loads(msg.payload) if msg.payload else {}
                if kind == "contentBlockDelta":
                    text = payload.get("delta", {}).get("text") or ""
                    if text:
                        if t_first is None:
                            t_first = now
                        t_last = now
                        pieces.append(text)
                elif kind == "messageStop":
                    stop = payload.get("stopReason")
                elif kind == "metadata":
                    usage = payload.get("usage")
        if usage is None:
            raise RuntimeError("basalt: no metadata event")
        prompt_tokens, n_out = usage["inputTokens"], usage["outputTokens"]
        return {
            "prompt_tokens": prompt_tokens,
            "n_out": n_out,
            "finish": stop,
            "text": "".join(pieces),
            **rates(prompt_tokens, n_out, t0, t_first, t_last),
        }


class BasaltBoto3:
    """Unmodified boto3 `converse_stream`, for reference (includes boto3's client-side cost)."""

    def __init__(self, endpoint: str, model_id: str):
        import boto3
        from botocore.config import Config

        self.model_id = model_id
        self.client = boto3.client(
            "bedrock-runtime",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(read_timeout=300, retries={"max_attempts": 1}),
        )

    def generate(self, max_tokens: int) -> dict:
        t_first = t_last = None
        pieces: list[str] = []
        usage = stop = None
        t0 = time.perf_counter()
        resp = self.client.converse_stream(
            modelId=self.model_id,
            messages=[{"role": "user", "content": [{"text": USER_MESSAGE}]}],
            inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
        )
        for event in resp["stream"]:
            now = time.perf_counter()
            if "contentBlockDelta" in event:
                text = event["contentBlockDelta"]["delta"].get("text") or ""
                if text:
                    if t_first is None:
                        t_first = now
                    t_last = now
                    pieces.append(text)
            elif "messageStop" in event:
                stop = event["messageStop"]["stopReason"]
            elif "metadata" in event:
                usage = event["metadata"]["usage"]
        prompt_tokens, n_out = usage["inputTokens"], usage["outputTokens"]
        return {
            "prompt_tokens": prompt_tokens,
            "n_out": n_out,
            "finish": stop,
            "text": "".join(pieces),
            **rates(prompt_tokens, n_out, t0, t_first, t_last),
        }


# --------------------------------------------------------------------------------------------


def read_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", default="http://127.0.0.1:8080")
    ap.add_argument("--model-id", default="anthropic.claude-3-5-sonnet-20241022-v2:0")
    ap.add_argument("--model-path", default="/tmp/basalt-models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--llama-flash-attn", choices=("off", "on"), default="on",
                    help="llama-cpp-python flash_attn (its own default is off). basalt leaves llama.cpp at AUTO, "
                         "which turns it on for the CPU backend, so on is the like-for-like setting")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of quiet between runs")
    ap.add_argument("--basalt-pid", type=int, help="basalt serve pid, for VmRSS")
    ap.add_argument("--no-boto3", action="store_true", help="skip the boto3 reference runs")
    ap.add_argument("--out", help="write the raw results as JSON here")
    args = ap.parse_args()

    if args.llama_worker:
        llama_worker(args.model_path, args.threads, args.n_ctx, args.llama_flash_attn == "on")
        return 0

    from urllib.parse import urlparse

    url = urlparse(args.endpoint)
    report: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "threads": args.threads,
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "loadavg_start": loadavg(),
    }
    if args.basalt_pid:
        report["basalt_idle_rss_kib_start"] = read_rss_kib(args.basalt_pid)

    report["llama_flash_attn"] = args.llama_flash_attn
    llama = LlamaSide(args.model_path, args.threads, args.n_ctx, args.llama_flash_attn)
    report["llama_cpp_python"] = llama.info["version"]
    report["llama_cpp_python_idle_rss_kib"] = llama.call(op="rss")["rss_kib"]
    raw = BasaltRaw(url.hostname, url.port or 80, args.model_id)
    sides = {"basalt": raw.generate}
    if not args.no_boto3:
        sides["basalt_boto3"] = BasaltBoto3(args.endpoint, args.model_id).generate
    prompt = CHATML.format(system=SYSTEM_PROMPT, user=USER_MESSAGE)
    sides["llama_cpp"] = lambda n: llama.call(op="generate", prompt=prompt, max_tokens=n)

    try:
        # Warm-up once each (first-request costs: connection, page faults, OpenMP pool start).
        warm = {name: fn(args.max_tokens) for name, fn in sides.items()}
        report["warmup"] = {k: {kk: v[kk] for kk in ("prompt_tokens", "n_out", "finish", "ttft_ms")}
                            for k, v in warm.items()}
        runs: dict[str, list[dict]] = {name: [] for name in sides}
        for r in range(args.rounds):
            for name, fn in sides.items():
                time.sleep(args.pause)
                res = fn(args.max_tokens)
                runs[name].append(res)
                print(f"round {r + 1} {name:13s} prompt={res['prompt_tokens']} out={res['n_out']} "
                      f"ttft={res['ttft_ms']:.1f}ms prefill={res['prefill_tok_s']:.0f}tok/s "
                      f"decode={res['decode_tok_s']:.1f}tok/s", file=sys.stderr)
        report["loadavg_end"] = loadavg()
        if args.basalt_pid:
            report["basalt_idle_rss_kib_end"] = read_rss_kib(args.basalt_pid)
    finally:
        llama.close()

    # Checks: same prompt tokens, same output length, same greedy text.
    checks = {
        "prompt_tokens": {n: sorted({x["prompt_tokens"] for x in rs}) for n, rs in runs.items()},
        "n_out": {n: sorted({x["n_out"] for x in rs}) for n, rs in runs.items()},
        "finish": {n: sorted({str(x["finish"]) for x in rs}) for n, rs in runs.items()},
    }
    b_text, l_text = runs["basalt"][0]["text"], runs["llama_cpp"][0]["text"]
    common = next((i for i, (a, b) in enumerate(zip(b_text, l_text)) if a != b), min(len(b_text), len(l_text)))
    checks["same_text"] = b_text == l_text
    checks["common_prefix_chars"] = common
    checks["text_chars"] = {"basalt": len(b_text), "llama_cpp": len(l_text)}
    report["checks"] = checks
    report["sample_text"] = {"basalt": b_text, "llama_cpp": l_text}

    summary = {}
    for name, rs in runs.items():
        summary[name] = {k: percentile_summary([x[k] for x in rs])
                         for k in ("ttft_ms", "prefill_tok_s", "decode_tok_s")}
    report["summary"] = summary
    b, l = summary["basalt"], summary["llama_cpp"]
    report["ratios"] = {
        "prefill": b["prefill_tok_s"]["median"] / l["prefill_tok_s"]["median"],
        "decode": b["decode_tok_s"]["median"] / l["decode_tok_s"]["median"],
        "ttft": b["ttft_ms"]["median"] / l["ttft_ms"]["median"],
        "ttft_overhead_ms": b["ttft_ms"]["median"] - l["ttft_ms"]["median"],
        # Paired per round (adjacent runs), less sensitive to drift in machine load.
        "ttft_overhead_ms_paired_median": statistics.median(
            x["ttft_ms"] - y["ttft_ms"] for x, y in zip(runs["basalt"], runs["llama_cpp"])),
    }
    report["runs"] = {n: [{k: v for k, v in x.items() if k != "text"} for x in rs] for n, rs in runs.items()}

    print_table(report)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    ok = (len(checks["prompt_tokens"]["basalt"]) == 1
          and checks["prompt_tokens"]["basalt"] == checks["prompt_tokens"]["llama_cpp"]
          and checks["n_out"]["basalt"] == checks["n_out"]["llama_cpp"] == [args.max_tokens])
    if not ok:
        print("WARNING: prompt or output token counts differ between the sides; see checks", file=sys.stderr)
    return 0


def print_table(report: dict) -> None:
    s, r, c = report["summary"], report["ratios"], report["checks"]
    print(f"\nthreads={report['threads']} max_tokens={report['max_tokens']} rounds={report['rounds']} "
          f"llama-cpp-python={report['llama_cpp_python']} flash_attn={report['llama_flash_attn']} load avg start/end: "
          f"{report['loadavg_start']} / {report.get('loadavg_end')}")
    print(f"prompt tokens: {c['prompt_tokens']}  output tokens: {c['n_out']}  finish: {c['finish']}")
    print(f"same greedy text: {c['same_text']} (common prefix {c['common_prefix_chars']} chars of "
          f"{c['text_chars']})")
    print(f"\n| side | TTFT ms median (min-max) | prefill tok/s median (min-max) | decode tok/s median (min-max) |")
    print("|---|---|---|---|")
    for name, m in s.items():
        cells = []
        for k, fmt in (("ttft_ms", "{:.1f}"), ("prefill_tok_s", "{:.0f}"), ("decode_tok_s", "{:.1f}")):
            v = m[k]
            cells.append(f"{fmt.format(v['median'])} ({fmt.format(v['min'])}-{fmt.format(v['max'])})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nbasalt / llama.cpp: prefill {r['prefill']:.3f}x, decode {r['decode']:.3f}x, "
          f"TTFT {r['ttft']:.3f}x; TTFT overhead {r['ttft_overhead_ms']:+.2f} ms "
          f"(paired median {r['ttft_overhead_ms_paired_median']:+.2f} ms)")
    for key in ("basalt_idle_rss_kib_start", "basalt_idle_rss_kib_end", "llama_cpp_python_idle_rss_kib"):
        if key in report:
            print(f"{key.replace('_kib', '')}: {report[key] / 1024:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
