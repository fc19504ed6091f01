import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { estimateChatInput } from "../src/tokenize/estimate.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import { settleEntries } from "./helpers/journal.js";
import type { Parsed } from "./helpers/json.js";
import { configFrom } from "./helpers/policy.js";
import { sseData } from "./helpers/sse.js";

const SECRET = "tp-test-client-key-1";
let fake: FakeUpstream;

function yaml(extra = ""): string {
  return `
budget:
  daily_limit_cents: 1000
  fallback_model_on_exceed: cheap
  quota: { requests_per_month: 1000 }
  per_user_limits:
    enabled: true
    user_limits:
      tight: { daily_limit_cents: 0.01 }
      mid: { daily_limit_cents: 1 }
projects:
  bot: {}
keys:
  - { name: ci, key: ${SECRET}, project: bot }
  - { name: slow-lane, key: tp-rate-limited-key, project: bot, rate_limit: { requests_per_minute: 2 } }
providers:
  openai: { type: openai, api_key: sk-upstream-secret, base_url: "${fake.url}/v1", timeout_ms: 1000 }
  anthropic: { type: anthropic, api_key: sk-ant-upstream, base_url: "${fake.url}" }
  down: { type: openai-compatible, base_url: "http://127.0.0.1:9/v1" }
models:
  gpt-4o: { provider: openai, upstream_model: gpt-4o-2024-08-06, estimated_input_cost_per_1k: 0.25, estimated_output_cost_per_1k: 1, cached_input_cost_per_1k: 0.125, max_output_tokens: 4096 }
  cheap: { provider: openai, estimated_input_cost_per_1k: 0.01, estimated_output_cost_per_1k: 0.02 }
  claude: { provider: anthropic, upstream_model: claude-sonnet-4, estimated_input_cost_per_1k: 0.3, estimated_output_cost_per_1k: 1.5 }
  broken: { provider: down, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 1 }
${extra}`;
}

const proxies: RunningProxy[] = [];
async function start(extra = ""): Promise<RunningProxy> {
  const dataDir = await mkdtemp(join(tmpdir(), "tokenpak-proxy-"));
  const proxy = await startProxy({ config: configFrom(yaml(extra)), dataDir, port: 0 });
  proxies.push(proxy);
  return proxy;
}

beforeAll(async () => {
  fake = await startFakeUpstream({ replyTokens: 40 });
});
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  fake.requests.length = 0;
  fake.next.length = 0;
});
afterAll(async () => {
  await fake.close();
});

const auth = { authorization: `Bearer ${SECRET}`, "content-type": "application/json" };
const hello = [{ role: "user", content: "Say hello" }];

