# Generates botocore-signed request fixtures for basalt-wire's sigv4 tests.
import datetime, json, sys
from unittest import mock
import boto3, botocore, botocore.auth
from urllib.parse import urlsplit

FIXED = datetime.datetime(2025, 3, 14, 15, 9, 26)
AK, SK = "AKIDBASALTEXAMPLE", "bAsAlT/K7MDENG+bPxRfiCYEXAMPLEKEY"
out = []

class Captured(Exception):
    pass

def capture(name):
    def handler(request, **kw):
        u = urlsplit(request.url)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        out.append({
            "name": name,
            "method": request.method,
            "path_and_query": u.path + (("?" + u.query) if u.query else ""),
            "headers": [["Host", u.netloc]] + [[k, v.decode() if isinstance(v, bytes) else v] for k, v in request.headers.items()],
            "body": (body or b"").decode(),
        })
        raise Captured()
    return handler

def client(svc, **kw):
    s = boto3.session.Session(aws_access_key_id=AK, aws_secret_access_key=SK, region_name="us-west-2")
    return s.client(svc, endpoint_url="http://127.0.0.1:8080", **kw)

with mock.patch("botocore.auth.get_current_datetime", lambda *a, **k: FIXED):
    c = client("bedrock-runtime")
    c.meta.events.register("before-send", capture("bedrock-runtime-converse-arn"))
    try:
        c.converse(modelId="arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
                   messages=[{"role": "user", "content": [{"text": "Hello,  world! ünïcode"}]}],
                   inferenceConfig={"maxTokens": 64})
    except Captured:
        pass
    c = client("bedrock")
    c.meta.events.register("before-send", capture("bedrock-list-foundation-models-query"))
    try:
        c.list_foundation_models(byProvider="Anthropic", byOutputModality="TEXT")
    except Captured:
        pass
    c = client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}))
    c.meta.events.register("before-send", capture("s3-put-object"))
    try:
        c.put_object(Bucket="docs", Key="kb/a b+c=d/ü.txt", Body=b"hello s3")
    except Captured:
        pass
    url = client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}, signature_version="s3v4")).generate_presigned_url(
        "get_object", Params={"Bucket": "docs", "Key": "kb/a b+c=d/ü.txt"}, ExpiresIn=900)
    u = urlsplit(url)
    out.append({"name": "s3-presigned-get-object", "method": "GET", "path_and_query": u.path + "?" + u.query,
                "headers": [["host", u.netloc]], "body": ""})

    url = client("bedrock").generate_presigned_url("list_foundation_models", Params={"byProvider": "Meta Platforms"}, ExpiresIn=300)
    u = urlsplit(url)
    out.append({"name": "bedrock-presigned-list-foundation-models", "method": "GET", "path_and_query": u.path + "?" + u.query,
                "headers": [["host", u.netloc]], "body": ""})

json.dump({"source": f"generated once with botocore {botocore.__version__} (boto3 {boto3.__version__}); see comment in sigv4.rs tests",
           "access_key_id": AK, "secret_access_key": SK, "now": FIXED.strftime("%Y%m%dT%H%M%SZ"),
           "requests": out}, sys.stdout, indent=2, ensure_ascii=False)
print()
