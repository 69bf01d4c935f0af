"""The OpenAI-compatible API through the official `openai` SDK against a real `basalt serve`:
chat completions (plain, streamed, tools, structured output), models, embeddings and errors."""

import json
import urllib.request

import jsonschema
import openai
import pytest

from conftest import CLAUDE, CLAUDE_PROFILE

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
PARIS = [{"role": "user", "content": "What is the capital of France?"}]
GREEDY = {"temperature": 0, "max_tokens": 60}

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city", "parameters": WEATHER_SCHEMA}}
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "population_millions": {"type": "number"}},
    "required": ["city", "country", "population_millions"],
}


@pytest.fixture(scope="session")
def client(endpoint):
    return openai.OpenAI(base_url=endpoint + "/v1", api_key="unused", max_retries=0, timeout=120)


def raw_post(endpoint, path, data: bytes):
    request = urllib.request.Request(endpoint + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.models
def test_chat_completion(client):
    response = client.chat.completions.create(model=HAIKU, messages=PARIS, **GREEDY)
    assert response.id.startswith("chatcmpl-")
    assert response.object == "chat.completion"
    assert response.model == HAIKU
    assert response.created > 1_700_000_000
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert "Paris" in choice.message.content, choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = response.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.models
def test_chat_with_system_and_content_parts_and_a_profile_id(client):
    response = client.chat.completions.create(
        model=CLAUDE_PROFILE,
        messages=[
            {"role": "system", "content": "You answer geography questions in one sentence."},
            {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]},
        ],
        max_completion_tokens=60, temperature=0)
    assert response.model == CLAUDE_PROFILE
    assert "Paris" in response.choices[0].message.content


@pytest.mark.models
def test_max_tokens_is_finish_reason_length(client):
    response = client.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": "Write a long story about the sea."}],
        max_tokens=5, temperature=0)
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 5


@pytest.mark.models
def test_stop_sequence(client):
    response = client.chat.completions.create(model=HAIKU, messages=PARIS, stop=["Paris"], **GREEDY)
    assert "Paris" not in response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"


@pytest.mark.models
def test_stream_assembles_to_the_same_text_with_usage(client):
    plain = client.chat.completions.create(model=HAIKU, messages=PARIS, **GREEDY)
    stream = client.chat.completions.create(
        model=HAIKU, messages=PARIS, stream=True, stream_options={"include_usage": True}, **GREEDY)
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [plain.choices[0].finish_reason]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.completion_tokens == plain.usage.completion_tokens
    assert usage.prompt_tokens == plain.usage.prompt_tokens


@pytest.mark.models
def test_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model=HAIKU, messages=PARIS, stream=True, **GREEDY))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


@pytest.mark.models
@pytest.mark.parametrize("prompt", ["What is the weather in Paris?", "Write me a poem about the sea instead."])
def test_required_tool_choice_gives_calls_that_satisfy_the_schema(client, prompt):
    response = client.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": prompt}], tools=[WEATHER_TOOL],
        tool_choice="required", temperature=0, max_tokens=400)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message
    assert choice.message.tool_calls
    for call in choice.message.tool_calls:
        assert call.type == "function" and call.function.name == "get_weather" and call.id
        jsonschema.validate(json.loads(call.function.arguments), WEATHER_SCHEMA)


@pytest.mark.models
def test_named_tool_choice_and_parallel_tool_calls_false(client):
    response = client.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": "Weather in Oslo and in Madrid?"}],
        tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False, temperature=0, max_tokens=400)
    calls = response.choices[0].message.tool_calls
    assert len(calls) == 1 and calls[0].function.name == "get_weather"


@pytest.mark.models
def test_full_tool_loop(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(
        model=HAIKU, messages=messages, tools=[WEATHER_TOOL], tool_choice="required", temperature=0, max_tokens=400)
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature_celsius": 18, "sky": "sunny"})},
    ]
    final = client.chat.completions.create(
        model=HAIKU, messages=messages, tools=[WEATHER_TOOL], temperature=0, max_tokens=400)
    choice = final.choices[0]
    assert choice.finish_reason == "stop", choice.message
    assert not choice.message.tool_calls
    answer = choice.message.content.lower()
    assert "sunny" in answer or "18" in answer, answer


@pytest.mark.models
def test_streamed_tool_call(client):
    stream = client.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL], tool_choice="required", temperature=0, max_tokens=400, stream=True)
    calls = {}
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] = (delta.function.name if delta.function else None) or call["name"]
            call["arguments"] += (delta.function.arguments if delta.function else None) or ""
        finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert sorted(calls) == list(range(len(calls))) and calls
    for call in calls.values():
        assert call["id"] and call["name"] == "get_weather"
        jsonschema.validate(json.loads(call["arguments"]), WEATHER_SCHEMA)


