"""[auth] mode = "verify": SigV4 signatures are checked against the configured keys."""

import pytest
from botocore.exceptions import ClientError

import aws_raw
from conftest import make_client

KEY = "AKIDBASALTE2ETEST01"
SECRET = "basalt/e2e+secret/0123456789abcdefghijklmn"

CONFIG = f"""
[auth]
mode = "verify"

[[auth.credentials]]
access_key_id = "{KEY}"
secret_access_key = "{SECRET}"
"""


@pytest.fixture(scope="module")
def verifying(start_basalt):
    return start_basalt(CONFIG)


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def test_correct_key(verifying):
    client = make_client("bedrock", verifying.endpoint, key=KEY, secret=SECRET)
    assert client.list_foundation_models()["modelSummaries"]


def test_wrong_secret(verifying):
    client = make_client("bedrock", verifying.endpoint, key=KEY, secret=SECRET + "x")
    resp = error_of(client.list_foundation_models)
    assert resp["Error"]["Code"] == "InvalidSignatureException"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_key(verifying):
    client = make_client("bedrock", verifying.endpoint, key="AKIDNOSUCHKEY0000000", secret=SECRET)
    resp = error_of(client.list_foundation_models)
    assert resp["Error"]["Code"] == "UnrecognizedClientException"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unsigned_request(verifying):
    resp = aws_raw.request(verifying.endpoint, "GET", "/foundation-models", signed=False)
    assert resp.status == 403
    assert resp.error_code == "MissingAuthenticationTokenException"


def test_presigned_query(verifying):
    url = aws_raw.presign(verifying.endpoint + "/foundation-models", KEY, SECRET)
    assert "X-Amz-Signature=" in url
    resp = aws_raw.get_url(url)
    assert resp.status == 200, resp.body[:300]
    assert resp.json()["modelSummaries"]


def test_presigned_query_wrong_secret(verifying):
    url = aws_raw.presign(verifying.endpoint + "/foundation-models", KEY, SECRET + "x")
    resp = aws_raw.get_url(url)
    assert resp.status == 403
    assert resp.error_code == "InvalidSignatureException"


@pytest.mark.parametrize("minutes", [-20, 20])
def test_clock_skew(verifying, minutes):
    resp = aws_raw.request(verifying.endpoint, "GET", "/foundation-models",
                           key=KEY, secret=SECRET, at=aws_raw.skewed(minutes))
    assert resp.status == 403, resp.body[:300]
    assert resp.error_code == "InvalidSignatureException"


def test_raw_signed_request_with_correct_key(verifying):
    resp = aws_raw.request(verifying.endpoint, "GET", "/foundation-models", key=KEY, secret=SECRET)
    assert resp.status == 200, resp.body[:300]


def test_default_mode_accepts_any_well_formed_signature(endpoint):
    client = make_client("bedrock", endpoint, key="AKIDANYTHING", secret="whatever")
    assert client.list_foundation_models()["modelSummaries"]
