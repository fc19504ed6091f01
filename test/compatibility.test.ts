/**
 * Issue #12: the client libraries people point at tokenpak, unchanged but for
 * their base URL, against the real proxy and a fake provider on loopback.
 * Every row of docs/compatibility.md is one `it` here (named by its row).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import Anthropic from "@anthropic-ai/sdk";
import { ChatAnthropic } from "@langchain/anthropic";
import { ChatOpenAI } from "@langchain/openai";
import { APICallError, generateText, stepCountIs, streamText, tool } from "ai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { mockText } from "../src/providers/mock.js";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { estimateResponsesInput } from "../src/tokenize/estimate.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import { journalEntries, settleEntries } from "./helpers/journal.js";
import { configFrom } from "./helpers/policy.js";

const REPLY_TOKENS = 30;
const REPLY = mockText(REPLY_TOKENS);

let fake: FakeUpstream;
let proxy: RunningProxy;
let dataDir: string;

beforeAll(async () => {
  fake = await startFakeUpstream({ replyTokens: REPLY_TOKENS });
  dataDir = await mkdtemp(join(tmpdir(), "tokenpak-compat-"));
  const config = configFrom(`
budget:
  daily_limit_cents: 100000
  per_user_limits:
    enabled: true
    user_limits:
      broke: { daily_limit_cents: 0.0001 }
providers:
  openai: { type: openai, api_key: sk-upstream-openai, base_url: "${fake.url}/v1" }
  anthropic: { type: anthropic, api_key: sk-upstream-anthropic, base_url: "${fake.url}" }
models:
  gpt-4o: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 0.25, estimated_output_cost_per_1k: 1 }
  claude-sonnet-4-5: { provider: anthropic, pin_price: true, estimated_input_cost_per_1k: 0.3, estimated_output_cost_per_1k: 1.5 }
`);
  proxy = await startProxy({ config, dataDir, port: 0, warn: () => {} });
});
afterAll(async () => {
  await proxy.close();
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
});

const base = () => `${proxy.url}/v1`;
const weather = {
  type: "function" as const,
  name: "get_weather",
  description: "The weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};
const lastUpstream = () => fake.requests.at(-1);

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

describe("openai (JS) responses", () => {
  const client = () => new OpenAI({ baseURL: base(), apiKey: "alice", maxRetries: 0 });

  it("responses.create JSON", async () => {
    const { data, response } = await client()
      .responses.create({ model: "gpt-4o", input: "Say something about budgets." })
      .withResponse();
    expect(data.object).toBe("response");
    expect(data.output_text).toBe(REPLY);
    expect(data.usage?.output_tokens).toBe(REPLY_TOKENS);
    expect(Number(response.headers.get("x-tokenpak-cost-cents"))).toBeGreaterThan(0);
    expect(lastUpstream()?.path).toBe("/v1/responses");
  });

  it("responses.create stream", async () => {
    const stream = await client().responses.create({ model: "gpt-4o", input: "Budgets?", stream: true });
    let text = "";
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    expect(text).toBe(REPLY);
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    // The helper that assembles the final response works too.
    const final = await client().responses.stream({ model: "gpt-4o", input: "Budgets?" }).finalResponse();
    expect(final.output_text).toBe(REPLY);
  });

  it("responses.create function tools over two turns", async () => {
    const first = await client().responses.create({
      model: "gpt-4o",
      input: "Weather in Paris?",
      tools: [weather],
    });
    const call = first.output.find((o) => o.type === "function_call");
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"Paris"}' });
    if (call?.type !== "function_call") return;
    // Stateless: the whole conversation sent back, with the tool's result.
    const second = await client().responses.create({
      model: "gpt-4o",
      input: [
        { role: "user", content: "Weather in Paris?" },
        call,
        { type: "function_call_output", call_id: call.call_id, output: "sunny" },
      ],
      tools: [weather],
    });
    expect(second.output_text).toBe(REPLY);
  });

  it("responses.create previous_response_id", async () => {
    const first = await client().responses.create({
      model: "gpt-4o",
      input: "Weather in Paris?",
      tools: [weather],
    });
    const call = first.output.find((o) => o.type === "function_call");
    if (call?.type !== "function_call") throw new Error("no function call");
    const next = {
      model: "gpt-4o",
      previous_response_id: first.id,
      input: [{ type: "function_call_output" as const, call_id: call.call_id, output: "sunny" }],
      tools: [weather],
    };
    const { data: second, response } = await client().responses.create(next).withResponse();
    expect(second.output_text).toBe(REPLY);
    // The provider billed the stored first turn as input; so did tokenpak's reservation.
    const context = first.usage?.total_tokens ?? 0;
    expect(second.usage?.input_tokens).toBeGreaterThan(context);
    const id = response.headers.get("x-tokenpak-request-id");
    const reserve = journalEntries(dataDir).find((e) => e.type === "reserve" && e.request_id === id);
    const fresh = estimateResponsesInput(next, "openai");
    expect(reserve?.type === "reserve" && reserve.reserved.tokens).toBe(context + fresh + 4096);
  });

  it("responses.create budget refusal: APIError 402 budget_exceeded", async () => {
    const broke = new OpenAI({ baseURL: base(), apiKey: "broke", maxRetries: 0 });
    for (const stream of [false, true]) {
      const error = await caught(broke.responses.create({ model: "gpt-4o", input: "hi", stream }));
      expect(error).toBeInstanceOf(OpenAI.APIError);
      if (!(error instanceof OpenAI.APIError)) return;
      expect(error.status).toBe(402);
      expect(error.code).toBe("budget_exceeded");
      expect(error.message).toContain("User broke has reached daily budget limit");
    }
  });
});

describe("@anthropic-ai/sdk small routes", () => {
  const client = () => new Anthropic({ baseURL: proxy.url, apiKey: "alice", maxRetries: 0 });

  it("models.list and models.retrieve", async () => {
    const page = await client().models.list();
    expect(page.data.map((m) => m.id)).toEqual(["gpt-4o", "claude-sonnet-4-5"]);
    expect(page.data[0]).toMatchObject({ type: "model", display_name: "gpt-4o" });
    expect(page.has_more).toBe(false);
    const one = await client().models.retrieve("claude-sonnet-4-5");
    expect(one).toMatchObject({ type: "model", id: "claude-sonnet-4-5" });
    const missing = await caught(client().models.retrieve("nope"));
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
  });

  it("messages.countTokens, never charged", async () => {
    const before = settleEntries(dataDir).length;
    const params = { messages: [{ role: "user" as const, content: "Count me, please." }] };
    const local = await client().messages.countTokens({ model: "gpt-4o", ...params });
    expect(local.input_tokens).toBeGreaterThan(3);
    const seen = fake.requests.length;
    const forwarded = await client().messages.countTokens({ model: "claude-sonnet-4-5", ...params });
    // An Anthropic model is counted by its provider (the fake counts without tokenpak's 25% margin).
    expect(fake.requests.length).toBe(seen + 1);
    expect(lastUpstream()?.path).toBe("/v1/messages/count_tokens");
    expect(forwarded.input_tokens).toBe(local.input_tokens);
    expect(settleEntries(dataDir).length).toBe(before);
    expect(proxy.ledger.openReservations).toBe(0);
  });

  it("messages.create on an OpenAI model: translated, with a msg_ id", async () => {
    const message = await client().messages.create({
      model: "gpt-4o",
      max_tokens: 100,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(message.id).toMatch(/^msg_/);
    const stream = client().messages.stream({
      model: "gpt-4o",
      max_tokens: 100,
      messages: [{ role: "user", content: "hi" }],
    });
    const final = await stream.finalMessage();
    expect(final.id).toMatch(/^msg_/);
    expect(final.content).toEqual([expect.objectContaining({ type: "text", text: REPLY })]);
  });
});

describe("openai (JS) models", () => {
  it("models.list and models.retrieve", async () => {
    const client = new OpenAI({ baseURL: base(), apiKey: "alice", maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(["gpt-4o", "claude-sonnet-4-5"]);
    expect(await client.models.retrieve("gpt-4o")).toMatchObject({
      id: "gpt-4o",
      object: "model",
      owned_by: "openai",
    });
    expect(await caught(client.models.retrieve("nope"))).toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("Vercel AI SDK", () => {
  const openai = () => createOpenAI({ baseURL: base(), apiKey: "alice" });
  const getWeather = tool({
    description: "The weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `sunny in ${city}`,
  });

  it("openai(model) generateText", async () => {
    const result = await generateText({ model: openai()("gpt-4o"), prompt: "Budgets?", maxRetries: 0 });
    expect(result.text).toBe(REPLY);
    expect(lastUpstream()?.path).toBe("/v1/responses"); // the default factory speaks the Responses API
    expect(result.usage.outputTokens).toBe(REPLY_TOKENS);
  });

  it("openai(model) streamText", async () => {
    const result = streamText({ model: openai()("gpt-4o"), prompt: "Budgets?", maxRetries: 0 });
    let text = "";
    for await (const piece of result.textStream) text += piece;
    expect(text).toBe(REPLY);
    expect((await result.usage).outputTokens).toBe(REPLY_TOKENS);
  });

  it("openai(model) tool calls", async () => {
    const result = await generateText({
      model: openai()("gpt-4o"),
      prompt: "Weather in Paris?",
      tools: { get_weather: getWeather },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    expect(result.steps[0]?.toolCalls[0]).toMatchObject({
      toolName: "get_weather",
      input: { city: "Paris" },
    });
    expect(result.steps[0]?.toolResults[0]).toMatchObject({ output: "sunny in Paris" });
    expect(result.text).toBe(REPLY);
    // Streamed, the same loop.
    const streamed = streamText({
      model: openai()("gpt-4o"),
      prompt: "Weather in Paris?",
      tools: { get_weather: getWeather },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    expect(await streamed.text).toBe(REPLY);
    expect((await streamed.steps).length).toBe(2);
  });

  it("openai(model) budget refusal: non-retryable APICallError 402", async () => {
    const broke = createOpenAI({ baseURL: base(), apiKey: "broke" });
    const error = await caught(generateText({ model: broke("gpt-4o"), prompt: "hi" }));
    expect(APICallError.isInstance(error)).toBe(true);
    if (!APICallError.isInstance(error)) return;
    expect(error.statusCode).toBe(402);
    expect(error.isRetryable).toBe(false);
    expect(error.message).toContain("budget limit");
  });

  it("openai.chat(model) generateText and streamText", async () => {
    const model = openai().chat("gpt-4o");
    expect((await generateText({ model, prompt: "Budgets?", maxRetries: 0 })).text).toBe(REPLY);
    expect(lastUpstream()?.path).toBe("/v1/chat/completions");
    const streamed = streamText({ model, prompt: "Budgets?", maxRetries: 0 });
    expect(await streamed.text).toBe(REPLY);
  });

  it("anthropic(model) generateText and streamText", async () => {
    const anthropic = createAnthropic({ baseURL: base(), apiKey: "alice" });
    const model = anthropic("claude-sonnet-4-5");
    expect((await generateText({ model, prompt: "Budgets?", maxRetries: 0 })).text).toBe(REPLY);
    expect(lastUpstream()?.path).toBe("/v1/messages");
    const streamed = streamText({ model, prompt: "Budgets?", maxRetries: 0 });
    expect(await streamed.text).toBe(REPLY);
  });
});

describe("LangChain JS", () => {
  it("ChatOpenAI({ useResponsesApi: true }) invoke and stream", async () => {
    const chat = new ChatOpenAI({
      model: "gpt-4o",
      apiKey: "alice",
      useResponsesApi: true,
      maxRetries: 0,
      configuration: { baseURL: base() },
    });
    const answer = await chat.invoke("Budgets?");
    expect(answer.text).toBe(REPLY);
    expect(lastUpstream()?.path).toBe("/v1/responses");
    let text = "";
    for await (const chunk of await chat.stream("Budgets?")) text += chunk.text;
    expect(text).toBe(REPLY);
    expect(lastUpstream()?.body.stream).toBe(true);
  });

  it("ChatOpenAI chat completions invoke", async () => {
    const chat = new ChatOpenAI({
      model: "gpt-4o",
      apiKey: "alice",
      maxRetries: 0,
      configuration: { baseURL: base() },
    });
    expect((await chat.invoke("Budgets?")).text).toBe(REPLY);
    expect(lastUpstream()?.path).toBe("/v1/chat/completions");
  });

  it("ChatAnthropic invoke and stream", async () => {
    const chat = new ChatAnthropic({
      model: "claude-sonnet-4-5",
      apiKey: "alice",
      anthropicApiUrl: proxy.url,
      maxRetries: 0,
    });
    expect((await chat.invoke("Budgets?")).text).toBe(REPLY);
    expect(lastUpstream()?.path).toBe("/v1/messages");
    let text = "";
    for await (const chunk of await chat.stream("Budgets?")) text += chunk.text;
    expect(text).toBe(REPLY);
  });
});
