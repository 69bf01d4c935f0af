"""Raw HTTP against basalt, for what boto3 refuses to send (malformed JSON, unsigned
requests, presigned URLs, forged clocks) and for reading AWS-shaped error responses."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from unittest import mock

import botocore.auth
import urllib3
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"
# All four Bedrock services sign with the signing name "bedrock".
SIGNING_NAME = "bedrock"

_http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=120))


@dataclass
class RawResponse:
    status: int
    headers: dict  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        """The AWS error code as botocore reads it: x-amzn-ErrorType, else the body's __type/code."""
        code = self.headers.get("x-amzn-errortype", "")
        if not code:
            try:
                doc = self.json()
            except ValueError:
                return ""
            code = doc.get("__type") or doc.get("code") or doc.get("Code") or ""
        # "ValidationException:http://internal.amazon.com/coral/..." and "ns#Code" forms.
        return code.split(":")[0].split("#")[-1]

    @property
    def message(self) -> str:
        try:
            doc = self.json()
        except ValueError:
            return ""
        return doc.get("message") or doc.get("Message") or ""


def sign(req: AWSRequest, key: str, secret: str, at: datetime | None = None) -> None:
    """SigV4 header signing; `at` forges the signing clock (for clock-skew tests)."""
    auth = SigV4Auth(Credentials(key, secret), SIGNING_NAME, REGION)
    if at is None:
        auth.add_auth(req)
    else:
        naive_utc = at.astimezone(timezone.utc).replace(tzinfo=None)
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=naive_utc):
            auth.add_auth(req)


def presign(url: str, key: str, secret: str, expires: int = 300) -> str:
    req = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(Credentials(key, secret), SIGNING_NAME, REGION, expires=expires).add_auth(req)
    return req.prepare().url


def request(
    endpoint: str,
    method: str,
    path: str,
    body: bytes | str | None = b"",
    headers: dict | None = None,
    *,
    signed: bool = True,
    key: str = "test",
    secret: str = "test",
    at: datetime | None = None,
    timeout: float = 120,
) -> RawResponse:
    if isinstance(body, str):
        body = body.encode()
    body = body or b""
    req = AWSRequest(method=method, url=endpoint + path, data=body, headers=dict(headers or {}))
    if signed:
        sign(req, key, secret, at)
    prepared = req.prepare()
    resp = _http.request(
        method,
        prepared.url,
        body=body if body else None,
        headers=dict(prepared.headers.items()),
        timeout=urllib3.Timeout(connect=10, read=timeout),
        preload_content=True,
    )
    return RawResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.data)


def get_url(url: str) -> RawResponse:
    resp = _http.request("GET", url)
    return RawResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.data)


def skewed(minutes: int) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


def squash(text: str) -> str:
    """Lower-case letters only: 'maxTokens', 'max_tokens' and 'max tokens' all read 'maxtokens'."""
    return re.sub(r"[^a-z]", "", text.lower())
