"""Gateway overhead: basalt and LiteLLM's proxy in front of the same fixed-latency fake upstream.

Started by run.sh, which builds/installs what is missing; this script starts the processes,
drives `oha` against each target and writes the results. Every target gets the same request
(a one-turn chat, non-streamed), the same rates and the same load generator:

  upstream   POST fake-upstream /v1/chat/completions          (the baseline: no gateway)
  basalt-oa  POST basalt /v1/chat/completions                 (OpenAI-compatible API)
  basalt-cv  POST basalt /model/{id}/converse                 (Bedrock Converse, unsigned: auth mode any)
  litellm    POST LiteLLM proxy /v1/chat/completions

Fixed-rate runs use `oha -q RPS --latency-correction` (open-loop schedule; latency counted from
when each request was due, so a stalled server cannot hide its queue: coordinated omission is
accounted for). The max-throughput run is closed-loop (`-c N`, no rate limit): the RPS it
reaches with no errors is the max sustained RPS. Added latency = gateway percentile − upstream
percentile at the same rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
UPSTREAM_MODEL = "fake-model"
QUESTION = "What is the capital of France?"
NICE = 0  # --nice: every process of the benchmark runs at this niceness

OPENAI_BODY = json.dumps({
    "model": MODEL_ID,
    "messages": [{"role": "user", "content": QUESTION}],
    "max_tokens": 64,
})
CONVERSE_BODY = json.dumps({
    "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
    "inferenceConfig": {"maxTokens": 64},
})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def proc_status(pid: int, key: str) -> int:
    """A kB value from /proc/<pid>/status (VmHWM, VmRSS)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                kids = open(f"/proc/{p}/task/{tid}/children").read().split()
                todo.extend(int(k) for k in kids)
        except OSError:
            pass
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (all threads), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / tick


class Proc:
    def __init__(self, name: str, args: list[str], log: Path, env: dict | None = None,
                 cpus: str | None = None):
        if cpus:
            args = ["taskset", "-c", cpus] + args
        if NICE:
            args = ["nice", "-n", str(NICE)] + args
        self.name = name
        self.log = open(log, "wb")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def pids(self) -> list[int]:
        return tree(self.p.pid)

    def hwm_kib(self) -> dict[int, int]:
        return {p: proc_status(p, "VmHWM") for p in self.pids()}

    def rss_kib(self) -> dict[int, int]:
        return {p: proc_status(p, "VmRSS") for p in self.pids()}

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()


