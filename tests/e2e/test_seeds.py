"""The seeds' boto3 snippets (shared/seeds/*.txt), run as written against basalt.

Only the client construction (`boto3.client("bedrock-runtime", region_name=...)`) is replaced by
the fixture; the rest is the snippet, followed by assertions on the real response.
Skipped from the seeds: snippets that need resources created elsewhere (guardrails, provisioned
throughput, knowledge bases, agents, PDF files on disk), image/video models, and the
`tiktoken` example (it downloads its encodings at run time).
"""

import json

import pytest

pytestmark = pytest.mark.models


def test_seed_000_invoke_claude_rag(bedrock_runtime):
    bedrock = bedrock_runtime
    # On-demand invocation (Claude)
    response = bedrock.invoke_model(
        modelId="anthropic.claude-3-5-sonnet-20241022-v2:0",
        contentType="application/json",
        accept="application/json",
        body=json.dumps({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Explain RAG in two sentences."}]
        })
    )
    result = json.loads(response["body"].read())
    print(result["content"][0]["text"])

    assert result["content"][0]["text"].strip()
    assert result["role"] == "assistant"
    assert result["usage"]["output_tokens"] <= 1024


def test_seed_000_stream_claude_haiku(bedrock_runtime):
    bedrock = bedrock_runtime
    pieces = []
    # Streaming invocation
    response = bedrock.invoke_model_with_response_stream(
        modelId="anthropic.claude-3-5-sonnet-20241022-v2:0",
        body=json.dumps({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Write a haiku about distributed systems."}]
        })
    )
    for event in response["body"]:
        chunk = json.loads(event["chunk"]["bytes"])
        if chunk.get("type") == "content_block_delta":
            print(chunk["delta"]["text"], end="", flush=True)
            pieces.append(chunk["delta"]["text"])

    assert "".join(pieces).strip()


def test_seed_001_basic_invocation(bedrock_runtime):
    bedrock = bedrock_runtime
    prompt = "Explain event-driven architecture in 50 words."
    request_body = json.dumps({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 200,
        "messages": [
            {"role": "user", "content": prompt}
        ]
    })
    response = bedrock.invoke_model(
        modelId='anthropic.claude-3-sonnet-20240229-v1:0',
        body=request_body
    )
    response_body = json.loads(response['body'].read())
    output = response_body['content'][0]['text']
    print(output)

    assert output.strip()
    assert response_body["usage"]["output_tokens"] <= 200


def test_seed_001_streaming_lambda_handler(bedrock_runtime, monkeypatch):
    import boto3

    # The snippet builds its client inside the handler: hand it the fixture's.
    monkeypatch.setattr(boto3, "client", lambda *a, **kw: bedrock_runtime)

    def lambda_handler(event, context):
        bedrock = boto3.client('bedrock-runtime')
        user_message = json.loads(event['body'])['message']
        request_body = json.dumps({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": user_message}]
        })
        # Invoke with streaming
        response = bedrock.invoke_model_with_response_stream(
            modelId='anthropic.claude-3-sonnet-20240229-v1:0',
            body=request_body
        )
        # Stream chunks back to client
        for event in response['body']:
            chunk = json.loads(event['chunk']['bytes'])
            if chunk['type'] == 'content_block_delta':
                text_chunk = chunk['delta']['text']
                yield text_chunk

    text = "".join(lambda_handler({"body": json.dumps({"message": "What is AWS Lambda?"})}, None))
    assert text.strip()


