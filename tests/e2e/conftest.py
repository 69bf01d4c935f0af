"""Fixtures for the end-to-end suite: a real `basalt serve` process and boto3 clients on it.

Environment:
  BASALT_BIN             the binary (default: $CARGO_TARGET_DIR or ~/.cache/basalt/target, release/basalt)
  BASALT_MODELS_DIR      models fetched by `basalt models fetch` (default ~/.local/share/basalt/models)
  BASALT_REQUIRE_MODELS  "1" (set by `make test`): missing models fail the run instead of skipping
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REGION = "us-east-1"
STARTUP_TIMEOUT_S = 120

# Model ids the default catalog maps to the local SmolLM2 model (DESIGN.md: seed code runs as written).
CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
CLAUDE_PROFILE = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
HAIKU_ARN = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
TITAN_TEXT = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
NOVA = "amazon.nova-pro-v1:0"


def _default_bin() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache/basalt/target")
    return Path(target) / "release" / "basalt"


BASALT_BIN = Path(os.environ.get("BASALT_BIN") or _default_bin())
MODELS_DIR = Path(
    os.environ.get("BASALT_MODELS_DIR") or Path.home() / ".local/share/basalt/models"
)


def models_present() -> bool:
    return MODELS_DIR.is_dir() and any(MODELS_DIR.rglob("*.gguf"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "models: needs the SmolLM2 GGUF model in BASALT_MODELS_DIR (make models)"
    )


def pytest_collection_modifyitems(config, items):
    if models_present():
        return
    needing = [item for item in items if item.get_closest_marker("models")]
    if not needing:
        return
    if os.environ.get("BASALT_REQUIRE_MODELS") == "1":
        raise pytest.UsageError(
            f"BASALT_REQUIRE_MODELS=1 but no *.gguf under {MODELS_DIR}: run `make models`"
        )
    skip = pytest.mark.skip(reason=f"no model in {MODELS_DIR} (run `make models`)")
    for item in needing:
        item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BasaltServer:
    """One `basalt serve` child process; its stdout+stderr go to a log file (no pipe to fill)."""

    def __init__(self, workdir: Path, config_text: str | None = None):
        if not BASALT_BIN.is_file():
            pytest.fail(f"basalt binary not found at {BASALT_BIN}: run `make build` or set BASALT_BIN")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "basalt.log"
        args = [
            str(BASALT_BIN), "serve",
            "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", str(self.data_dir),
            "--models-dir", str(MODELS_DIR),
        ]
        if config_text is not None:
            cfg = workdir / "basalt.toml"
            cfg.write_text(config_text)
            args += ["--config", str(cfg)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BASALT_")}
        env.setdefault("RUST_LOG", "info")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        self._wait_ready()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/healthz", timeout=timeout) as r:
                return r.status == 200
        except OSError:
            return False

    def _wait_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.stop()
                pytest.fail(f"basalt serve exited with {rc} before ready; log tail:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.25)
        self.stop()
        pytest.fail(f"basalt serve not healthy after {STARTUP_TIMEOUT_S}s; log tail:\n{self.log_tail()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: graceful shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def make_client(service: str, endpoint: str, key="test", secret="test", validate=True):
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        parameter_validation=validate,
    )
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=config,
    )


def wait_for_job(agent, kb_id, ds_id, job_id, timeout=300):
    """Polls an ingestion job until it ends; fails the test when it does not in `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)["ingestionJob"]
        if job["status"] in ("COMPLETE", "FAILED", "STOPPED"):
            return job
        time.sleep(0.5)
    pytest.fail(f"ingestion job {job_id} did not finish in {timeout}s")


@pytest.fixture(scope="session")
def basalt(tmp_path_factory):
    server = BasaltServer(tmp_path_factory.mktemp("basalt"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def endpoint(basalt) -> str:
    return basalt.endpoint


@pytest.fixture(scope="session")
def start_basalt(tmp_path_factory):
    """Starts another server with the given TOML config; all are stopped at session end."""
    started = []

    def start(config_text: str) -> BasaltServer:
        server = BasaltServer(tmp_path_factory.mktemp("basalt-cfg"), config_text)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def bedrock_runtime(endpoint):
    return make_client("bedrock-runtime", endpoint)


@pytest.fixture(scope="session")
def bedrock(endpoint):
    return make_client("bedrock", endpoint)


@pytest.fixture(scope="session")
def bedrock_runtime_unvalidated(endpoint):
    """Sends what boto3's own parameter validation would refuse (maxTokens 0, temperature 1.5)."""
    return make_client("bedrock-runtime", endpoint, validate=False)


@pytest.fixture(scope="session")
def client_factory(endpoint):
    def factory(service: str, **kw):
        return make_client(service, kw.pop("endpoint", endpoint), **kw)

    return factory


@pytest.fixture
def server_alive(basalt):
    """After the test: the server still answers (bad input must never take it down)."""
    yield
    assert basalt.proc.poll() is None, f"basalt died; log tail:\n{basalt.log_tail()}"
    assert basalt.healthy(timeout=10), f"basalt stopped answering; log tail:\n{basalt.log_tail()}"
