"""The S3 API subset on basalt's port (requests signed for `s3`), driven by boto3's own s3 client:
the seeds' flow of uploading documents for a knowledge base with nothing else running."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
import zlib

import boto3
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import REGION, make_client

KEY = "AKIDBASALTS3E2E00001"
SECRET = "basalt/s3+secret/0123456789abcdefghijklmn"

VERIFY_CONFIG = f"""
[auth]
mode = "verify"

[[auth.credentials]]
access_key_id = "{KEY}"
secret_access_key = "{SECRET}"
"""

PATH_STYLE = Config(s3={"addressing_style": "path"}, signature_version="s3v4")


def s3_client(endpoint: str, key: str = "test", secret: str = "test"):
    """make_client's retries and timeouts, plus path-style addressing and SigV4 presigning."""
    base = make_client("s3", endpoint, key=key, secret=secret)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=base.meta.config.merge(PATH_STYLE),
    )


@pytest.fixture(scope="module")
def s3(endpoint):
    return s3_client(endpoint)


@pytest.fixture
def bucket(s3):
    name = f"kb-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    # Empty and remove, whatever the test left.
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


# ---- buckets ----


def test_bucket_lifecycle(s3):
    name = f"life-{uuid.uuid4().hex[:8]}"
    created = s3.create_bucket(Bucket=name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)

    again = error_of(s3.create_bucket, Bucket=name)
    assert again["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 409

    s3.put_object(Bucket=name, Key="x.txt", Body=b"x")
    full = error_of(s3.delete_bucket, Bucket=name)
    assert full["Error"]["Code"] == "BucketNotEmpty"
    assert full["ResponseMetadata"]["HTTPStatusCode"] == 409

    s3.delete_object(Bucket=name, Key="x.txt")
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    gone = error_of(s3.head_bucket, Bucket=name)
    assert gone["Error"]["Code"] == "404"


@pytest.mark.parametrize("name", ["Upper-Case", "under_score", "ab", "a" * 64, "-dash", "1.2.3.4"])
def test_invalid_bucket_name(s3, name):
    resp = error_of(s3.create_bucket, Bucket=name)
    assert resp["Error"]["Code"] == "InvalidBucketName"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_no_such_bucket(s3):
    resp = error_of(s3.list_objects_v2, Bucket="no-such-bucket-here")
    assert resp["Error"]["Code"] == "NoSuchBucket"
    assert resp["Error"]["BucketName"] == "no-such-bucket-here"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert resp["ResponseMetadata"]["RequestId"]
    assert error_of(s3.delete_bucket, Bucket="no-such-bucket-here")["Error"]["Code"] == "NoSuchBucket"
    put = error_of(s3.put_object, Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert put["Error"]["Code"] == "NoSuchBucket"


# ---- objects ----


@pytest.mark.parametrize(
    "key",
    ["plain.txt", "docs/2024/q1 report.md", "ünïcödé/日本語.txt", "odd chars/a+b=c&d%41#~.txt"],
)
def test_put_get_head_delete(s3, bucket, key):
    body = f"content of {key}\n".encode()
    put = s3.put_object(
        Bucket=bucket, Key=key, Body=body, ContentType="text/markdown", Metadata={"author": "ana"}
    )
    assert put["ETag"] == md5_etag(body)

    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body
    assert got["ETag"] == md5_etag(body)
    assert got["ContentType"] == "text/markdown"
    assert got["ContentLength"] == len(body)
    assert got["Metadata"] == {"author": "ana"}
    assert got["LastModified"].year >= 2024

    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == md5_etag(body)
    assert head["Metadata"] == {"author": "ana"}

    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [(key, len(body), md5_etag(body))]

    s3.delete_object(Bucket=bucket, Key=key)
    assert error_of(s3.get_object, Bucket=bucket, Key=key)["Error"]["Code"] == "NoSuchKey"
    # Deleting again is not an error, as in S3.
    s3.delete_object(Bucket=bucket, Key=key)


def test_no_such_key(s3, bucket):
    resp = error_of(s3.get_object, Bucket=bucket, Key="missing/key.txt")
    assert resp["Error"]["Code"] == "NoSuchKey"
    assert resp["Error"]["Key"] == "missing/key.txt"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404
    head = error_of(s3.head_object, Bucket=bucket, Key="missing/key.txt")
    assert head["Error"]["Code"] == "404"


def test_default_content_type_and_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second"
    assert got["ContentType"] == "binary/octet-stream"


def test_range_requests(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r.bin", Body=b"0123456789")
    part = s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=2-4")
    assert part["Body"].read() == b"234"
    assert part["ContentRange"] == "bytes 2-4/10"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=7-")["Body"].read() == b"789"
    assert s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=-3")["Body"].read() == b"789"
    assert s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=5-99")["Body"].read() == b"56789"
    resp = error_of(s3.get_object, Bucket=bucket, Key="r.bin", Range="bytes=10-20")
    assert resp["Error"]["Code"] == "InvalidRange"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 416


@pytest.mark.parametrize("key", ["../escape.txt", "a/../../escape.txt", "a//b", "./x"])
def test_traversal_keys_are_refused(s3, bucket, key, basalt):
    resp = error_of(s3.put_object, Bucket=bucket, Key=key, Body=b"x")
    assert resp["Error"]["Code"] == "InvalidArgument"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not (basalt.data_dir / "objects" / "escape.txt").exists()
    assert not (basalt.data_dir / "escape.txt").exists()


def test_objects_live_under_the_data_dir(s3, bucket, basalt):
    s3.put_object(Bucket=bucket, Key="docs/a.txt", Body=b"on disk")
    path = basalt.data_dir / "objects" / bucket / "docs" / "a.txt"
    assert path.read_bytes() == b"on disk"


# ---- listing ----


def test_list_with_delimiter_and_paginator(s3, bucket):
    keys = [f"docs/{y}/{n:02}.md" for y in (2023, 2024) for n in range(3)]
    keys += [f"top-{n}.txt" for n in range(5)] + ["images/x.png", "docs/readme.md"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    root = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in root["CommonPrefixes"]] == ["docs/", "images/"]
    assert [o["Key"] for o in root["Contents"]] == [f"top-{n}.txt" for n in range(5)]
    assert root["KeyCount"] == 7

    docs = s3.list_objects_v2(Bucket=bucket, Prefix="docs/", Delimiter="/")
    assert [p["Prefix"] for p in docs["CommonPrefixes"]] == ["docs/2023/", "docs/2024/"]
    assert [o["Key"] for o in docs["Contents"]] == ["docs/readme.md"]

    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) == 4
    seen_keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    seen_prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert seen_keys == [f"top-{n}.txt" for n in range(5)]
    assert seen_prefixes == ["docs/", "images/"]

    flat = [
        o["Key"]
        for p in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 3}
        )
        for o in p.get("Contents", [])
    ]
    assert flat == sorted(keys)

    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=3)
    assert first["IsTruncated"] and first["KeyCount"] == 3
    second = s3.list_objects_v2(
        Bucket=bucket, MaxKeys=3, ContinuationToken=first["NextContinuationToken"]
    )
    assert [o["Key"] for o in second["Contents"]] == sorted(keys)[3:6]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="docs/readme.md")
    assert [o["Key"] for o in after["Contents"]] == [k for k in sorted(keys) if k > "docs/readme.md"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="nothing/")["KeyCount"] == 0

    # ListObjects (v1) too: some loaders still call it.
    v1 = s3.list_objects(Bucket=bucket, Prefix="docs/2023/")
    assert [o["Key"] for o in v1["Contents"]] == [f"docs/2023/{n:02}.md" for n in range(3)]