def test_seed_003_converse_stream_prompt_router(bedrock_runtime):
    bedrock_runtime = bedrock_runtime
    MODEL_ID = "arn:aws:bedrock:us-east-1:123412341234:default-prompt-router/meta.llama:1"
    user_message = "Describe the purpose of a 'hello world' program in one line."
    messages = [
        {
            "role": "user",
            "content": [{"text": user_message}],
        }
    ]
    streaming_response = bedrock_runtime.converse_stream(
        modelId=MODEL_ID,
        messages=messages,
    )
    seen, text = [], ""
    for chunk in streaming_response["stream"]:
        seen.extend(chunk)
        if "contentBlockDelta" in chunk:
            text = chunk["contentBlockDelta"]["delta"]["text"]
            print(text, end="")
        if "messageStop" in chunk:
            print()
        if "metadata" in chunk:
            if "trace" in chunk["metadata"]:
                print(json.dumps(chunk['metadata']['trace'], indent=2))
                assert chunk["metadata"]["trace"]["promptRouter"]["invokedModelId"]

    assert "contentBlockDelta" in seen and "messageStop" in seen and seen[-1] == "metadata"


def test_seed_004_invoke_claude_with_system(bedrock_runtime):
    client = bedrock_runtime
    # Invoke Claude 3.5 Sonnet using the Messages API
    body = json.dumps({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 1024,
        "system": "You are a senior AWS solutions architect. Be concise and practical.",
        "messages": [
            {
                "role": "user",
                "content": "Explain the difference between Bedrock Knowledge Bases and a custom RAG pipeline in 3 bullet points."
            }
        ],
        "temperature": 0.3,
        "top_p": 0.9,
    })
    response = client.invoke_model(
        modelId="anthropic.claude-3-5-sonnet-20241022-v2:0",
        body=body,
        contentType="application/json",
        accept="application/json",
    )
    result = json.loads(response["body"].read())
    answer = result["content"][0]["text"]
    print(answer)
    # Usage stats
    usage = result["usage"]
    print(f"Input tokens: {usage['input_tokens']}, Output tokens: {usage['output_tokens']}")

    assert answer.strip()
    assert usage["input_tokens"] > 20  # the system prompt and the question
    assert 0 < usage["output_tokens"] <= 1024


def test_seed_004_invoke_titan_text_express(bedrock_runtime):
    client = bedrock_runtime
    body = json.dumps({
        "inputText": "Summarise the main benefits of serverless computing in 5 sentences.",
        "textGenerationConfig": {
            "maxTokenCount": 512,
            "temperature": 0.5,
            "topP": 0.9,
            "stopSequences": [],
        },
    })
    response = client.invoke_model(
        modelId="amazon.titan-text-express-v1",
        body=body,
        contentType="application/json",
        accept="application/json",
    )
    result = json.loads(response["body"].read())
    print(result["results"][0]["outputText"])
    print(f"Token count: {result['results'][0]['tokenCount']}")

    assert result["results"][0]["outputText"].strip()
    assert 0 < result["results"][0]["tokenCount"] <= 512


def test_seed_004_invoke_llama_3_1_70b(bedrock_runtime):
    client = bedrock_runtime
    # Llama 3.1 uses a specific chat template
    prompt = """<|begin_of_text|><|start_header_id|>system<|end_header_id|>
You are a helpful Python tutor.<|eot_id|>
<|start_header_id|>user<|end_header_id|>
Write a Python function that implements binary search with type hints.<|eot_id|>
<|start_header_id|>assistant<|end_header_id|>"""
    body = json.dumps({
        "prompt": prompt,
        "max_gen_len": 512,
        "temperature": 0.2,
        "top_p": 0.9,
    })
    response = client.invoke_model(
        modelId="meta.llama3-1-70b-instruct-v1:0",
        body=body,
        contentType="application/json",
        accept="application/json",
    )
    result = json.loads(response["body"].read())
    print(result["generation"])
    print(f"Prompt tokens: {result['prompt_token_count']}, Generation tokens: {result['generation_token_count']}")

    assert result["generation"].strip()
    assert result["prompt_token_count"] > 10
    assert 0 < result["generation_token_count"] <= 512