async function post(
  proxy: RunningProxy,
  path: string,
  body: unknown,
  headers: Record<string, string> = auth,
) {
  const res = await fetch(`${proxy.url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await res.text();
  return { res, text, json: () => JSON.parse(text) as Parsed };
}

describe("proxy: OpenAI chat/completions", () => {
  it("forwards with the provider's key, the upstream model name and the reserved max_tokens; prices the answer", async () => {
    const proxy = await start();
    const { res, json } = await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello });
    expect(res.status).toBe(200);
    const body = json();
    expect(body.choices[0].message.content).toMatch(/^Budgets keep agents honest/);
    const seen = fake.requests[0];
    expect(seen?.path).toBe("/v1/chat/completions");
    expect(seen?.headers.authorization).toBe("Bearer sk-upstream-secret");
    expect(JSON.stringify(seen?.headers)).not.toContain(SECRET); // the client's key never goes upstream
    expect(seen?.body.model).toBe("gpt-4o-2024-08-06");
    expect(seen?.body.max_tokens).toBe(4096); // injected: the reservation's worst case
    // 40 output tokens at 1¢/1k + prompt tokens at 0.25¢/1k
    const prompt = body.usage.prompt_tokens as number;
    const cents = (prompt * 0.25 + 40 * 1) / 1000;
    expect(body.cost_cents).toBeCloseTo(cents, 9);
    expect(Number(res.headers.get("x-tokenpak-cost-cents"))).toBeCloseTo(cents, 9);
    expect(res.headers.get("x-tokenpak-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(res.headers.get("x-tokenpak-remaining-cents"))).toBeCloseTo(1000 - cents, 6);
    expect(proxy.ledger.openReservations).toBe(0);
  });

  it("prices cached input at its own rate", async () => {
    const proxy = await start();
    fake.next.push({
      kind: "usage",
      usage: {
        prompt_tokens: 2000,
        completion_tokens: 100,
        total_tokens: 2100,
        prompt_tokens_details: { cached_tokens: 1600 },
      },
    });
    const { json } = await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello });
    // 400 × 0.25 + 1600 × 0.125 + 100 × 1 = 100 + 200 + 100 = 400 (¢/1000)
    expect(json().cost_cents).toBeCloseTo(0.4, 9);
  });

  it("streams: relays the events, hides the usage chunk it asked for, ends with a cost comment equal to the JSON cost", async () => {
    const proxy = await start();
    const plain = await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello });
    const streamed = await post(proxy, "/v1/chat/completions", {
      model: "gpt-4o",
      messages: hello,
      stream: true,
    });
    expect(streamed.res.headers.get("content-type")).toContain("text/event-stream");
    expect(fake.requests[1]?.body.stream_options).toEqual({ include_usage: true });
    const chunks = sseData(streamed.text);
    expect(chunks.every((c) => !("usage" in c))).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe(
      plain.json().choices[0].message.content,
    );
    expect(streamed.text).toContain("data: [DONE]");
    const cost = /: tokenpak cost_cents=([\d.]+)/.exec(streamed.text)?.[1];
    expect(Number(cost)).toBe(plain.json().cost_cents);
  });

  it("keeps the usage chunk when the client asked for it", async () => {
    const proxy = await start();
    const { text } = await post(proxy, "/v1/chat/completions", {
      model: "gpt-4o",
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    });
    const usage = sseData(text).filter((c) => c.usage);
    expect(usage).toHaveLength(1);
    expect(usage[0]?.usage.completion_tokens).toBe(40);
  });

  it("translates to an Anthropic model and back, JSON and SSE, with system prompt and stop reason", async () => {
    const proxy = await start();
    const messages = [{ role: "system", content: "Be brief." }, ...hello];
    const { json } = await post(proxy, "/v1/chat/completions", {
      model: "claude",
      messages,
      max_tokens: 100,
    });
    const upstream = fake.requests[0];
    expect(upstream?.path).toBe("/v1/messages");
    expect(upstream?.headers["x-api-key"]).toBe("sk-ant-upstream");
    expect(upstream?.body).toMatchObject({ model: "claude-sonnet-4", system: "Be brief.", max_tokens: 100 });
    const body = json();
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0].finish_reason).toBe("stop");
    expect(body.usage.completion_tokens).toBe(40);
    const { text } = await post(proxy, "/v1/chat/completions", {
      model: "claude",
      messages,
      max_tokens: 100,
      stream: true,
    });
    const chunks = sseData(text);
    expect(chunks[0]?.object).toBe("chat.completion.chunk");
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe(
      body.choices[0].message.content,
    );
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe("stop");
    expect(Number(/cost_cents=([\d.]+)/.exec(text)?.[1])).toBe(body.cost_cents);
  });
});

describe("proxy: Anthropic messages", () => {
  const anthropicAuth = {
    "x-api-key": SECRET,
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
  };

  it("forwards natively to an Anthropic model with the client's anthropic-version", async () => {
    const proxy = await start();
    const { res, json } = await post(
      proxy,
      "/v1/messages",
      { model: "claude", max_tokens: 64, messages: hello },
      anthropicAuth,
    );
    expect(res.status).toBe(200);
    expect(json()).toMatchObject({ type: "message", stop_reason: "end_turn", usage: { output_tokens: 40 } });
    expect(fake.requests[0]?.headers["anthropic-version"]).toBe("2023-06-01");
    expect(fake.requests[0]?.body.max_tokens).toBe(64);
  });

  it("translates to an OpenAI model (the recipe sends gpt-4 to /v1/messages), JSON and SSE", async () => {
    const proxy = await start();
    const body = { model: "gpt-4o", max_tokens: 64, system: "Be brief.", messages: hello };
    const { json } = await post(proxy, "/v1/messages", body, anthropicAuth);
    expect(fake.requests[0]?.path).toBe("/v1/chat/completions");
    expect(fake.requests[0]?.body.messages).toEqual([{ role: "system", content: "Be brief." }, ...hello]);
    const answer = json();
    expect(answer).toMatchObject({ type: "message", role: "assistant", stop_reason: "end_turn" });
    const { text } = await post(proxy, "/v1/messages", { ...body, stream: true }, anthropicAuth);
    const types = text
      .split("\n")
      .filter((l) => l.startsWith("event: "))
      .map((l) => l.slice(7));
    expect(types[0]).toBe("message_start");
    expect(types.at(-1)).toBe("message_stop");
    const streamedText = sseData(text)
      .filter((e) => e.type === "content_block_delta")
      .map((e) => e.delta.text)
      .join("");
    expect(streamedText).toBe(answer.content[0].text);
    const delta = sseData(text).find((e) => e.type === "message_delta");
    expect(delta?.usage.output_tokens).toBe(40);
  });

  it("refuses in Anthropic's error format", async () => {
    const proxy = await start();
    const { res, json } = await post(
      proxy,
      "/v1/messages",
      { model: "nope", max_tokens: 5, messages: hello },
      anthropicAuth,
    );
    expect(res.status).toBe(400);
    expect(json()).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error", code: "unknown_model" },
    });
  });
});

describe("proxy: other routes", () => {
  it("embeddings are priced on input tokens", async () => {
    const proxy = await start();
    const { res, json } = await post(proxy, "/v1/embeddings", { model: "gpt-4o", input: ["one", "two"] });
    expect(res.status).toBe(200);
    expect(json().data).toHaveLength(2);
    expect(json().cost_cents).toBeGreaterThan(0);
    expect(fake.requests[0]?.path).toBe("/v1/embeddings");
    expect(fake.requests[0]?.body.max_tokens).toBeUndefined();
  });

  it("lists the configured models, answers health checks, and 404s everything else", async () => {
    const proxy = await start();
    const models = (await (await fetch(`${proxy.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["gpt-4o", "cheap", "claude", "broken"]);
    expect(await (await fetch(`${proxy.url}/healthz`)).json()).toMatchObject({ ok: true });
    const missing = await fetch(`${proxy.url}/v1/completions`, { method: "POST", headers: auth, body: "{}" });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "not_found" } });
    expect(fake.requests).toHaveLength(0); // nothing unbudgeted was forwarded
  });
});

