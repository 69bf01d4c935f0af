"""Foundation model ids, inference profile ids and ARNs all reach the model."""

import pytest

from conftest import CLAUDE, CLAUDE_PROFILE, HAIKU_ARN

pytestmark = pytest.mark.models

MESSAGES = [{"role": "user", "content": [{"text": "Say hello."}]}]
INFERENCE = {"temperature": 0, "maxTokens": 16}


def answer(client, model_id):
    resp = client.converse(modelId=model_id, messages=MESSAGES, inferenceConfig=INFERENCE)
    return "".join(b["text"] for b in resp["output"]["message"]["content"])


@pytest.mark.parametrize(
    "model_id",
    [
        CLAUDE,
        CLAUDE_PROFILE,
        HAIKU_ARN,
        "arn:aws:bedrock:us-east-1::foundation-model/" + CLAUDE,
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + CLAUDE_PROFILE,
        "amazon.titan-text-express-v1",
        "meta.llama3-1-70b-instruct-v1:0",
        "amazon.nova-pro-v1:0",
    ],
)
def test_model_id_forms(bedrock_runtime, model_id):
    text = answer(bedrock_runtime, model_id)
    assert text.strip()


def test_profile_and_arn_reach_the_same_model(bedrock_runtime):
    # The default catalog serves them all with the one local model: greedy answers agree.
    base = answer(bedrock_runtime, CLAUDE)
    assert answer(bedrock_runtime, CLAUDE_PROFILE) == base
    assert answer(bedrock_runtime, "arn:aws:bedrock:us-east-1::foundation-model/" + CLAUDE) == base