def test_listing_keys_with_special_characters(s3, bucket):
    keys = ["a b/c&d.txt", "ü/ß.txt", "x+y/%z.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b".")
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys)
    grouped = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert sorted(p["Prefix"] for p in grouped["CommonPrefixes"]) == sorted(["a b/", "ü/", "x+y/"])


def test_delete_objects(s3, bucket):
    for n in range(4):
        s3.put_object(Bucket=bucket, Key=f"d/{n}", Body=b".")
    resp = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "d/0"}, {"Key": "d/1"}, {"Key": "never-was"}, {"Key": "../x"}]},
    )
    assert sorted(d["Key"] for d in resp["Deleted"]) == ["d/0", "d/1", "never-was"]
    assert [(e["Key"], e["Code"]) for e in resp["Errors"]] == [("../x", "InvalidArgument")]
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["d/2", "d/3"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/2"}], "Quiet": True})
    assert "Deleted" not in quiet


# ---- multipart ----


def test_upload_file_and_download_file(s3, bucket, tmp_path):
    data = os.urandom(9 * 1024 * 1024) + b"tail"
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    # boto3's default threshold is 8 MiB: this goes as a multipart upload of two parts.
    s3.upload_file(str(src), bucket, "big/file.bin")

    head = s3.head_object(Bucket=bucket, Key="big/file.bin")
    assert head["ContentLength"] == len(data)
    parts = [data[: 8 * 1024 * 1024], data[8 * 1024 * 1024 :]]
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert head["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-2"'

    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big/file.bin", str(dst))
    assert dst.read_bytes() == data


def test_multipart_by_hand(s3, bucket):
    key = "parts/assembled.bin"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/pdf")
    uid = upload["UploadId"]
    p1 = b"a" * (5 * 1024 * 1024)
    p2 = b"b" * 100
    # Out of order on the wire; assembled by part number.
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    assert e1 == md5_etag(p1)

    wrong = error_of(
        s3.complete_multipart_upload,
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert wrong["Error"]["Code"] == "InvalidPart"
    assert wrong["ResponseMetadata"]["HTTPStatusCode"] == 400
    missing = error_of(
        s3.complete_multipart_upload,
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e2}]},
    )
    assert missing["Error"]["Code"] == "InvalidPart"
    order = error_of(
        s3.complete_multipart_upload,
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]},
    )
    assert order["Error"]["Code"] == "InvalidPartOrder"

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    md5s = hashlib.md5(p1).digest() + hashlib.md5(p2).digest()
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-2"'
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == p1 + p2
    assert got["ContentType"] == "application/pdf"

    gone = error_of(s3.upload_part, Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x")
    assert gone["Error"]["Code"] == "NoSuchUpload"
    assert gone["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_multipart_abort_and_small_parts(s3, bucket):
    key = "parts/aborted.bin"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=b"small")["ETag"]
    small = error_of(
        s3.complete_multipart_upload,
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert small["Error"]["Code"] == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
    again = error_of(s3.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=uid)
    assert again["Error"]["Code"] == "NoSuchUpload"
    assert error_of(s3.head_object, Bucket=bucket, Key=key)["Error"]["Code"] == "404"
    bogus = error_of(s3.abort_multipart_upload, Bucket=bucket, Key=key, UploadId="../../etc")
    assert bogus["Error"]["Code"] == "NoSuchUpload"


def _chunked_put(endpoint, bucket, key, data, key_id, secret):
    """PUT with an aws-chunked body and a CRC32 trailer, as SDKs stream uploads over TLS."""
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    body += b"0\r\nx-amz-checksum-crc32:" + crc.encode() + b"\r\n\r\n"
    url = f"{endpoint}/{bucket}/{key}"
    headers = {
        "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
    }
    req = AWSRequest(method="PUT", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(key_id, secret), "s3", REGION).add_auth(req)
    prepared = req.prepare()
    return urllib3.PoolManager().request(
        "PUT", prepared.url, body=body, headers=dict(prepared.headers.items())
    )


def test_aws_chunked_upload(s3, bucket, endpoint):
    data = os.urandom(200_000)
    resp = _chunked_put(endpoint, bucket, "chunked.bin", data, "test", "test")
    assert resp.status == 200, resp.data
    assert resp.headers["ETag"] == md5_etag(data)
    assert s3.get_object(Bucket=bucket, Key="chunked.bin")["Body"].read() == data


def test_unsupported_operation_is_not_implemented(s3, bucket):
    resp = error_of(s3.get_bucket_versioning, Bucket=bucket)
    assert resp["Error"]["Code"] == "NotImplemented"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_bedrock_still_served_on_the_same_port(s3, endpoint):
    bedrock = make_client("bedrock", endpoint)
    assert bedrock.list_foundation_models()["modelSummaries"]
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


# ---- verify mode ----


@pytest.fixture(scope="module")
def verifying(start_basalt):
    return start_basalt(VERIFY_CONFIG)


def test_verify_correct_key(verifying, tmp_path):
    s3 = s3_client(verifying.endpoint, KEY, SECRET)
    s3.create_bucket(Bucket="signed")
    s3.put_object(Bucket="signed", Key="a/b.txt", Body=b"signed body")
    assert s3.get_object(Bucket="signed", Key="a/b.txt")["Body"].read() == b"signed body"
    data = os.urandom(9 * 1024 * 1024)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    s3.upload_file(str(src), "signed", "big.bin")
    assert s3.head_object(Bucket="signed", Key="big.bin")["ContentLength"] == len(data)

    resp = _chunked_put(verifying.endpoint, "signed", "chunked.bin", b"abc" * 1000, KEY, SECRET)
    assert resp.status == 200, resp.data

    url = s3.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "a/b.txt"})
    got = urllib3.PoolManager().request("GET", url)
    assert got.status == 200 and got.data == b"signed body"

    bedrock = make_client("bedrock", verifying.endpoint, key=KEY, secret=SECRET)
    assert bedrock.list_foundation_models()["modelSummaries"]


