// The AWS SDK for JavaScript v3 against a running `basalt serve`, as a Node user calls Bedrock.
// Driven by tests/e2e/test_js_sdk.py, which starts the server and checks what this prints: one
// JSON object with each call's answer (or its error's name and message).
//
// Environment:
//   BASALT_ENDPOINT   http://127.0.0.1:PORT
//   HTTP_VERSION      "2" (cleartext HTTP/2 with prior knowledge), "1.1", or "default" (each
//                     client's own handler, as a user who sets only `endpoint` gets: HTTP/2 for
//                     bedrock-runtime, HTTP/1.1 for the others)
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the credentials to sign with
//   MODEL_ID          a chat model id from the catalog
//   KNOWLEDGE_BASE_ID a knowledge base to Retrieve from ("" skips Retrieve)
//   CALLS             comma-separated subset of the calls below (default: all)

import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { BedrockClient, ListFoundationModelsCommand } from "@aws-sdk/client-bedrock";
import { BedrockAgentRuntimeClient, RetrieveCommand } from "@aws-sdk/client-bedrock-agent-runtime";
import { NodeHttp2Handler, NodeHttpHandler } from "@smithy/node-http-handler";

const endpoint = process.env.BASALT_ENDPOINT;
const httpVersion = process.env.HTTP_VERSION ?? "2";
const modelId = process.env.MODEL_ID ?? "anthropic.claude-3-haiku-20240307-v1:0";
const knowledgeBaseId = process.env.KNOWLEDGE_BASE_ID ?? "";
const question = "What is the capital of France?";

// Each client gets its own handler, so an HTTP/2 session is never shared across clients.
function requestHandler() {
  if (httpVersion === "2") return { requestHandler: new NodeHttp2Handler({ requestTimeout: 120_000 }) };
  if (httpVersion === "1.1") return { requestHandler: new NodeHttpHandler({ requestTimeout: 120_000 }) };
  return {};
}

const common = () => ({
  endpoint,
  region: "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
  maxAttempts: 1,
  ...requestHandler(),
});

const runtime = new BedrockRuntimeClient(common());
const bedrock = new BedrockClient(common());
const agentRuntime = new BedrockAgentRuntimeClient(common());

const converseInput = {
  modelId,
  system: [{ text: "You are a helpful assistant." }],
  messages: [{ role: "user", content: [{ text: question }] }],
  inferenceConfig: { maxTokens: 24, temperature: 0 },
};

const anthropicBody = JSON.stringify({
  anthropic_version: "bedrock-2023-05-31",
  max_tokens: 24,
  temperature: 0,
  system: "You are a helpful assistant.",
  messages: [{ role: "user", content: question }],
});

const calls = {
  async converse() {
    const answer = await runtime.send(new ConverseCommand(converseInput));
    return {
      text: answer.output.message.content.map((block) => block.text ?? "").join(""),
      stopReason: answer.stopReason,
      usage: answer.usage,
    };
  },

  async converseStream() {
    const answer = await runtime.send(new ConverseStreamCommand(converseInput));
    const kinds = [];
    let text = "";
    let usage = null;
    let stopReason = null;
    for await (const event of answer.stream) {
      const kind = Object.keys(event).find((key) => event[key] !== undefined);
      kinds.push(kind);
      if (event.contentBlockDelta) text += event.contentBlockDelta.delta.text ?? "";
      if (event.messageStop) stopReason = event.messageStop.stopReason;
      if (event.metadata) usage = event.metadata.usage;
    }
    return { text, kinds, stopReason, usage };
  },

  async invokeModel() {
    const answer = await runtime.send(
      new InvokeModelCommand({ modelId, body: anthropicBody, contentType: "application/json", accept: "application/json" }),
    );
    const body = JSON.parse(new TextDecoder().decode(answer.body));
    return { text: body.content.map((block) => block.text ?? "").join(""), stopReason: body.stop_reason, usage: body.usage };
  },

  async invokeModelWithResponseStream() {
    const answer = await runtime.send(
      new InvokeModelWithResponseStreamCommand({ modelId, body: anthropicBody, contentType: "application/json" }),
    );
    const types = [];
    let text = "";
    for await (const event of answer.body) {
      const chunk = JSON.parse(new TextDecoder().decode(event.chunk.bytes));
      types.push(chunk.type);
      if (chunk.type === "content_block_delta") text += chunk.delta.text ?? "";
    }
    return { text, types };
  },

  async listFoundationModels() {
    const answer = await bedrock.send(new ListFoundationModelsCommand({}));
    return { modelIds: answer.modelSummaries.map((model) => model.modelId) };
  },

  async retrieve() {
    if (!knowledgeBaseId) return { skipped: true };
    const answer = await agentRuntime.send(
      new RetrieveCommand({
        knowledgeBaseId,
        retrievalQuery: { text: "Which river flows through Paris?" },
        retrievalConfiguration: { vectorSearchConfiguration: { numberOfResults: 2 } },
      }),
    );
    return {
      results: answer.retrievalResults.map((result) => ({
        uri: result.location?.s3Location?.uri,
        score: result.score,
        text: result.content.text,
      })),
    };
  },
};

const wanted = (process.env.CALLS ?? Object.keys(calls).join(",")).split(",").filter(Boolean);
const report = {};
for (const name of wanted) {
  try {
    report[name] = { ok: true, ...(await calls[name]()) };
  } catch (error) {
    report[name] = { ok: false, error: error.name, message: error.message, status: error.$metadata?.httpStatusCode };
  }
}
for (const client of [runtime, bedrock, agentRuntime]) client.destroy();
process.stdout.write(JSON.stringify(report) + "\n");
