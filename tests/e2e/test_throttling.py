"""A full engine queue answers ThrottlingException, and the server keeps serving afterwards."""

import re
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import CLAUDE, make_client

pytestmark = pytest.mark.models

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "crates/basalt-models/catalog/default.toml"
LONG = [{"role": "user", "content": [{"text": "Count from 1 to 5000, one number per line."}]}]


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
