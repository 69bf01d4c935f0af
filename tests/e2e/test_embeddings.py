"""Embedding models through InvokeModel (Titan v1/v2, Cohere) and the OpenAI-compatible /v1/embeddings,
served by all-MiniLM-L6-v2: vector sizes, norms, and that related sentences sit closer than unrelated."""

import json
import math
import urllib.request

import pytest

from conftest import models_present

pytestmark = pytest.mark.models

CAT, KITTEN, MARKET = "The cat sits on the mat.", "A kitten rests on a rug.", "Stock markets fell sharply today."


def invoke(client, model_id, body):
    response = client.invoke_model(modelId=model_id, body=json.dumps(body))
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def titan(client, model_id, text, **extra):
    body, _ = invoke(client, model_id, {"inputText": text, **extra})
    return body


def test_titan_v1_shape_and_similarity_order(bedrock_runtime):
    body, headers = invoke(bedrock_runtime, "amazon.titan-embed-text-v1", {"inputText": CAT})
    assert len(body["embedding"]) == 1536  # Titan G1's size; the 384-d vector is zero-padded
    assert body["inputTextTokenCount"] > 0
    assert int(headers["x-amzn-bedrock-input-token-count"]) == body["inputTextTokenCount"]
    cat = body["embedding"]
    kitten = titan(bedrock_runtime, "amazon.titan-embed-text-v1", KITTEN)["embedding"]
    market = titan(bedrock_runtime, "amazon.titan-embed-text-v1", MARKET)["embedding"]
    assert cosine(cat, kitten) > cosine(cat, market) + 0.2


@pytest.mark.parametrize("dimensions", [512, 1024])
def test_titan_v2_dimensions_and_normalization(bedrock_runtime, dimensions):
    body = titan(bedrock_runtime, "amazon.titan-embed-text-v2:0", CAT, dimensions=dimensions, normalize=True)
    assert len(body["embedding"]) == dimensions
    assert abs(norm(body["embedding"]) - 1.0) < 1e-3
    assert body["embeddingsByType"]["float"] == body["embedding"]


def test_titan_v2_padding_keeps_cosine(bedrock_runtime):
    small = [titan(bedrock_runtime, "amazon.titan-embed-text-v2:0", t, dimensions=512)["embedding"] for t in (CAT, KITTEN)]
    large = [titan(bedrock_runtime, "amazon.titan-embed-text-v2:0", t, dimensions=1024)["embedding"] for t in (CAT, KITTEN)]
    assert abs(cosine(*small) - cosine(*large)) < 1e-6


def test_titan_v2_binary_type(bedrock_runtime):
    body = titan(bedrock_runtime, "amazon.titan-embed-text-v2:0", CAT, dimensions=512, embeddingTypes=["float", "binary"])
    binary = body["embeddingsByType"]["binary"]
    assert len(binary) == 512 and set(binary) <= {0, 1}


def test_cohere_batch_and_similarity(bedrock_runtime):
    body, _ = invoke(bedrock_runtime, "cohere.embed-english-v3",
                     {"texts": [CAT, KITTEN, MARKET], "input_type": "search_document"})
    vectors = body["embeddings"]
    assert body["response_type"] == "embeddings_floats"
    assert body["texts"] == [CAT, KITTEN, MARKET]
    assert len(vectors) == 3 and all(len(v) == 1024 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2


def test_cohere_embedding_types(bedrock_runtime):
    body, _ = invoke(bedrock_runtime, "cohere.embed-multilingual-v3",
                     {"texts": [CAT], "input_type": "search_query", "embedding_types": ["float", "int8"]})
    assert body["response_type"] == "embeddings_by_type"
    assert len(body["embeddings"]["float"][0]) == len(body["embeddings"]["int8"][0])
    assert all(-128 <= x <= 127 for x in body["embeddings"]["int8"][0])


def test_batch_equals_single(bedrock_runtime):
    single = titan(bedrock_runtime, "amazon.titan-embed-text-v2:0", MARKET, dimensions=1024)["embedding"]
    body, _ = invoke(bedrock_runtime, "cohere.embed-english-v3", {"texts": [CAT, MARKET], "input_type": "clustering"})
    assert cosine(single, body["embeddings"][1]) > 0.9999


@pytest.mark.parametrize(
    "model_id, body, needle",
    [
        ("amazon.titan-embed-text-v2:0", {"inputText": ""}, "inputtext"),
        ("amazon.titan-embed-text-v2:0", {"inputText": "x", "dimensions": 300}, "dimensions"),
        ("amazon.titan-embed-text-v2:0", {"inputText": "x", "dimensions": 256}, "384"),
        ("cohere.embed-english-v3", {"texts": ["x"]}, "input_type"),
        ("cohere.embed-english-v3", {"texts": [], "input_type": "search_query"}, "texts"),
    ],
)
def test_bad_embedding_bodies(bedrock_runtime, model_id, body, needle):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        bedrock_runtime.invoke_model(modelId=model_id, body=json.dumps(body))
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert needle in info.value.response["Error"]["Message"].lower()


def test_titan_input_over_the_model_limit_is_refused(bedrock_runtime):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        titan(bedrock_runtime, "amazon.titan-embed-text-v1", "word " * 600)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "token" in info.value.response["Error"]["Message"].lower()


def test_embedding_model_refuses_converse(bedrock_runtime):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        bedrock_runtime.converse(modelId="amazon.titan-embed-text-v2:0",
                                 messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert info.value.response["Error"]["Code"] == "ValidationException"


def post_json(endpoint, path, payload):
    request = urllib.request.Request(endpoint + path, data=json.dumps(payload).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_openai_embeddings(endpoint):
    status, body = post_json(endpoint, "/v1/embeddings",
                             {"model": "amazon.titan-embed-text-v2:0", "input": [CAT, KITTEN, MARKET], "dimensions": 384})
    assert status == 200, body
    vectors = [d["embedding"] for d in body["data"]]
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert all(len(v) == 384 for v in vectors)
    assert body["usage"]["prompt_tokens"] > 0
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2


def test_openai_embeddings_errors(endpoint):
    status, body = post_json(endpoint, "/v1/embeddings", {"model": "no-such-model", "input": "x"})
    assert status == 404 and "no-such-model" in body["error"]["message"]
    status, body = post_json(endpoint, "/v1/embeddings", {"model": "amazon.titan-embed-text-v2:0", "input": []})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
