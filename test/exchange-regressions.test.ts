import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { compilePolicy } from "../src/budget/policy.js";
import { TokenpakError } from "../src/errors.js";
import { Ledger } from "../src/ledger/ledger.js";
import { MAX_CHOICES, MAX_OUTPUT_TOKENS } from "../src/providers/validate.js";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { estimateChatInput } from "../src/tokenize/estimate.js";
import { proxyHarness } from "./helpers/harness.js";
import { journalEntries, settleEntries } from "./helpers/journal.js";
import type { Parsed } from "./helpers/json.js";
import { configFrom } from "./helpers/policy.js";
import { sseData } from "./helpers/sse.js";

const DAY = (unit: "cents" | "tokens" = "cents") => ({
  window: { kind: "day" as const },
  unit,
  amount: 0,
  kind: "budget" as const,
});

const h = proxyHarness(
  (fake) => {
    return `
budget:
  daily_limit_cents: 1000
  per_user_limits:
    enabled: true
    user_limits:
      tight: { daily_limit_cents: 1 }
      race: { daily_limit_cents: 3 }
providers:
  openai: { type: openai, api_key: sk-upstream, base_url: "${fake.url}/v1", timeout_ms: 2000 }
  anthropic: { type: anthropic, api_key: sk-ant-upstream, base_url: "${fake.url}", timeout_ms: 2000 }
models:
  gpt: { provider: openai, estimated_input_cost_per_1k: 0.25, estimated_output_cost_per_1k: 1 }
  claude: { provider: anthropic, estimated_input_cost_per_1k: 0.3, estimated_output_cost_per_1k: 1.5 }
`;
  },
  { replyTokens: 40, prefix: "regress" },
);
const yaml = () => h.yaml();

const hello = [{ role: "user", content: "Say hello" }];

async function post(
  proxy: RunningProxy,
  path: string,
  body: unknown,
  user = "alice",
  init: RequestInit = {},
) {
  const res = await fetch(`${proxy.url}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${user}`,
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
  const text = await res.text();
  return { res, text, json: () => JSON.parse(text) as Parsed };
}

/** Reads a stream until `enough` says so, then hangs up; returns what arrived. */
async function readThenHangUp(
  url: string,
  body: unknown,
  enough: (seen: string) => boolean,
): Promise<string> {
  const controller = new AbortController();
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: "Bearer alice", "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  while (!enough(seen)) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) break;
    seen += decoder.decode(chunk.value);
  }
  controller.abort();
  return seen;
}