describe("proxy: refusals", () => {
  it("401 for a missing or unknown key", async () => {
    const proxy = await start();
    const none = await post(
      proxy,
      "/v1/chat/completions",
      { model: "gpt-4o", messages: hello },
      { "content-type": "application/json" },
    );
    expect(none.res.status).toBe(401);
    const wrong = await post(
      proxy,
      "/v1/chat/completions",
      { model: "gpt-4o", messages: hello },
      { authorization: "Bearer nope" },
    );
    expect(wrong.res.status).toBe(401);
    expect(wrong.json()).toMatchObject({ error: { code: "unauthorized", type: "authentication_error" } });
    expect(wrong.text).not.toContain("nope");
  });

  it("400 for invalid JSON, a missing model and an unknown model (listing the available ones)", async () => {
    const proxy = await start();
    const bad = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: auth,
      body: "{not json",
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("x-should-retry")).toBe("false");
    expect((await post(proxy, "/v1/chat/completions", { messages: hello })).res.status).toBe(400);
    const unknown = await post(proxy, "/v1/chat/completions", { model: "gpt-5", messages: hello });
    expect(unknown.json()).toMatchObject({
      error: { code: "unknown_model", available_models: ["gpt-4o", "cheap", "claude", "broken"] },
    });
  });

  it("413 for a body over server.max_body_bytes", async () => {
    const proxy = await start("server: { max_body_bytes: 2048 }");
    const { res, json } = await post(proxy, "/v1/chat/completions", {
      model: "gpt-4o",
      messages: [{ role: "user", content: "x".repeat(5000) }],
    });
    expect(res.status).toBe(413);
    expect(json()).toMatchObject({ error: { code: "body_too_large" } });
  });

  it("402 budget_exceeded with the recipe's fields, x-should-retry: false, and nothing forwarded", async () => {
    const proxy = await start();
    const { res, json } = await post(proxy, "/v1/chat/completions", {
      model: "gpt-4o",
      messages: hello,
      user: "tight",
    });
    // 0.01¢ cap: gpt-4o cannot pay for 16 output tokens, the fallback can, so it is served on it
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tokenpak-fallback-model")).toBe("cheap");
    expect(json().model).toBe("cheap");
    // exhaust it
    for (let i = 0; i < 40; i++)
      await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello, user: "tight" });
    const before = fake.requests.length;
    const refused = await post(proxy, "/v1/chat/completions", {
      model: "gpt-4o",
      messages: hello,
      user: "tight",
    });
    expect(refused.res.status).toBe(402);
    expect(refused.res.headers.get("x-should-retry")).toBe("false");
    const error = refused.json().error;
    expect(error).toMatchObject({
      code: "budget_exceeded",
      message: "User tight has reached daily budget limit ($0.0001). Rejecting request.",
      daily_limit: "$0.0001",
      scope: "user:tight",
      window: "daily",
      limit_cents: 0.01,
    });
    expect(error.spent_cents).toBeLessThanOrEqual(0.01);
    expect(Date.parse(error.resets_at)).toBeGreaterThan(Date.now());
    expect(fake.requests.length).toBe(before);
  });

  it("forwards what it priced: a key the client gave twice reaches upstream once, with the value priced", async () => {
    const proxy = await start();
    // JSON.parse keeps the last of duplicate keys; a provider's parser might keep the first.
    const raw = `{"model":"gpt-4o","max_tokens":100000,"messages":${JSON.stringify(hello)},"max_tokens":10,"model":"cheap"}`;
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: auth, body: raw });
    expect(res.status).toBe(200);
    const sent = fake.requests[0]?.text ?? "";
    expect(sent.split('"max_tokens"').length - 1).toBe(1);
    expect(sent.split('"model"').length - 1).toBe(1);
    expect(fake.requests[0]?.body).toMatchObject({ model: "cheap", max_tokens: 10 });
  });

  it("relays the provider's JSON text as sent, with cost_cents written in", async () => {
    const proxy = await start();
    const answer =
      '{"id": "chatcmpl-1",  "object": "chat.completion", "model": "cheap",\n' +
      '"choices": [{"index": 0, "message": {"role": "assistant", "content": "d\\u00e9j\\u00e0 vu"}, "finish_reason": "stop"}],\n' +
      '"usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}}\n';
    fake.next.push({ kind: "status", status: 200, text: answer });
    const { res, text, json } = await post(proxy, "/v1/chat/completions", {
      model: "cheap",
      messages: hello,
    });
    expect(res.status).toBe(200);
    // 1,000 input tokens at 0.01¢/1k + 500 output at 0.02¢/1k
    expect(json().cost_cents).toBeCloseTo(0.02, 9);
    const end = answer.lastIndexOf("}");
    expect(text).toBe(`${answer.slice(0, end)},"cost_cents":${json().cost_cents}${answer.slice(end)}`);
    expect(json().choices[0].message.content).toBe("déjà vu");
  });

  it("clamps max_tokens to what the budget can pay for, and says so", async () => {
    const proxy = await start();
    const { res } = await post(proxy, "/v1/chat/completions", {
      model: "claude",
      messages: hello,
      max_tokens: 4000,
      user: "mid",
    });
    // 1¢ at 1.5¢/1k output leaves room for ~600 tokens
    expect(res.status).toBe(200);
    const clamped = Number(res.headers.get("x-tokenpak-max-tokens-clamped"));
    expect(clamped).toBeGreaterThan(16);
    expect(clamped).toBeLessThan(4000);
    expect(fake.requests[0]?.body.max_tokens).toBe(clamped);
  });

  it("429 rate_limited with Retry-After for a key over its requests per minute", async () => {
    const proxy = await start();
    const slow = { authorization: "Bearer tp-rate-limited-key" };
    for (let i = 0; i < 2; i++)
      expect(
        (await post(proxy, "/v1/chat/completions", { model: "cheap", messages: hello }, slow)).res.status,
      ).toBe(200);
    const limited = await post(proxy, "/v1/chat/completions", { model: "cheap", messages: hello }, slow);
    expect(limited.res.status).toBe(429);
    expect(limited.json()).toMatchObject({ error: { code: "rate_limited", type: "rate_limit_error" } });
    expect(Number(limited.res.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("429 quota_exceeded once the monthly request quota is used", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "tokenpak-quota-"));
    const config = configFrom(yaml().replace("requests_per_month: 1000", "requests_per_month: 2"));
    const proxy = await startProxy({ config, dataDir, port: 0 });
    proxies.push(proxy);
    await post(proxy, "/v1/chat/completions", { model: "cheap", messages: hello });
    await post(proxy, "/v1/chat/completions", { model: "cheap", messages: hello });
    const third = await post(proxy, "/v1/chat/completions", { model: "cheap", messages: hello });
    expect(third.res.status).toBe(429);
    expect(third.json()).toMatchObject({ error: { code: "quota_exceeded", window: "monthly" } });
  });

  it("502 when the provider is unreachable: released; 504 when it times out: charged at the reservation, as it may bill", async () => {
    const proxy = await start();
    const day = {
      window: { kind: "day" as const },
      unit: "cents" as const,
      amount: 0,
      kind: "budget" as const,
    };
    const down = await post(proxy, "/v1/chat/completions", { model: "broken", messages: hello });
    expect(down.res.status).toBe(502);
    expect(down.json()).toMatchObject({ error: { code: "upstream_unreachable" } });
    expect(proxy.ledger.usage("workspace", day)).toEqual({ spent: 0, reserved: 0 });
    fake.next.push({ kind: "hang" });
    const slow = await post(proxy, "/v1/chat/completions", {
      model: "gpt-4o",
      messages: hello,
      max_tokens: 100,
    });
    expect(slow.res.status).toBe(504);
    expect(slow.json()).toMatchObject({ error: { code: "upstream_timeout" } });
    expect(proxy.ledger.openReservations).toBe(0);
    // The provider had the request: what it billed cannot be known, so the worst case reserved is charged.
    const input = estimateChatInput({ messages: hello }, "openai");
    expect(proxy.ledger.usage("workspace", day).spent).toBe(
      Math.ceil((input * 250_000 + 100 * 1_000_000) / 1000),
    );
  });

  it("passes upstream errors through; charges only when the provider reports usage", async () => {
    const proxy = await start();
    fake.next.push({
      kind: "status",
      status: 500,
      body: { error: { message: "overloaded", type: "server_error" } },
    });
    const failed = await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello });
    expect(failed.res.status).toBe(500);
    expect(failed.json()).toEqual({ error: { message: "overloaded", type: "server_error" } });
    const day = {
      window: { kind: "day" as const },
      unit: "cents" as const,
      amount: 0,
      kind: "budget" as const,
    };
    expect(proxy.ledger.usage("workspace", day).spent).toBe(0);
    fake.next.push({
      kind: "status",
      status: 400,
      body: { error: { message: "bad tool" }, usage: { prompt_tokens: 1000, completion_tokens: 0 } },
    });
    expect((await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello })).res.status).toBe(
      400,
    );
    expect(proxy.ledger.usage("workspace", day).spent).toBe(250_000); // 1000 × 0.25¢/1k
  });
});

