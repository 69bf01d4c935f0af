"""bedrock control plane: foundation models and inference profiles."""

import pytest

from conftest import CLAUDE, CLAUDE_PROFILE, LLAMA, TITAN_TEXT

SEED_MODELS = [CLAUDE, TITAN_TEXT, LLAMA, "anthropic.claude-3-sonnet-20240229-v1:0"]


@pytest.fixture(scope="module")
def all_models(bedrock):
    return bedrock.list_foundation_models()["modelSummaries"]


def test_list_foundation_models_shape(all_models):
    assert all_models
    for m in all_models:
        assert m["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{m['modelId']}"
        assert m["modelName"] and m["providerName"]
        assert m["inputModalities"] and m["outputModalities"]
        assert isinstance(m["responseStreamingSupported"], bool)
        assert m["inferenceTypesSupported"]
        assert m["modelLifecycle"]["status"] in {"ACTIVE", "LEGACY"}
    ids = {m["modelId"] for m in all_models}
    missing = [m for m in SEED_MODELS if m not in ids]
    assert not missing, f"seed models not in the catalog: {missing}"


@pytest.mark.parametrize(
    "kwargs, keep",
    [
        ({"byProvider": "Anthropic"}, lambda m: m["providerName"].lower() == "anthropic"),
        ({"byProvider": "Amazon"}, lambda m: m["providerName"].lower() == "amazon"),
        ({"byOutputModality": "TEXT"}, lambda m: "TEXT" in m["outputModalities"]),
        ({"byOutputModality": "EMBEDDING"}, lambda m: "EMBEDDING" in m["outputModalities"]),
        ({"byInferenceType": "ON_DEMAND"}, lambda m: "ON_DEMAND" in m["inferenceTypesSupported"]),
        ({"byInferenceType": "PROVISIONED"}, lambda m: "PROVISIONED" in m["inferenceTypesSupported"]),
    ],
    ids=["provider-anthropic", "provider-amazon", "output-text", "output-embedding", "on-demand", "provisioned"],
)
def test_list_foundation_models_filters(bedrock, all_models, kwargs, keep):
    filtered = bedrock.list_foundation_models(**kwargs)["modelSummaries"]
    assert sorted(m["modelId"] for m in filtered) == sorted(m["modelId"] for m in all_models if keep(m))


def test_filters_select_something(bedrock):
    anthropic = bedrock.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
    assert CLAUDE in {m["modelId"] for m in anthropic}
    text = bedrock.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
    assert CLAUDE in {m["modelId"] for m in text}


@pytest.mark.parametrize("identifier", [CLAUDE, f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}"])
def test_get_foundation_model(bedrock, all_models, identifier):
    details = bedrock.get_foundation_model(modelIdentifier=identifier)["modelDetails"]
    assert details["modelId"] == CLAUDE
    assert details["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}"
    listed = next(m for m in all_models if m["modelId"] == CLAUDE)
    for key in ("modelName", "providerName", "inputModalities", "outputModalities"):
        assert details[key] == listed[key]


def test_list_inference_profiles(bedrock):
    profiles = bedrock.list_inference_profiles()["inferenceProfileSummaries"]
    by_id = {p["inferenceProfileId"]: p for p in profiles}
    assert CLAUDE_PROFILE in by_id, sorted(by_id)
    p = by_id[CLAUDE_PROFILE]
    assert p["inferenceProfileArn"].endswith(f":inference-profile/{CLAUDE_PROFILE}")
    assert p["status"] == "ACTIVE"
    assert p["type"] == "SYSTEM_DEFINED"
    assert any(m["modelArn"].endswith(f"foundation-model/{CLAUDE}") for m in p["models"])


def test_get_inference_profile(bedrock):
    p = bedrock.get_inference_profile(inferenceProfileIdentifier=CLAUDE_PROFILE)
    assert p["inferenceProfileId"] == CLAUDE_PROFILE
    assert p["inferenceProfileName"]
    assert p["models"]