def _signed_chunked_put(endpoint, bucket, key, data, key_id, secret, tamper=False):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signed, chained from the request's
    signature (what SDKs that sign payloads stream, e.g. the AWS SDK for Java)."""
    import hmac

    chunks = [data[i : i + 8192] for i in range(0, len(data), 8192)] + [b""]
    headers = {
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
    }
    req = AWSRequest(method="PUT", url=f"{endpoint}/{bucket}/{key}", data=b"", headers=headers)
    SigV4Auth(Credentials(key_id, secret), "s3", REGION).add_auth(req)
    amz_date = req.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    seed = req.headers["Authorization"].split("Signature=")[1]
    k = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    previous, body = seed, b""
    empty = hashlib.sha256(b"").hexdigest()
    for chunk in chunks:
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty,
             hashlib.sha256(chunk).hexdigest()]
        )
        previous = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        sent = chunk[:-1] + b"!" if tamper and chunk else chunk
        body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(sent), previous.encode(), sent)
    prepared = req.prepare()
    sent_headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    return urllib3.PoolManager().request("PUT", prepared.url, body=body, headers=sent_headers)


def test_verify_signed_chunks(verifying):
    s3 = s3_client(verifying.endpoint, KEY, SECRET)
    s3.create_bucket(Bucket="chunks")
    data = os.urandom(30_000)
    ok = _signed_chunked_put(verifying.endpoint, "chunks", "c.bin", data, KEY, SECRET)
    assert ok.status == 200, ok.data
    assert s3.get_object(Bucket="chunks", Key="c.bin")["Body"].read() == data
    bad = _signed_chunked_put(verifying.endpoint, "chunks", "t.bin", data, KEY, SECRET, tamper=True)
    assert bad.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in bad.data
    assert error_of(s3.head_object, Bucket="chunks", Key="t.bin")["Error"]["Code"] == "404"


def test_verify_wrong_secret(verifying):
    s3 = s3_client(verifying.endpoint, KEY, SECRET + "x")
    resp = error_of(s3.list_buckets)
    assert resp["Error"]["Code"] == "SignatureDoesNotMatch"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 403
    put = error_of(s3.put_object, Bucket="signed", Key="x", Body=b"x")
    assert put["Error"]["Code"] == "SignatureDoesNotMatch"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "a/b.txt"})
    assert urllib3.PoolManager().request("GET", url).status == 403


def test_verify_unknown_key(verifying):
    s3 = s3_client(verifying.endpoint, "AKIDNOSUCHKEY0000000", SECRET)
    resp = error_of(s3.list_buckets)
    assert resp["Error"]["Code"] == "InvalidAccessKeyId"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 403