def wait_http(url: str, body: str | None, proc: Proc, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            raise SystemExit(f"{proc.name} exited with {proc.p.returncode}; see its log")
        try:
            req = urllib.request.Request(url, data=body.encode() if body else None,
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status == 200:
                    return json.loads(r.read())
        except Exception as e:  # noqa: BLE001 - any failure means not ready yet
            last = e
        time.sleep(0.5)
    raise SystemExit(f"{proc.name} not ready at {url}: {last}")


def oha(oha_bin: str, url: str, body: str, seconds: float, rps: int | None, conns: int,
        cpus: str | None) -> dict:
    args = [oha_bin, "--no-tui", "--output-format", "json", "-z", f"{seconds}s",
            "-c", str(conns), "-m", "POST", "-T", "application/json", "-d", body,
            "--http-version", "1.1"]
    if rps:
        args += ["-q", str(rps), "--latency-correction"]
    args.append(url)
    if cpus:
        args = ["taskset", "-c", cpus] + args
    if NICE:
        args = ["nice", "-n", str(NICE)] + args
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    oha.cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"oha failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def summarize(raw: dict) -> dict:
    s, pct = raw["summary"], raw.get("latencyPercentiles", {})
    codes = raw.get("statusCodeDistribution", {})
    errors = raw.get("errorDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    # oha cancels the requests still in flight when the duration ends; those are not failures
    cut = errors.get("aborted due to deadline", 0)
    failed = sum(codes.values()) - ok + sum(errors.values()) - cut

    def ms(key):
        v = pct.get(key)
        return None if v is None else v * 1000.0

    return {
        "rps": s.get("requestsPerSec"),
        "p50_ms": ms("p50"), "p90_ms": ms("p90"), "p99_ms": ms("p99"), "p999_ms": ms("p99.9"),
        "max_ms": (s.get("slowest") or 0) * 1000.0,
        "ok": ok, "failed": failed, "cut_at_end": cut, "non_2xx": sum(codes.values()) - ok,
        "errors": errors, "status": codes,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--basalt", required=True)
    ap.add_argument("--upstream-bin", required=True)
    ap.add_argument("--oha", required=True)
    ap.add_argument("--litellm", help="the venv's litellm executable; omit to skip LiteLLM")
    ap.add_argument("--latency-ms", type=float, default=10.0)
    ap.add_argument("--rates", default="100,1000,5000")
    ap.add_argument("--seconds", type=float, default=10.0, help="per fixed-rate cell")
    ap.add_argument("--pre-seconds", type=float, default=3.0,
                    help="unrecorded run at the same rate just before each cell")
    ap.add_argument("--max-seconds", type=float, default=10.0, help="per max-throughput run (0: skip)")
    ap.add_argument("--max-conns", type=int, default=256)
    ap.add_argument("--serial-seconds", type=float, default=10.0,
                    help="per one-connection closed-loop run (0: skip)")
    ap.add_argument("--targets", default="upstream,basalt-oa,basalt-cv,litellm")
    ap.add_argument("--litellm-workers", type=int, default=2)
    ap.add_argument("--litellm-model", default="gpt-4o-mini",
                    help="the model name LiteLLM sends upstream (the fake ignores it); one in"
                         " LiteLLM's cost map is ~15%% cheaper for it than an unknown name")
    ap.add_argument("--basalt-log", default="info", help="BASALT_LOG for the basalt process")
    ap.add_argument("--pin", action="store_true",
                    help="pin: gateway on CPU 1, upstream + load generator on CPU 0")
    ap.add_argument("--nice", type=int, default=0,
                    help="run upstream, gateways and oha at this niceness (e.g. -10 on a machine"
                         " shared with builds, so they do not preempt the benchmark; needs root)")
    ap.add_argument("--perf", action="store_true",
                    help="also record `perf record -g` of basalt at the top rate (OpenAI route)")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()

    global NICE
    NICE = args.nice
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out_dir = Path(args.out) / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    rates = [int(r) for r in args.rates.split(",") if r]
    targets = args.targets.split(",")
    if "litellm" in targets and not args.litellm:
        targets.remove("litellm")
    gw_cpus, side_cpus = ("1", "0") if args.pin else (None, None)

    procs: list[Proc] = []
    result = {
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "load_at_start": load(), "latency_ms": args.latency_ms, "rates": rates,
        "seconds": args.seconds, "pre_seconds": args.pre_seconds, "pin": args.pin, "nice": args.nice, "basalt_log": args.basalt_log,
        "litellm_workers": args.litellm_workers, "litellm_model": args.litellm_model, "cells": {}, "max": {}, "rss": {}, "cpu": {},
        "nproc": os.cpu_count(),
    }
    try:
        # --- the fake upstream -----------------------------------------------------------
        up_port = free_port()
        upstream = Proc("fake-upstream", [args.upstream_bin, "--listen", f"127.0.0.1:{up_port}",
                                          "--latency-ms", str(args.latency_ms), "--threads", "1"],
                        out_dir / "upstream.log", cpus=side_cpus)
        procs.append(upstream)
        up_base = f"http://127.0.0.1:{up_port}/v1"
        wait_http(up_base + "/chat/completions", OPENAI_BODY, upstream)

        # --- basalt ----------------------------------------------------------------------
        b_port = free_port()
        catalog = out_dir / "catalog.toml"
        catalog.write_text(f"""region = "us-east-1"
account_id = "000000000000"

[served.fake]
provider = "openai"
base_url = "{up_base}"
model = "{UPSTREAM_MODEL}"
timeout_s = 30.0
max_concurrency = 100000
retries = 0

[[foundation_models]]
model_id = "{MODEL_ID}"
model_name = "Claude 3 Haiku"
provider_name = "Anthropic"
body_format = "anthropic-messages"
serve_with = "fake"
""")
        config = out_dir / "basalt.toml"
        config.write_text(f'catalog = "{catalog}"\n')
        data = out_dir / "basalt-data"
        data.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BASALT_")}
        env["BASALT_LOG"] = args.basalt_log
        basalt = Proc("basalt", [args.basalt, "serve", "--listen", f"127.0.0.1:{b_port}",
                                 "--data-dir", str(data), "--models-dir", str(data),
                                 "--config", str(config)],
                      out_dir / "basalt.log", env=env, cpus=gw_cpus)
        procs.append(basalt)
        b_base = f"http://127.0.0.1:{b_port}"
        sample = wait_http(b_base + "/v1/chat/completions", OPENAI_BODY, basalt)
        assert sample["choices"][0]["message"]["content"], sample
        quoted = MODEL_ID.replace(":", "%3A")
        sample = wait_http(f"{b_base}/model/{quoted}/converse", CONVERSE_BODY, basalt)
        assert sample["output"]["message"]["content"][0]["text"], sample
        result["rss"]["basalt_idle_kib"] = basalt.rss_kib()[basalt.p.pid]

        # --- LiteLLM ---------------------------------------------------------------------
        litellm = None
        l_base = None
        if "litellm" in targets:
            l_port = free_port()
            lcfg = out_dir / "litellm.yaml"
            lcfg.write_text(f"""model_list:
  - model_name: "{MODEL_ID}"
    litellm_params:
      model: "openai/{args.litellm_model}"
      api_base: "{up_base}"
      api_key: "fake-key"
litellm_settings:
  set_verbose: false
  json_logs: true
  turn_off_message_logging: true
  callbacks: []
  success_callback: []
  failure_callback: []
  request_timeout: 30
  num_retries: 0
general_settings:
  disable_spend_logs: true
  disable_error_logs: true
""")
            lenv = dict(os.environ)
            lenv.update({"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
                         "LITELLM_MODE": "PRODUCTION", "DISABLE_SCHEMA_UPDATE": "true"})
            litellm = Proc("litellm", [args.litellm, "--config", str(lcfg), "--host", "127.0.0.1",
                                       "--port", str(l_port), "--num_workers", str(args.litellm_workers),
                                       "--telemetry", "False"],
                           out_dir / "litellm.log", env=lenv, cpus=gw_cpus)
            procs.append(litellm)
            l_base = f"http://127.0.0.1:{l_port}"
            sample = wait_http(l_base + "/v1/chat/completions", OPENAI_BODY, litellm, timeout=240)
            assert sample["choices"][0]["message"]["content"], sample
            time.sleep(3)
            result["rss"]["litellm_idle_kib"] = sum(litellm.rss_kib().values())

        urls = {
            "upstream": (up_base + "/chat/completions", OPENAI_BODY, upstream),
            "basalt-oa": (b_base + "/v1/chat/completions", OPENAI_BODY, basalt),
            "basalt-cv": (f"{b_base}/model/{quoted}/converse", CONVERSE_BODY, basalt),
        }
        if litellm:
            urls["litellm"] = (l_base + "/v1/chat/completions", OPENAI_BODY, litellm)

        # CPU the gateways burn with no requests (background tasks), over 5 s
        gws = {"basalt": basalt, **({"litellm": litellm} if litellm else {})}
        idle0 = {k: cpu_seconds(p.pids()) for k, p in gws.items()}
        time.sleep(5)
        result["idle_cpu_pct"] = {k: 100 * (cpu_seconds(p.pids()) - idle0[k]) / 5 for k, p in gws.items()}
        print(f"idle CPU % of one core: {result['idle_cpu_pct']}", flush=True)

        def conns_for(rps: int) -> int:
            # in flight ≈ rps × latency; leave room for a slow gateway's queue (oha's rate
            # schedule is shared by all connections)
            return max(16, min(1024, int(rps * (args.latency_ms / 1000.0) * 4)))

        # warm-up: connection pools, allocator, JIT-less Python imports on first request
        for t in targets:
            url, body, _ = urls[t]
            oha(args.oha, url, body, 5, 100, 16, side_cpus)

        for rate in rates:
            for t in targets:
                url, body, proc = urls[t]
                # a few seconds at the same rate first, so that the gateway's upstream pool and
                # its workers are at their steady state when the measured run starts
                oha(args.oha, url, body, args.pre_seconds, rate, conns_for(rate), side_cpus)
                cpu0 = cpu_seconds(proc.pids())
                la = load()
                m0 = machine_busy()
                raw = oha(args.oha, url, body, args.seconds, rate, conns_for(rate), side_cpus)
                m1 = machine_busy()
                cpu = cpu_seconds(proc.pids()) - cpu0
                cell = summarize(raw)
                # how busy both cores were during the cell, and what the load generator used
                cell["machine_busy_pct"] = 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
                cell["oha_cpu_s"] = oha.cpu_s
                cell["load_before"] = la
                cell["cpu_s"] = cpu
                cell["cpu_us_per_req"] = 1e6 * cpu / max(1, cell["ok"])
                result["cells"][f"{t}@{rate}"] = cell
                (out_dir / f"oha-{t}-{rate}.json").write_text(json.dumps(raw))
                print(f"{t:10s} @{rate:5d}/s: achieved {cell['rps']:8.1f}/s p50 {cell['p50_ms']:8.3f} ms"
                      f" p99 {cell['p99_ms']:8.3f} ms ok {cell['ok']} failed {cell['failed']}"
                      f" cpu {cell['cpu_us_per_req']:.0f} µs/req; oha {cell['oha_cpu_s']:.1f} s CPU;"
                      f" both cores {cell['machine_busy_pct']:.0f}% busy; load {la}", flush=True)
                time.sleep(1)

        if args.perf and shutil.which("perf"):
            # 3 s of DWARF call graphs from the middle of a cell at the top rate on /v1 (basalt is
            # built without frame pointers, so `-g` alone loses the user-space callers)
            url, body, _ = urls["basalt-oa"]
            top = max(rates)
            perf_data = out_dir / "perf.data"
            load_gen = subprocess.Popen(
                [*(["nice", "-n", str(NICE)] if NICE else []),
                 args.oha, "--no-tui", "--output-format", "quiet", "-z", "8s", "-c", str(conns_for(top)),
                 "-m", "POST", "-T", "application/json", "-d", body, "-q", str(top), url],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3)
            subprocess.run(["perf", "record", "--call-graph", "dwarf,16384", "-F", "499",
                            "-p", str(basalt.p.pid), "-o", str(perf_data), "--", "sleep", "3"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            load_gen.wait()
            script = out_dir / "perf.script"
            with open(script, "w") as f:
                subprocess.run(["perf", "script", "-i", str(perf_data)], stdout=f, stderr=subprocess.DEVNULL)
            with open(out_dir / "perf-summary.txt", "w") as f:
                subprocess.run([sys.executable, str(HERE / "perf_summary.py"), str(script)], stdout=f)
            with open(out_dir / "perf-report.txt", "w") as f:
                subprocess.run(["perf", "report", "-i", str(perf_data), "--no-children",
                                "--percent-limit", "0.5", "--stdio", "-g", "none"],
                               stdout=f, stderr=subprocess.DEVNULL)
            script.unlink()
            print((out_dir / "perf-summary.txt").read_text(), flush=True)

        # one request at a time (closed loop, 1 connection): the gateway's own added time with
        # no queueing behind other requests
        if args.serial_seconds > 0:
            for t in targets:
                url, body, proc = urls[t]
                raw = oha(args.oha, url, body, args.serial_seconds, None, 1, side_cpus)
                cell = summarize(raw)
                cell["load_before"] = load()
                result.setdefault("serial", {})[t] = cell
                (out_dir / f"oha-{t}-serial.json").write_text(json.dumps(raw))
                print(f"{t:10s} serial (1 conn): {cell['rps']:7.1f}/s p50 {cell['p50_ms']:.3f} ms"
                      f" p99 {cell['p99_ms']:.3f} ms ok {cell['ok']} failed {cell['failed']}", flush=True)

        # max sustained: closed loop, many connections, no rate limit
        for t in targets if args.max_seconds > 0 else []:
            url, body, proc = urls[t]
            cpu0 = cpu_seconds(proc.pids())
            la = load()
            raw = oha(args.oha, url, body, args.max_seconds, None, args.max_conns, side_cpus)
            cell = summarize(raw)
            cell["cpu_s"] = cpu_seconds(proc.pids()) - cpu0
            cell["load_before"] = la
            cell["conns"] = args.max_conns
            result["max"][t] = cell
            (out_dir / f"oha-{t}-max.json").write_text(json.dumps(raw))
            print(f"{t:10s} max (closed loop, {args.max_conns} conns): {cell['rps']:8.1f}/s"
                  f" p50 {cell['p50_ms']:.2f} ms p99 {cell['p99_ms']:.2f} ms ok {cell['ok']} failed {cell['failed']}",
                  flush=True)
            time.sleep(1)

        result["rss"]["basalt_peak_kib"] = basalt.hwm_kib()[basalt.p.pid]
        result["rss"]["basalt_after_kib"] = basalt.rss_kib()[basalt.p.pid]
        if litellm:
            hwm = litellm.hwm_kib()
            result["rss"]["litellm_peak_kib_by_pid"] = hwm
            result["rss"]["litellm_peak_kib"] = sum(hwm.values())
        result["rss"]["upstream_peak_kib"] = upstream.hwm_kib()[upstream.p.pid]
    finally:
        for p in reversed(procs):
            p.stop()
        result["load_at_end"] = load()
        (out_dir / "result.json").write_text(json.dumps(result, indent=1))

    table = markdown(result, targets)
    (out_dir / "table.md").write_text(table)
    print()
    print(table)
    print(f"raw results: {out_dir}")


def markdown(r: dict, targets: list[str]) -> str:
    names = {"upstream": "upstream direct (baseline)", "basalt-oa": "basalt `/v1/chat/completions`",
             "basalt-cv": "basalt Converse", "litellm": "LiteLLM `/v1/chat/completions`"}
    lines = ["| target | rate/s | achieved/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors | gateway CPU µs/req |",
             "|---|---|---|---|---|---|---|---|---|"]
    for rate in r["rates"]:
        base = r["cells"].get(f"upstream@{rate}")
        for t in targets:
            c = r["cells"].get(f"{t}@{rate}")
            if not c:
                continue
            bad = c["failed"]
            if c["rps"] < 0.95 * rate:
                bad = f"{bad} (saturated)"
            if t == "upstream" or not base:
                a50 = a99 = "—"
            else:
                a50 = f"{c['p50_ms'] - base['p50_ms']:+.3f}"
                a99 = f"{c['p99_ms'] - base['p99_ms']:+.3f}"
            cpu = "—" if t == "upstream" else f"{c['cpu_us_per_req']:.0f}"
            lines.append(f"| {names[t]} | {rate} | {c['rps']:.0f} | {c['p50_ms']:.3f} | {c['p99_ms']:.3f}"
                         f" | {a50} | {a99} | {bad} | {cpu} |")
    serial = r.get("serial", {})
    if serial:
        base = serial.get("upstream")
        lines += ["", "| target | one at a time: p50 ms | p99 ms | added p50 ms | added p99 ms |", "|---|---|---|---|---|"]
        for t in targets:
            c = serial.get(t)
            if not c:
                continue
            if t == "upstream" or not base:
                a50 = a99 = "—"
            else:
                a50 = f"{c['p50_ms'] - base['p50_ms']:+.3f}"
                a99 = f"{c['p99_ms'] - base['p99_ms']:+.3f}"
            lines.append(f"| {names[t]} | {c['p50_ms']:.3f} | {c['p99_ms']:.3f} | {a50} | {a99} |")
    lines += ["", "| target | max sustained RPS (closed loop) | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
    for t in targets:
        c = r["max"].get(t)
        if c:
            lines.append(f"| {names[t]} | {c['rps']:.0f} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} | {c['failed']} |")
    rss = r["rss"]
    lines += ["", "| process | idle RSS MiB | peak RSS (VmHWM) MiB |", "|---|---|---|"]
    if "basalt_peak_kib" in rss:
        lines.append(f"| basalt serve | {rss['basalt_idle_kib'] / 1024:.1f} | {rss['basalt_peak_kib'] / 1024:.1f} |")
    if "litellm_peak_kib" in rss:
        n = len(rss["litellm_peak_kib_by_pid"])
        lines.append(f"| LiteLLM proxy ({n} processes, summed) | {rss['litellm_idle_kib'] / 1024:.1f} | {rss['litellm_peak_kib'] / 1024:.1f} |")
    if "upstream_peak_kib" in rss:
        lines.append(f"| fake upstream | — | {rss['upstream_peak_kib'] / 1024:.1f} |")
    lines += ["", f"load average: {r['load_at_start']} at start, {r.get('load_at_end')} at end;"
              f" upstream latency {r['latency_ms']} ms; {r['seconds']} s per cell; pinned: {r['pin']};"
              f" niceness {r.get('nice', 0)}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