def test_seed_004_stream_full_event_lifecycle(bedrock_runtime):
    client = bedrock_runtime
    body = json.dumps({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 2048,
        "system": "You are an expert cloud architect.",
        "messages": [
            {
                "role": "user",
                "content": "Write a step-by-step guide to implementing blue/green deployments on AWS ECS."
            }
        ],
        "temperature": 0.4,
    })
    response = client.invoke_model_with_response_stream(
        modelId="anthropic.claude-3-5-sonnet-20241022-v2:0",
        body=body,
        contentType="application/json",
        accept="application/json",
    )
    # Stream events from the response
    stream = response.get("body")
    full_text = ""
    input_tokens = 0
    output_tokens = 0
    for event in stream:
        chunk = event.get("chunk")
        if chunk:
            chunk_data = json.loads(chunk.get("bytes").decode())
            event_type = chunk_data.get("type")
            if event_type == "content_block_delta":
                delta = chunk_data.get("delta", {})
                if delta.get("type") == "text_delta":
                    text_piece = delta.get("text", "")
                    full_text += text_piece
                    print(text_piece, end="", flush=True)  # Real-time output
            elif event_type == "message_delta":
                usage = chunk_data.get("usage", {})
                output_tokens = usage.get("output_tokens", 0)
            elif event_type == "message_start":
                usage = chunk_data.get("message", {}).get("usage", {})
                input_tokens = usage.get("input_tokens", 0)
            elif event_type == "message_stop":
                stop_reason = chunk_data.get("stop_reason")
                print(f"\n\n[Stop reason: {stop_reason}]")
    print(f"\n[Tokens — Input: {input_tokens}, Output: {output_tokens}]")
    print(f"[Total characters: {len(full_text)}]")

    assert full_text.strip()
    assert input_tokens > 10
    assert 0 < output_tokens <= 2048


def test_seed_004_converse_support_agent(bedrock_runtime):
    client = bedrock_runtime
    response = client.converse(
        modelId="anthropic.claude-3-5-sonnet-20241022-v2:0",
        system=[
            {
                "text": "You are a support agent for Techoral. Be helpful and concise."
                # In practice, fetch prompt text from Bedrock Prompt Management
                # and substitute variables before passing here
            }
        ],
        messages=[{"role": "user", "content": [{"text": "How do I reset my password?"}]}],
    )
    print(response["output"]["message"]["content"][0]["text"])

    assert response["output"]["message"]["content"][0]["text"].strip()
    assert response["stopReason"] in {"end_turn", "max_tokens"}


def test_seed_004_count_tokens_then_converse(bedrock_runtime):
    client = bedrock_runtime
    # Count tokens without invoking the model (no charge)
    messages = [
        {"role": "user", "content": [{"text": "Summarise this 50-page document: " + "x" * 50000}]}
    ]
    # The seed calls count_tokens(modelId=..., messages=messages) and reads "inputTokenCount";
    # botocore's model (the wire spec) wraps the request as input={"converse": {...}} and
    # answers "inputTokens". We follow botocore.
    token_count_response = client.count_tokens(
        modelId="anthropic.claude-3-5-sonnet-20241022-v2:0",
        input={"converse": {"messages": messages}},
    )
    total_tokens = token_count_response["inputTokens"]
    print(f"Input token count: {total_tokens}")
    assert total_tokens > 50000 // 64  # 50,000 characters cannot fit in fewer tokens

    MAX_TOKENS = 100_000
    if total_tokens > MAX_TOKENS:
        print(f"Input exceeds {MAX_TOKENS} token budget — truncating or chunking required")
    else:
        from botocore.exceptions import ClientError

        try:
            # Safe to invoke
            response = client.converse(
                modelId="anthropic.claude-3-5-sonnet-20241022-v2:0",
                messages=messages,
            )
        except ClientError as e:
            # Within Claude's 200K budget but not within the local model's context window:
            # Bedrock's answer for a prompt beyond the context is a ValidationException.
            assert e.response["Error"]["Code"] == "ValidationException", e.response
            assert str(total_tokens) in e.response["Error"]["Message"], e.response
        else:
            print(response["output"]["message"]["content"][0]["text"])
            assert response["usage"]["inputTokens"] == total_tokens