@pytest.mark.models
@pytest.mark.parametrize("prompt", ["Describe Paris.", "Write a haiku about rain, not JSON."])
def test_response_format_json_schema(client, prompt):
    response = client.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=300,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True}})
    assert response.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(response.choices[0].message.content), CITY_SCHEMA)


@pytest.mark.models
def test_response_format_json_object(client):
    response = client.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": "Describe Paris as JSON."}], temperature=0,
        max_tokens=200, response_format={"type": "json_object"})
    if response.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(response.choices[0].message.content), dict)


def test_models_list_the_catalog(client, bedrock):
    listed = client.models.list()
    ids = [m.id for m in listed.data]
    catalog = [m["modelId"] for m in bedrock.list_foundation_models()["modelSummaries"]]
    assert sorted(ids) == sorted(catalog)
    assert HAIKU in ids and TITAN_EMBED in ids
    haiku = next(m for m in listed.data if m.id == HAIKU)
    assert haiku.object == "model" and haiku.owned_by == "Anthropic" and haiku.created > 0
    assert client.models.retrieve(HAIKU).id == HAIKU
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-4o")
    assert info.value.body["code"] == "model_not_found"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=PARIS)
    assert "gpt-4o" in info.value.message
    assert info.value.body["type"] == "invalid_request_error"


def test_n_above_one_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=HAIKU, messages=PARIS, n=2)
    assert info.value.body["param"] == "n"


def test_embedding_model_in_chat_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=TITAN_EMBED, messages=PARIS)
    assert "embedding model" in info.value.message and "/v1/embeddings" in info.value.message


@pytest.mark.parametrize("messages, param", [
    ([{"role": "robot", "content": "hi"}], "messages[0].role"),
    ([{"role": "tool", "content": "sunny"}], "messages[0].tool_call_id"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}],
     "messages[0].content[0].image_url.url"),
])
def test_bad_messages_are_400(client, messages, param, server_alive):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=HAIKU, messages=messages)
    assert info.value.body["param"] == param, info.value.body


@pytest.mark.models
def test_inline_image_on_a_text_model_is_a_clear_400(client):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=HAIKU, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]}])
    assert "image" in info.value.message


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"messages": []}', b'{"model": "x"}'])
def test_malformed_bodies_are_400_in_openai_shape(endpoint, body, server_alive):
    status, answer = raw_post(endpoint, "/v1/chat/completions", body)
    assert status == 400, answer
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert answer["error"]["type"] == "invalid_request_error"


def test_unknown_v1_path_is_404_in_openai_shape(endpoint):
    status, answer = raw_post(endpoint, "/v1/completions", b"{}")
    assert status == 404 and "error" in answer


@pytest.mark.models
def test_embeddings_through_the_sdk(client):
    response = client.embeddings.create(model=TITAN_EMBED, input=["The cat sits on the mat.", "A kitten rests."],
                                        dimensions=384)
    assert [d.index for d in response.data] == [0, 1]
    assert all(len(d.embedding) == 384 for d in response.data)
    assert response.usage.prompt_tokens > 0
    # The SDK asks for base64 by default when numpy is absent or present; either way floats come back.
    single = client.embeddings.create(model=TITAN_EMBED, input="The cat sits on the mat.", dimensions=384)
    assert single.data[0].embedding == pytest.approx(response.data[0].embedding, abs=1e-5)


def test_chat_model_in_embeddings_is_400(client):
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=HAIKU, input="hello")


API_KEY = "basalt-openai-test-key"


@pytest.fixture(scope="module")
def verifying(start_basalt):
    return start_basalt(f"""
[auth]
mode = "verify"
api_keys = ["{API_KEY}"]

[[auth.credentials]]
access_key_id = "AKIDBASALTOPENAI0001"
secret_access_key = "not-used-by-these-tests"
""")


def test_verify_mode_takes_the_api_key_as_bearer(verifying):
    good = openai.OpenAI(base_url=verifying.endpoint + "/v1", api_key=API_KEY, max_retries=0)
    assert HAIKU in [m.id for m in good.models.list().data]
    bad = openai.OpenAI(base_url=verifying.endpoint + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.models.list()
    assert info.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model=HAIKU, messages=PARIS)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model=TITAN_EMBED, input="x")
