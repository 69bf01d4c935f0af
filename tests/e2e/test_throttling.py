"""A full engine queue answers ThrottlingException, and the server keeps serving afterwards."""

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import BASALT_BIN, CLAUDE, make_client

pytestmark = pytest.mark.models

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "crates/basalt-models/catalog/default.toml"
LONG = [{"role": "user", "content": [{"text": "Count from 1 to 5000, one number per line."}]}]
STORY = [{"role": "user", "content": [{"text": "Write a very long story about a dragon who learns to bake bread. Make it at least 3000 words, with many chapters."}]}]


@pytest.fixture(scope="module")
def tiny_queue_server(start_basalt, tmp_path_factory):
    # The default catalog, with one decoding slot and room for one waiting request.
    catalog = re.sub(r"queue_depth = \d+", "queue_depth = 1", DEFAULT_CATALOG.read_text(), count=1)
    path = tmp_path_factory.mktemp("catalog") / "catalog.toml"
    path.write_text(catalog)
    return start_basalt(f'catalog = "{path}"\n')


def test_full_queue_is_throttled(tiny_queue_server):
    client = make_client("bedrock-runtime", tiny_queue_server.endpoint)
    results = []

    def long_stream():
        try:
            response = client.converse_stream(
                modelId=CLAUDE, messages=LONG, inferenceConfig={"temperature": 0, "maxTokens": 300}
            )
            for _ in response["stream"]:
                pass
            results.append("ok")
        except ClientError as error:
            results.append(error.response["Error"]["Code"])

    threads = [threading.Thread(target=long_stream) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    # One decodes, one waits, the rest find the queue full.
    assert results.count("ThrottlingException") >= 1, results
    assert results.count("ok") >= 1, results
    assert set(results) <= {"ok", "ThrottlingException"}, results

    after = client.converse(
        modelId=CLAUDE,
        messages=[{"role": "user", "content": [{"text": "Say hi."}]}],
        inferenceConfig={"temperature": 0, "maxTokens": 8},
    )
    assert after["stopReason"] in {"end_turn", "max_tokens"}


@pytest.fixture(scope="module")
def impatient_server(start_basalt):
    return start_basalt("request_timeout_secs = 3\nmax_concurrent_requests = 4\n")


def test_a_request_past_the_timeout_is_a_model_timeout_and_frees_the_model(impatient_server):
    client = make_client("bedrock-runtime", impatient_server.endpoint)
    started = time.monotonic()
    with pytest.raises(ClientError) as raised:
        # About a minute of decoding on a CPU: SmolLM2 writes until maxTokens.
        client.converse(modelId=CLAUDE, messages=STORY, inferenceConfig={"temperature": 0, "maxTokens": 4000})
    assert raised.value.response["Error"]["Code"] == "ModelTimeoutException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408
    assert "request_timeout_secs" in raised.value.response["Error"]["Message"]
    assert time.monotonic() - started < 20

    # The abandoned generation was cancelled: a short call gets the model within the timeout.
    after = client.converse(
        modelId=CLAUDE,
        messages=[{"role": "user", "content": [{"text": "Say hi."}]}],
        inferenceConfig={"temperature": 0, "maxTokens": 8},
    )
    assert after["stopReason"] in {"end_turn", "max_tokens"}


def test_limits_can_be_set_by_flag():
    help_text = subprocess.run([str(BASALT_BIN), "serve", "--help"], capture_output=True, text=True).stdout
    assert "--request-timeout-secs" in help_text and "--max-concurrent-requests" in help_text