async function settled(proxy: RunningProxy): Promise<void> {
  const until = Date.now() + 3000;
  while (proxy.ledger.openReservations > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  expect(proxy.ledger.openReservations).toBe(0);
}

describe("#10: the cap holds and the ledger stays honest", () => {
  it("#10.1 a negative, zero or fractional max_tokens is refused (400 naming the field) before anything is reserved", async () => {
    const { proxy, dataDir } = await h.start();
    const cases: [string, string, Record<string, unknown>][] = [
      [
        "/v1/chat/completions",
        "max_tokens",
        { model: "gpt", messages: hello, max_tokens: -1_000_000_000_000 },
      ],
      [
        "/v1/chat/completions",
        "max_completion_tokens",
        { model: "gpt", messages: hello, max_completion_tokens: 0 },
      ],
      ["/v1/chat/completions", "max_tokens", { model: "gpt", messages: hello, max_tokens: 10.5 }],
      ["/v1/messages", "max_tokens", { model: "claude", messages: hello, max_tokens: -5 }],
      ["/v1/chat/completions", "n", { model: "gpt", messages: hello, n: 0 }],
    ];
    for (const [path, field, body] of cases) {
      const { res, json } = await post(proxy, path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const error = path === "/v1/messages" ? json().error : json().error;
      expect(error.code).toBe("invalid_request");
      expect(error.message).toContain(`\`${field}\` must be a positive integer`);
      if (path !== "/v1/messages") expect(error.param).toBe(field);
    }
    expect(h.fake.requests).toHaveLength(0);
    await proxy.close();
    expect(journalEntries(dataDir).filter((e) => e.type === "reserve")).toHaveLength(0);
  });

  it("#10.1 model must be a string; Object.prototype names are unknown models, not 500s", async () => {
    const { proxy } = await h.start();
    const notString = await post(proxy, "/v1/chat/completions", { model: 42, messages: hello });
    expect(notString.res.status).toBe(400);
    expect(notString.json().error.message).toBe("`model` must be a string");
    for (const model of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      const { res, json } = await post(proxy, "/v1/chat/completions", { model, messages: hello });
      expect(res.status, model).toBe(400);
      expect(json().error.code).toBe("unknown_model");
    }
    expect(h.fake.requests).toHaveLength(0);
  });

  it("#10.2 n > 1 is reserved and clamped per choice", async () => {
    const { proxy, dataDir } = await h.start();
    const input = estimateChatInput({ messages: hello }, "openai");
    const ok = await post(proxy, "/v1/chat/completions", {
      model: "gpt",
      messages: hello,
      n: 5,
      max_tokens: 100,
    });
    expect(ok.res.status).toBe(200);
    expect(ok.json().choices).toHaveLength(5);
    // 5 × 40 output tokens billed, and the reservation covered 5 × 100
    expect(ok.json().cost_cents).toBeCloseTo((input * 0.25 + 200 * 1) / 1000, 9);
    // A 1¢ budget pays for (1¢ - input) / 1¢ per 1k ≈ 999 output tokens: ~199 per answer, not 999.
    const tight = await post(
      proxy,
      "/v1/chat/completions",
      { model: "gpt", messages: hello, n: 5, max_tokens: 900 },
      "tight",
    );
    expect(tight.res.status).toBe(200);
    const sent = h.fake.requests.at(-1)?.body.max_tokens as number;
    expect(sent).toBeLessThanOrEqual(
      Math.floor((1_000_000 - Math.ceil((input * 250_000) / 1000)) / 1000 / 5),
    );
    expect(sent).toBeGreaterThan(150);
    await proxy.close();
    const reserves = journalEntries(dataDir).filter((e) => e.type === "reserve");
    expect(reserves[0]?.type === "reserve" && reserves[0].reserved.tokens).toBe(input + 5 * 100);
    expect(reserves[1]?.type === "reserve" && reserves[1].reserved.tokens).toBe(input + 5 * sent);
  });

  it("#10.3 max_tokens beside max_completion_tokens: clamped together, only the honoured one is sent", async () => {
    const { proxy } = await h.start();
    const { res } = await post(proxy, "/v1/chat/completions", {
      model: "gpt",
      messages: hello,
      max_tokens: 100_000,
      max_completion_tokens: 50,
    });
    expect(res.status).toBe(200);
    const sent = h.fake.requests[0]?.body;
    expect(sent?.max_completion_tokens).toBe(50);
    expect(sent).not.toHaveProperty("max_tokens");
    // The clamp applies to the field sent: a tight user gets it lowered, and still only one field.
    await post(
      proxy,
      "/v1/chat/completions",
      { model: "gpt", messages: hello, max_tokens: 5000, max_completion_tokens: 100_000 },
      "tight",
    );
    const clamped = h.fake.requests[1]?.body;
    expect(clamped).not.toHaveProperty("max_tokens");
    expect(clamped?.max_completion_tokens as number).toBeLessThan(1000);
  });

  it("#10.4 an Anthropic stream that ends early is charged for the text generated, not message_start's 1 token", async () => {
    const { proxy, dataDir } = await h.start();
    h.fake.options.replyTokens = 800;
    // The provider cuts the connection after 60 events (~220 tokens of text).
    h.fake.next.push({ kind: "cut", after: 60 });
    const cut = await post(proxy, "/v1/messages", {
      model: "claude",
      max_tokens: 1000,
      messages: hello,
      stream: true,
    });
    expect(cut.res.status).toBe(200);
    // …and a client that hangs up mid-stream.
    h.fake.next.push({ kind: "drip", ms: 5 });
    const seen = await readThenHangUp(
      `${proxy.url}/v1/messages`,
      { model: "claude", max_tokens: 1000, messages: hello, stream: true },
      (s) => (s.match(/content_block_delta/g) ?? []).length >= 30,
    );
    expect(seen).toContain("content_block_delta");
    await settled(proxy);
    await proxy.close();
    const [first, second] = settleEntries(dataDir);
    const generated = h.fake.requests.map((r) => r.generated?.output ?? 0);
    expect(first?.status).toBe("upstream_error");
    expect(first?.usage.output).toBeGreaterThanOrEqual(generated[0] ?? Number.POSITIVE_INFINITY);
    expect(second?.status).toBe("aborted");
    expect(second?.usage.output).toBeGreaterThan(100);
    expect(first?.usage.input).toBe(h.fake.requests[0]?.generated?.input); // message_start's input is exact
  });

  it("#10.5 a JSON request the client abandons after it reached the provider is settled at its real usage", async () => {
    const { proxy, dataDir } = await h.start();
    h.fake.next.push({ kind: "delay", ms: 300 });
    const controller = new AbortController();
    const gone = fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer alice", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt", messages: hello }),
      signal: controller.signal,
    }).catch(() => "hung up");
    while (h.fake.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    expect(await gone).toBe("hung up");
    await settled(proxy);
    await proxy.close();
    const entries = journalEntries(dataDir);
    expect(entries.map((e) => e.type)).toEqual(["reserve", "settle"]);
    expect(entries[1]).toMatchObject({ status: "ok", usage: { output: 40 } });
  });

  it("#10.6 odd usage from upstream never reaches the counters: refused usage is charged at the reservation", async () => {
    const { proxy, dataDir } = await h.start();
    const input = estimateChatInput({ messages: hello }, "openai");
    const odd: Record<string, unknown>[] = [
      { prompt_tokens: input, completion_tokens: "abc" },
      { prompt_tokens: input, completion_tokens: -1_000_000 },
      { prompt_tokens: "50", completion_tokens: "7" },
    ];
    for (const usage of odd) {
      h.fake.next.push({ kind: "usage", usage });
      const { res } = await post(proxy, "/v1/chat/completions", {
        model: "gpt",
        messages: hello,
        max_tokens: 100,
      });
      expect(res.status).toBe(200);
    }
    // Streams too.
    h.fake.next.push({ kind: "usage", usage: { prompt_tokens: input, completion_tokens: "abc" } });
    await post(proxy, "/v1/chat/completions", {
      model: "gpt",
      messages: hello,
      max_tokens: 100,
      stream: true,
    });
    // Everyone else is still served, and the numbers stay numbers.
    const next = await post(proxy, "/v1/chat/completions", { model: "gpt", messages: hello }, "bob");
    expect(next.res.status).toBe(200);
    expect(typeof next.json().cost_cents).toBe("number");
    const live = proxy.ledger.usage("workspace", DAY());
    const liveTokens = proxy.ledger.usage("workspace", DAY("tokens"));
    expect(Number.isSafeInteger(live.spent) && live.spent > 0).toBe(true);
    expect(Number.isSafeInteger(liveTokens.spent)).toBe(true);
    await proxy.close();
    const settles = settleEntries(dataDir);
    const worst = Math.ceil((input * 250_000 + 100 * 1_000_000) / 1000);
    expect(settles.slice(0, 2).map((s) => [s.status, s.cost])).toEqual([
      ["usage_invalid", worst],
      ["usage_invalid", worst],
    ]);
    // Quoted counts are counts: 50 × 0.25 + 7 × 1 (¢/1k)
    expect(settles[2]).toMatchObject({
      status: "ok",
      cost: Math.ceil((50 * 250_000 + 7 * 1_000_000) / 1000),
    });
    expect(settles[3]).toMatchObject({ status: "usage_invalid", cost: worst });
    for (const s of settles)
      expect(Number.isSafeInteger(s.cost) && Number.isSafeInteger(s.tokens)).toBe(true);
    // A restart (snapshot + journal) shows exactly what the journal holds.
    const { ledger } = await Ledger.open({ dir: dataDir, policy: compilePolicy(configFrom(yaml())) });
    expect(ledger.usage("workspace", DAY()).spent).toBe(settles.reduce((a, s) => a + s.cost, 0));
    expect(ledger.usage("workspace", DAY()).spent).toBe(live.spent);
    await ledger.close();
  });

  it("#10.7 stream asked, JSON answered: settled from its usage and relayed as a stream; a non-JSON 200 is a 502", async () => {
    const { proxy, dataDir } = await h.start();
    h.fake.next.push({ kind: "ignore-stream" });
    const streamed = await post(proxy, "/v1/chat/completions", {
      model: "gpt",
      messages: hello,
      stream: true,
    });
    expect(streamed.res.headers.get("content-type")).toContain("text/event-stream");
    const chunks = sseData(streamed.text);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toMatch(
      /^Budgets keep agents honest/,
    );
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe("stop");
    expect(streamed.text).toContain("data: [DONE]");
    const input = estimateChatInput({ messages: hello }, "openai");
    const cents = Number(/cost_cents=([\d.]+)/.exec(streamed.text)?.[1]);
    expect(cents).toBeCloseTo((input * 0.25 + 40) / 1000, 9);
    // The same through the official SDK, which must see an ordinary stream.
    h.fake.next.push({ kind: "ignore-stream" });
    const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "alice", maxRetries: 0 });
    let text = "";
    for await (const chunk of await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "Say hello" }],
      stream: true,
    })) {
      text += chunk.choices[0]?.delta?.content ?? "";
    }
    expect(text).toMatch(/^Budgets keep agents honest/);

    h.fake.next.push({
      kind: "status",
      status: 200,
      text: "<html>gateway says hi</html>",
      contentType: "text/html",
    });
    const html = await post(proxy, "/v1/chat/completions", {
      model: "gpt",
      messages: hello,
      max_tokens: 100,
    });
    expect(html.res.status).toBe(502);
    expect(html.json().error.code).toBe("upstream_invalid_response");
    const asString = await post(proxy, "/v1/chat/completions", {
      model: "gpt",
      messages: hello,
      stream: "true",
    });
    expect(asString.res.status).toBe(400);
    expect(asString.json().error.param).toBe("stream");
    await proxy.close();
    const settles = settleEntries(dataDir);
    expect(settles[0]).toMatchObject({ status: "ok", usage: { output: 40 } });
    expect(settles[2]).toMatchObject({ status: "upstream_invalid" });
    expect(settles[2]?.usage.output).toBeGreaterThan(0); // charged at the counted output
  });

  it("#10.8 deeply nested JSON is refused with 400 before any reservation", async () => {
    const { proxy, dataDir } = await h.start();
    const deep = `{"model":"gpt","messages":${JSON.stringify(hello)},"metadata":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    for (let i = 0; i < 3; i++) {
      const { res, json } = await post(proxy, "/v1/chat/completions", deep);
      expect(res.status).toBe(400);
      expect(json().error.message).toContain("nested deeper than");
    }
    expect(proxy.ledger.openReservations).toBe(0);
    expect((await post(proxy, "/v1/chat/completions", { model: "gpt", messages: hello })).res.status).toBe(
      200,
    );
    await proxy.close();
    expect(journalEntries(dataDir).filter((e) => e.type === "reserve")).toHaveLength(1);
  });

  it("#10.9 Anthropic cache writes without a configured price are charged at 1.25× input, 1-hour writes at 2×", async () => {
    const { proxy } = await h.start();
    h.fake.next.push({
      kind: "usage",
      usage: {
        input_tokens: 0,
        output_tokens: 10,
        cache_creation_input_tokens: 3000,
        cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      },
    });
    const { json } = await post(proxy, "/v1/messages", { model: "claude", max_tokens: 100, messages: hello });
    // 1000 × 0.375 + 2000 × 0.6 + 10 × 1.5 = 1590 (¢/1000)
    expect(json().cost_cents).toBeCloseTo(1.59, 9);
  });

  it("#10.10 a mid-stream Anthropic error reaches an OpenAI-format client as an error, journaled upstream_error", async () => {
    const { proxy, dataDir } = await h.start();
    h.fake.next.push({ kind: "stream-error", after: 8 });
    const { text } = await post(proxy, "/v1/chat/completions", {
      model: "claude",
      max_tokens: 100,
      messages: hello,
      stream: true,
    });
    const chunks = sseData(text);
    expect(chunks.at(-1)?.error).toMatchObject({ type: "overloaded_error", message: "Overloaded" });
    expect(chunks.some((c) => c.choices?.[0]?.finish_reason === "stop")).toBe(false);
    expect(text).not.toContain("[DONE]");
    // The official SDK raises it.
    h.fake.next.push({ kind: "stream-error", after: 8 });
    const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "alice", maxRetries: 0 });
    const consume = async () => {
      for await (const _ of await openai.chat.completions.create({
        model: "claude",
        max_tokens: 100,
        messages: [{ role: "user", content: "Say hello" }],
        stream: true,
      })) {
        // reading
      }
    };
    await expect(consume()).rejects.toThrow(/Overloaded/);
    await settled(proxy);
    await proxy.close();
    const [settle] = settleEntries(dataDir);
    expect(settle?.status).toBe("upstream_error");
    expect(settle?.usage.output).toBeGreaterThan(1); // the six text deltas streamed were counted
    expect(settle?.usage.output).toBeGreaterThanOrEqual(h.fake.requests[0]?.generated?.output ?? 99);
  });

  it("#10.11 a refusal caused only by requests in flight says so and is retryable", async () => {
    const { proxy } = await h.start();
    // race has 3¢ a day. A request holding all but ~0.006¢ of it as its worst case is in flight…
    h.fake.next.push({ kind: "delay", ms: 400 });
    const holding = post(
      proxy,
      "/v1/chat/completions",
      { model: "gpt", messages: hello, max_tokens: 2990 },
      "race",
    );
    while (proxy.ledger.openReservations === 0) await new Promise((r) => setTimeout(r, 2));
    // …so another cannot fit even 16 tokens now, though nothing is spent yet.
    const refused = await post(
      proxy,
      "/v1/chat/completions",
      { model: "gpt", messages: hello, max_tokens: 2000 },
      "race",
    );
    expect(refused.res.status).toBe(402);
    expect(refused.res.headers.get("x-should-retry")).toBe("true");
    expect(Number(refused.res.headers.get("retry-after"))).toBeGreaterThan(0);
    const error = refused.json().error;
    expect(error).toMatchObject({ code: "budget_exceeded", in_flight: true, scope: "user:race" });
    expect(error.message).toMatch(
      /^User race cannot fit this request in its daily budget limit \(\$0\.03\) right now: \$0(\.00)? spent and \$0\.0299\d* held by requests in flight\. Retry in a few seconds\.$/,
    );
    expect((await holding).res.status).toBe(200);
    // The holder settled for 40 tokens, not 2,990: the retry goes through.
    const retried = await post(
      proxy,
      "/v1/chat/completions",
      { model: "gpt", messages: hello, max_tokens: 2000 },
      "race",
    );
    expect(retried.res.status).toBe(200);
  });
});

/**
 * A proxy on the fake provider with no money budget at all (a request quota
 * only): nothing clamps an output cap, so the validator's bounds are all
 * that stand between a request and the ledger's integers.
 */
async function quotaOnly(logged: string[], models = "") {
  const dataDir = await mkdtemp(join(tmpdir(), "tokenpak-regress-"));
  const config = configFrom(`
budget:
  quota: { requests_per_month: 1000 }
providers:
  openai: { type: openai, api_key: sk-upstream, base_url: "${h.fake.url}/v1", timeout_ms: 2000 }
models:
  gpt: { provider: openai, estimated_input_cost_per_1k: 0.25, estimated_output_cost_per_1k: 1 }
${models}`);
  const proxy = await startProxy({ config, dataDir, port: 0, warn: (m) => logged.push(m) });
  return { proxy, dataDir };
}

describe("#10 audit: what the first fixes left open", () => {
  it("output caps and n are bounded: past the documented maxima a 400 names the field, before anything is reserved", async () => {
    const logged: string[] = [];
    const { proxy, dataDir } = await quotaOnly(logged);
    const over = MAX_OUTPUT_TOKENS + 1;
    const cases: [string, string, Record<string, unknown>][] = [
      ["/v1/chat/completions", "max_tokens", { model: "gpt", messages: hello, max_tokens: 9007199254740991 }],
      [
        "/v1/chat/completions",
        "max_completion_tokens",
        { model: "gpt", messages: hello, max_completion_tokens: over },
      ],
      ["/v1/chat/completions", "n", { model: "gpt", messages: hello, n: 1_000_000, max_tokens: 100_000 }],
      ["/v1/chat/completions", "n", { model: "gpt", messages: hello, n: MAX_CHOICES + 1 }],
      ["/v1/chat/completions", "best_of", { model: "gpt", messages: hello, best_of: 1_000_000 }],
      ["/v1/responses", "max_output_tokens", { model: "gpt", input: "hi", max_output_tokens: over }],
      ["/v1/messages", "max_tokens", { model: "gpt", messages: hello, max_tokens: over }],
    ];
    for (const [path, field, body] of cases) {
      const { res, json } = await post(proxy, path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(json().error).toMatchObject({ code: "invalid_request", param: field });
      expect(json().error.message).toMatch(new RegExp(`^\`${field}\` must be at most [\\d,]+, got `));
    }
    expect(h.fake.requests).toHaveLength(0);
    // At the maxima the request is served (the fake answers its 40 tokens).
    const most = await post(proxy, "/v1/chat/completions", {
      model: "gpt",
      messages: hello,
      max_tokens: MAX_OUTPUT_TOKENS,
      n: MAX_CHOICES,
    });
    expect(most.res.status).toBe(200);
    await proxy.close();
    expect(journalEntries(dataDir).filter((e) => e.type === "reserve")).toHaveLength(1);
    expect(logged).toEqual([]);
  });

  it("an internal-coded error on the exchange path is logged; the client gets the generic message and the request id", async () => {
    const logged: string[] = [];
    // Within the bounds, but at this price the worst case is no safe integer of micro-cents.
    const { proxy } = await quotaOnly(
      logged,
      "  gold: { provider: openai, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 1000000 }",
    );
    const { res, json } = await post(proxy, "/v1/chat/completions", {
      model: "gold",
      messages: hello,
      max_tokens: MAX_OUTPUT_TOKENS,
      n: MAX_CHOICES,
    });
    expect(res.status).toBe(500);
    const id = res.headers.get("x-tokenpak-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(json().error).toMatchObject({ code: "internal_error", request_id: id });
    expect(json().error.message).toBe(`internal error (request id ${id}); the details are in tokenpak's log`);
    expect(logged.join("\n")).toContain(
      `internal error in request ${id}: TokenpakError: refusing a non-integer`,
    );
    expect(proxy.ledger.openReservations).toBe(0);
    expect(h.fake.requests).toHaveLength(0);
    await proxy.close();
  });

  it("with n > 1, a stream cut during a later answer ends in an error event and is journaled upstream_error", async () => {
    const { proxy, dataDir } = await h.start();
    const body = { model: "gpt", messages: hello, n: 3, max_tokens: 20, stream: true };
    // Whole: three answers, each with its finish_reason, then the usage chunk and [DONE].
    const whole = await post(proxy, "/v1/chat/completions", body);
    expect(sseData(whole.text).some((c) => c.error)).toBe(false);
    expect(whole.text).toContain("data: [DONE]");
    // Cut after 8 events: the first answer has ended, the second has begun.
    h.fake.next.push({ kind: "cut", after: 8 });
    const cut = await post(proxy, "/v1/chat/completions", body);
    const chunks = sseData(cut.text);
    expect(chunks.some((c) => c.choices?.[0]?.index === 0 && c.choices[0].finish_reason)).toBe(true);
    expect(chunks.at(-1)?.error?.message).toBe("the provider's stream ended before the answer was complete");
    expect(cut.text).not.toContain("[DONE]");
    await settled(proxy);
    await proxy.close();
    const [first, second] = settleEntries(dataDir);
    expect(first?.status).toBe("ok");
    expect(second?.status).toBe("upstream_error");
    expect(second?.usage.output).toBeGreaterThanOrEqual(h.fake.requests[1]?.generated?.output ?? 99);
  });

  it("a stream whose relay cannot be built ends its reservation at once (charged, as it reached the provider), not at the sweep", async () => {
    const logged: string[] = [];
    const { proxy, dataDir } = await h.start("", { warn: (m) => logged.push(m) });
    // The relay asks for the remaining budget as it builds the stream: make that fail.
    proxy.ledger.remaining = () => {
      throw new TokenpakError("internal_error", "remaining: the counters are gone");
    };
    const { res, json } = await post(proxy, "/v1/chat/completions", {
      model: "gpt",
      messages: hello,
      max_tokens: 100,
      stream: true,
    });
    expect(res.status).toBe(500);
    expect(json().error.message).not.toContain("counters are gone");
    expect(logged.join("\n")).toContain("remaining: the counters are gone");
    expect(proxy.ledger.openReservations).toBe(0);
    await proxy.close();
    const [settle] = settleEntries(dataDir);
    expect(settle).toMatchObject({ status: "internal_error" });
    expect(settle?.cost).toBe(settle?.reserved);
  });

  it("a translated request reserves the input of the body its provider gets, not the client's framing of it", async () => {
    const { proxy, dataDir } = await h.start();
    const turns = [
      { role: "user", content: "exchange 1: write about budgets" },
      { role: "assistant", content: "ok" },
      { role: "user", content: "and about caps" },
    ];
    // A Messages body with a system prompt, to an OpenAI model: its chat body frames more tokens.
    await post(proxy, "/v1/messages", { model: "gpt", max_tokens: 10, system: "be brief", messages: turns });
    // A Responses body to Claude: its Messages body frames more tokens than the string input.
    await post(proxy, "/v1/responses", {
      model: "claude",
      max_output_tokens: 10,
      input: "exchange 8: write",
    });
    await proxy.close();
    const reserves = journalEntries(dataDir).filter((e) => e.type === "reserve");
    expect(reserves).toHaveLength(2);
    for (const [i, r] of reserves.entries()) {
      const billed = h.fake.requests[i]?.generated?.input ?? Number.POSITIVE_INFINITY;
      expect(r.type === "reserve" && r.reserved.tokens - 10, `request ${i}`).toBeGreaterThanOrEqual(billed);
    }
  });

  it("invalid JSON is called invalid JSON; a refusal about the whole body has param null", async () => {
    const { proxy } = await h.start();
    const bad = await post(proxy, "/v1/chat/completions", "{bad");
    expect(bad.res.status).toBe(400);
    expect(bad.json().error).toMatchObject({
      code: "invalid_request",
      param: null,
      message: "request body is not valid JSON; send a JSON object",
    });
    const notObject = await post(proxy, "/v1/chat/completions", "[1]");
    expect(notObject.json().error.message).toBe("request body must be a JSON object");
    const deep = `{"model":"gpt","messages":[],"metadata":${"[".repeat(100)}${"]".repeat(100)}}`;
    const nested = await post(proxy, "/v1/chat/completions", deep);
    expect(nested.json().error).toMatchObject({ code: "invalid_request", param: null });
  });
});