describe("proxy: soft mode", () => {
  it("reject_on_exceed: false serves past the budget and records the overrun", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "tokenpak-soft-"));
    const config = configFrom(yaml().replace("fallback_model_on_exceed: cheap", "reject_on_exceed: false"));
    const proxy = await startProxy({ config, dataDir, port: 0 });
    proxies.push(proxy);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello, user: "tight" })).res
          .status,
      );
    }
    expect(statuses).toEqual([200, 200, 200]);
    const day = {
      window: { kind: "day" as const },
      unit: "cents" as const,
      amount: 0,
      kind: "budget" as const,
    };
    expect(proxy.ledger.usage("user:tight", day).spent).toBeGreaterThan(10_000); // past the 0.01¢ cap
    await proxy.close();
    proxies.pop();
    const settles = settleEntries(dataDir);
    expect(settles).toHaveLength(3);
    expect(settles.every((e) => Array.isArray(e.overrun) && e.overrun.includes("user:tight"))).toBe(true);
  });
});

describe("proxy: streams the client abandons", () => {
  it("aborts upstream and settles for what was generated", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "tokenpak-abort-"));
    const proxy = await startProxy({ config: configFrom(yaml()), dataDir, port: 0 });
    proxies.push(proxy);
    fake.next.push({ kind: "drip", ms: 100 });
    const controller = new AbortController();
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ model: "gpt-4o", messages: hello, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body?.getReader();
    let seen = "";
    while (!seen.includes("Budgets")) seen += new TextDecoder().decode((await reader?.read())?.value);
    controller.abort();
    await new Promise((r) => setTimeout(r, 400));
    expect(proxy.ledger.openReservations).toBe(0);
    expect(fake.cutOff).toBe(1); // the provider stopped generating
    await proxy.close();
    proxies.pop();
    const [settle] = settleEntries(dataDir);
    expect(settle).toMatchObject({ status: "aborted" });
    expect(settle?.usage.output).toBeGreaterThan(0); // charged for the streamed text…
    expect(settle?.usage.output).toBeLessThan(40); // …not for the whole answer
  });
});
