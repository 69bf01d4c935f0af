"""Converse `document` blocks become text the model reads; formats it cannot read are refused clearly."""

import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import CLAUDE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "crates/basalt-documents/tests/data"))
from make_fixtures import pdf  # noqa: E402  (the stdlib-only PDF writer the documents crate tests use)

pytestmark = pytest.mark.models
GREEDY = {"temperature": 0, "maxTokens": 40}


def ask(client, document, question):
    return client.converse(
        modelId=CLAUDE,
        messages=[{"role": "user", "content": [{"document": document}, {"text": question}]}],
        inferenceConfig=GREEDY,
    )


def test_the_model_quotes_a_pdf(bedrock_runtime):
    menu = pdf([["Harbor Lights Cafe menu", "The soup of the day is pumpkin soup.", "Opening hours: 8am to 4pm."]])
    response = ask(bedrock_runtime, {"format": "pdf", "name": "menu", "source": {"bytes": menu}},
                   "What is the soup of the day?")
    assert "pumpkin" in response["output"]["message"]["content"][0]["text"].lower()


def test_document_tokens_count_as_input(bedrock_runtime):
    text = {"format": "txt", "name": "notes", "source": {"bytes": b"Alpha beta gamma delta. " * 20}}
    with_doc = ask(bedrock_runtime, text, "Summarize.")
    plain = bedrock_runtime.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "Summarize."}]}],
                                     inferenceConfig=GREEDY)
    assert with_doc["usage"]["inputTokens"] > plain["usage"]["inputTokens"] + 80


@pytest.mark.parametrize(
    "document, needle",
    [
        ({"format": "pdf", "name": "broken", "source": {"bytes": b"%PDF-1.4 this is not really a pdf"}}, "pdf"),
        ({"format": "xlsx", "name": "sheet", "source": {"bytes": b"PK\x03\x04"}}, "xlsx"),
    ],
)
def test_unreadable_documents_are_refused(bedrock_runtime, document, needle):
    with pytest.raises(ClientError) as info:
        ask(bedrock_runtime, document, "What does it say?")
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert needle in info.value.response["Error"]["Message"].lower()


def test_a_document_needs_a_question(bedrock_runtime):
    with pytest.raises(ClientError) as info:
        bedrock_runtime.converse(
            modelId=CLAUDE,
            messages=[{"role": "user", "content": [{"document": {"format": "txt", "name": "n", "source": {"bytes": b"hi"}}}]}],
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "text" in info.value.response["Error"]["Message"].lower()


def test_images_to_a_text_model_name_its_modalities(bedrock_runtime):
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201e2213bc70000000049454e44ae426082")
    with pytest.raises(ClientError) as info:
        bedrock_runtime.converse(
            modelId=CLAUDE,
            messages=[{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": png}}}, {"text": "What is this?"}]}],
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "TEXT" in info.value.response["Error"]["Message"]
