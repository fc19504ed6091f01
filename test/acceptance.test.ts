/**
 * Issue 4's acceptance criteria, end to end: the real proxy (startProxy, port 0)
 * in front of a fake OpenAI + Anthropic upstream on loopback, driven by the
 * official SDKs and by plain fetch as in the TokenPak recipe.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Limit } from "../src/budget/policy.js";
import type { JournalEntry } from "../src/ledger/journal.js";
import { mockText } from "../src/providers/mock.js";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import { journalEntries } from "./helpers/journal.js";
import { configFrom } from "./helpers/policy.js";

const MICROS_PER_CENT = 1_000_000;
const DAILY = (cents: number): Limit => ({
  window: { kind: "day" },
  unit: "cents",
  amount: cents * MICROS_PER_CENT,
  kind: "budget",
});

interface Harness {
  proxy: RunningProxy;
  fake: FakeUpstream;
  dataDir: string;
}

async function start(yaml: string, env: Record<string, string>, fake: FakeUpstream): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), "tokenpak-acceptance-"));
  const config = configFrom(yaml, { FAKE_URL: fake.url, ...env });
  const proxy = await startProxy({ config, dataDir, port: 0, host: "127.0.0.1" });
  return { proxy, fake, dataDir };
}

async function stop(h: Harness | undefined): Promise<void> {
  if (!h) return;
  await h.proxy.close();
  await h.fake.close();
  await rm(h.dataDir, { recursive: true, force: true });
}

/** Every entry of the journal (journal/*.jsonl in the data dir). */
async function journal(dataDir: string): Promise<JournalEntry[]> {
  return journalEntries(dataDir);
}

type Settle = Extract<JournalEntry, { type: "settle" }>;
const settles = (entries: JournalEntry[]): Settle[] =>
  entries.filter((e): e is Settle => e.type === "settle");
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const toMicros = (cents: number): number => Math.round(cents * MICROS_PER_CENT);

interface OpenAIErrorBody {
  error: { type: string; code: string; message: string; param: null; [k: string]: unknown };
}
interface AnthropicErrorBody {
  type: "error";
  error: { type: string; code: string; message: string; [k: string]: unknown };
}

// ---------------------------------------------------------------------------
// 1–3: the official SDKs, unchanged but for baseURL
// ---------------------------------------------------------------------------

const SDK_YAML = `
budget:
  daily_limit_cents: 100000
  per_user_limits:
    enabled: true
    user_limits:
      user-a: { daily_limit_cents: 300 }
      broke: { daily_limit_cents: 0.01 }
providers:
  openai:
    type: openai
    api_key: sk-upstream-openai
    base_url: \${FAKE_URL}/v1
  anthropic:
    type: anthropic
    api_key: sk-upstream-anthropic
    base_url: \${FAKE_URL}
models:
  gpt-4:
    provider: openai
    estimated_input_cost_per_1k: 3
    estimated_output_cost_per_1k: 6
  claude-sonnet:
    provider: anthropic
    upstream_model: claude-sonnet-4-5
    estimated_input_cost_per_1k: 0.3
    estimated_output_cost_per_1k: 1.5
`;

const REPLY_TOKENS = 40;
const REPLY = mockText(REPLY_TOKENS);

describe("the official SDKs pointed at the proxy", () => {
  let h: Harness | undefined;
  let openai: OpenAI;
  let anthropic: Anthropic;

  const harness = (): Harness => {
    if (!h) throw new Error("proxy not started");
    return h;
  };
  const lastUpstream = () => {
    const seen = harness().fake.requests.at(-1);
    if (!seen) throw new Error("the upstream saw no request");
    return seen;
  };

  beforeAll(async () => {
    const fake = await startFakeUpstream({ replyTokens: REPLY_TOKENS });
    h = await start(SDK_YAML, {}, fake);
    openai = new OpenAI({ baseURL: `${h.proxy.url}/v1`, apiKey: "user-a", maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: h.proxy.url, apiKey: "user-a", maxRetries: 0 });
  });
  afterAll(async () => {
    await stop(h);
  });

  describe("openai: chat.completions.create", () => {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: "system", content: "You are terse." },
      { role: "user", content: "Say something about budgets." },
    ];

    it("JSON: the answer, cost_cents, the tokenpak headers; the client key never goes upstream", async () => {
      const { data, response } = await openai.chat.completions
        .create({ model: "gpt-4", messages })
        .withResponse();
      expect(data.object).toBe("chat.completion");
      expect(data.choices[0]?.message.content).toBe(REPLY);
      expect(data.choices[0]?.finish_reason).toBe("stop");
      expect(data.usage?.completion_tokens).toBe(REPLY_TOKENS);
      const cost = (data as unknown as { cost_cents: number }).cost_cents;
      expect(cost).toBeGreaterThan(0);
      expect(Number(response.headers.get("x-tokenpak-cost-cents"))).toBe(cost);
      expect(response.headers.get("x-tokenpak-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number(response.headers.get("x-tokenpak-remaining-cents"))).toBeGreaterThan(0);

      const seen = lastUpstream();
      expect(seen.path).toBe("/v1/chat/completions");
      expect(seen.headers.authorization).toBe("Bearer sk-upstream-openai");
      expect(JSON.stringify(seen.headers)).not.toContain("user-a");
    });

    it("stream: the chunks assemble to the JSON answer; no usage chunk unless asked; same cost as JSON", async () => {
      const json = await openai.chat.completions.create({ model: "gpt-4", messages }).withResponse();
      const jsonCost = (json.data as unknown as { cost_cents: number }).cost_cents;

      const { data: stream, response } = await openai.chat.completions
        .create({ model: "gpt-4", messages, stream: true })
        .withResponse();
      let text = "";
      let chunks = 0;
      let finish: string | null = null;
      const usages: unknown[] = [];
      for await (const chunk of stream) {
        chunks++;
        expect(chunk.object).toBe("chat.completion.chunk");
        // No extra usage-only chunk with empty choices (clients read choices[0] of every chunk).
        expect(chunk.choices).toHaveLength(1);
        if (chunk.usage) usages.push(chunk.usage);
        for (const c of chunk.choices) {
          text += c.delta.content ?? "";
          finish = c.finish_reason ?? finish;
        }
      }
      expect(chunks).toBeGreaterThan(3); // relayed as a stream, not one blob
      expect(text).toBe(json.data.choices[0]?.message.content);
      expect(finish).toBe("stop");
      expect(usages).toEqual([]);
      // The proxy asked upstream for usage anyway, to settle from it.
      expect(lastUpstream().body.stream_options).toEqual({ include_usage: true });

      // The streamed exchange costs what the JSON one did.
      const requestId = response.headers.get("x-tokenpak-request-id");
      const settled = settles(await journal(harness().dataDir)).find((e) => e.request_id === requestId);
      expect(settled?.status).toBe("ok");
      expect(settled?.cost).toBe(toMicros(jsonCost));
    });

    it("stream with stream_options.include_usage: the client sees exactly one usage chunk", async () => {
      const stream = await openai.chat.completions.create({
        model: "gpt-4",
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      const usageChunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      for await (const chunk of stream) {
        if (chunk.usage) usageChunks.push(chunk);
        for (const c of chunk.choices) text += c.delta.content ?? "";
      }
      expect(text).toBe(REPLY);
      expect(usageChunks).toHaveLength(1);
      expect(usageChunks[0]?.choices).toEqual([]);
      expect(usageChunks[0]?.usage?.completion_tokens).toBe(REPLY_TOKENS);
      expect(usageChunks[0]?.usage?.prompt_tokens).toBeGreaterThan(0);
    });

    it("on an Anthropic model the proxy translates both ways (JSON and stream)", async () => {
      const data = await openai.chat.completions.create({ model: "claude-sonnet", messages });
      expect(data.choices[0]?.message.content).toBe(REPLY);
      expect(data.choices[0]?.finish_reason).toBe("stop");
      const seen = lastUpstream();
      expect(seen.path).toBe("/v1/messages");
      expect(seen.body.model).toBe("claude-sonnet-4-5");
      expect(seen.body.system).toBe("You are terse.");
      expect(seen.headers["x-api-key"]).toBe("sk-upstream-anthropic");

      const stream = await openai.chat.completions.create({
        model: "claude-sonnet",
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        usage = chunk.usage ?? usage;
        for (const c of chunk.choices) text += c.delta.content ?? "";
      }
      expect(text).toBe(REPLY);
      expect(usage?.completion_tokens).toBe(REPLY_TOKENS);
    });
  });

  describe("@anthropic-ai/sdk: messages.create", () => {
    const params = {
      max_tokens: 256,
      system: "You are terse.",
      messages: [{ role: "user" as const, content: "Say something about budgets." }],
    };

    for (const [model, upstreamPath] of [
      ["claude-sonnet", "/v1/messages"], // an anthropic-type provider
      ["gpt-4", "/v1/chat/completions"], // an openai-type provider: the recipe's case, translated
    ] as const) {
      it(`${model}: JSON, stream: true, and .stream().finalMessage() agree`, async () => {
        const { data: json, response: jsonResponse } = await anthropic.messages
          .create({ model, ...params })
          .withResponse();
        expect(json.type).toBe("message");
        expect(json.role).toBe("assistant");
        expect(json.content).toEqual([expect.objectContaining({ type: "text", text: REPLY })]);
        expect(json.stop_reason).toBe("end_turn");
        expect(json.usage.output_tokens).toBe(REPLY_TOKENS);
        expect((json as unknown as { cost_cents: number }).cost_cents).toBeGreaterThan(0);
        const seen = lastUpstream();
        expect(seen.path).toBe(upstreamPath);
        expect(JSON.stringify(seen.headers)).not.toContain("user-a");
        if (upstreamPath === "/v1/chat/completions") {
          // Translated: the system prompt became a system message.
          expect(seen.body.messages).toEqual([
            { role: "system", content: "You are terse." },
            expect.objectContaining({ role: "user" }),
          ]);
        }

        // stream: true, iterating the raw events
        const { data: events, response: streamResponse } = await anthropic.messages
          .create({ model, ...params, stream: true })
          .withResponse();
        const types: string[] = [];
        let text = "";
        let stop: string | null = null;
        let outputTokens = 0;
        for await (const event of events) {
          types.push(event.type);
          if (event.type === "content_block_delta" && event.delta.type === "text_delta")
            text += event.delta.text;
          if (event.type === "message_delta") {
            stop = event.delta.stop_reason;
            outputTokens = event.usage.output_tokens;
          }
        }
        expect(types[0]).toBe("message_start");
        expect(types.at(-1)).toBe("message_stop");
        expect(types.filter((t) => t === "content_block_delta").length).toBeGreaterThan(1);
        expect(text).toBe(REPLY);
        expect(stop).toBe("end_turn");
        expect(outputTokens).toBe(REPLY_TOKENS);
        // The streamed exchange costs what the JSON one did.
        const costOf = async (response: Response) => {
          const id = response.headers.get("x-tokenpak-request-id");
          return settles(await journal(harness().dataDir)).find((e) => e.request_id === id)?.cost;
        };
        const jsonCost = toMicros((json as unknown as { cost_cents: number }).cost_cents);
        expect(await costOf(jsonResponse)).toBe(jsonCost);
        expect(await costOf(streamResponse)).toBe(jsonCost);

        // the helper: .stream() + finalMessage()
        const final = await anthropic.messages.stream({ model, ...params }).finalMessage();
        expect(final.content).toEqual([expect.objectContaining({ type: "text", text: REPLY })]);
        expect(final.stop_reason).toBe("end_turn");
        expect(final.usage.output_tokens).toBe(REPLY_TOKENS);
      });
    }
  });

  describe("budget refusals surface as APIError 402 budget_exceeded", () => {
    const broke = () => ({
      openai: new OpenAI({ baseURL: `${harness().proxy.url}/v1`, apiKey: "broke", maxRetries: 0 }),
      anthropic: new Anthropic({ baseURL: harness().proxy.url, apiKey: "broke", maxRetries: 0 }),
    });

    async function caught(p: Promise<unknown>): Promise<unknown> {
      try {
        await p;
      } catch (error) {
        return error;
      }
      throw new Error("expected the request to be refused");
    }

    it("openai: JSON and stream", async () => {
      const before = harness().fake.requests.length;
      const { openai: client } = broke();
      const messages = [{ role: "user" as const, content: "hello" }];
      for (const request of [
        () => client.chat.completions.create({ model: "gpt-4", messages }),
        () => client.chat.completions.create({ model: "gpt-4", messages, stream: true }),
      ]) {
        const error = await caught(request());
        expect(error).toBeInstanceOf(OpenAI.APIError);
        if (!(error instanceof OpenAI.APIError)) return;
        expect(error.status).toBe(402);
        expect(error.code).toBe("budget_exceeded");
        expect(error.message).toContain("User broke has reached daily budget limit ($0.0001)");
        expect(error.headers?.get("x-should-retry")).toBe("false");
        const body = error.error as OpenAIErrorBody["error"];
        expect(body.daily_limit).toBe("$0.0001");
        expect(body.scope).toBe("user:broke");
      }
      // Nothing was forwarded, nothing is left reserved.
      expect(harness().fake.requests.length).toBe(before);
      expect(harness().proxy.ledger.openReservations).toBe(0);
    });

    it("anthropic: JSON, stream: true and .stream()", async () => {
      const before = harness().fake.requests.length;
      const { anthropic: client } = broke();
      const params = { max_tokens: 100, messages: [{ role: "user" as const, content: "hello" }] };
      for (const model of ["claude-sonnet", "gpt-4"]) {
        for (const request of [
          () => client.messages.create({ model, ...params }),
          () => client.messages.create({ model, ...params, stream: true }),
          () => client.messages.stream({ model, ...params }).finalMessage(),
        ]) {
          const error = await caught(request());
          expect(error).toBeInstanceOf(Anthropic.APIError);
          if (!(error instanceof Anthropic.APIError)) return;
          expect(error.status).toBe(402);
          const body = error.error as AnthropicErrorBody;
          expect(body.type).toBe("error");
          expect(body.error.code).toBe("budget_exceeded");
          expect(body.error.message).toBe(
            "User broke has reached daily budget limit ($0.0001). Rejecting request.",
          );
          expect(body.error.daily_limit).toBe("$0.0001");
        }
      }
      expect(harness().fake.requests.length).toBe(before);
      expect(harness().proxy.ledger.openReservations).toBe(0);
    });
  });
});

// ---------------------------------------------------------------------------
// 4: the recipe's steps 2 and 4 against the fake upstream (step 3, the alert, is not part of issue 4)
// ---------------------------------------------------------------------------

describe("the TokenPak recipe, steps 2–4", () => {
  let h: Harness | undefined;
  const harness = (): Harness => {
    if (!h) throw new Error("proxy not started");
    return h;
  };

  beforeAll(async () => {
    // The recipe's config.yaml unchanged, plus where its openai provider lives.
    const recipe = await readFile(new URL("../examples/config.yaml", import.meta.url), "utf8");
    const apiKeyLine = "    api_key: ${OPENAI_API_KEY}\n";
    expect(recipe).toContain(apiKeyLine);
    const yaml = recipe.replace(apiKeyLine, `${apiKeyLine}    base_url: \${FAKE_URL}/v1\n`);
    // gpt-4 answers 4,000 tokens (24¢ at 6¢/1k): the $3.00 cap is reached in about a dozen requests.
    const fake = await startFakeUpstream({ replyTokens: 4000 });
    h = await start(yaml, { OPENAI_API_KEY: "sk-real-key" }, fake);
  });
  afterAll(async () => {
    await stop(h);
  });

  /** The recipe's curl: `curl -X POST .../v1/messages -H "Authorization: Bearer user-a" -d '{...}'`. */
  const curl = (content: string) =>
    fetch(`${harness().proxy.url}/v1/messages`, {
      method: "POST",
      // What curl -d sends: no JSON content type; the proxy must not care.
      headers: { authorization: "Bearer user-a", "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify({ model: "gpt-4", messages: [{ role: "user", content }] }),
    });

  it("costs accumulate per request until the cap; then the recipe's 402", async () => {
    const { proxy, fake, dataDir } = harness();
    const costs: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const res = await curl("Write 100 words of code");
      if (res.status === 402) {
        refused = res;
        break;
      }
      expect(res.status).toBe(200);
      const body = (await res.json()) as { type: string; cost_cents: number };
      expect(body.type).toBe("message");
      expect(body.cost_cents).toBeGreaterThan(0);
      costs.push(body.cost_cents);
    }
    expect(refused, "no 402 within 40 requests").toBeDefined();
    expect(costs.length).toBeGreaterThanOrEqual(12);
    // The first requests are the full answer: 4,000 tokens at 6¢/1k plus the prompt.
    expect(costs[0]).toBeGreaterThan(24);
    expect(costs[0]).toBeLessThan(25);

    // Step 2's tally: the ledger's user-a daily spend is the sum of what the client was told.
    const spent = proxy.ledger.usage("user:user-a", DAILY(300)).spent;
    expect(spent).toBe(sum(costs.map(toMicros)));
    expect(sum(settles(await journal(dataDir)).map((e) => e.cost))).toBe(spent);
    // The cap was reached, not overrun (clamping and the fallback use up the rest).
    expect(spent).toBeLessThanOrEqual(300 * MICROS_PER_CENT);
    expect(spent).toBeGreaterThan(299 * MICROS_PER_CENT);

    // Every request went to the OpenAI provider as a chat completion, with the provider's key.
    expect(fake.requests.length).toBe(costs.length);
    for (const seen of fake.requests) {
      expect(seen.path).toBe("/v1/chat/completions");
      expect(seen.headers.authorization).toBe("Bearer sk-real-key");
    }

    // Step 4: one more request, and the recipe's rejection.
    for (const res of [refused, await curl("One more request")]) {
      if (!res) continue;
      expect(res.status).toBe(402);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(res.headers.get("x-should-retry")).toBe("false");
      const body = (await res.json()) as AnthropicErrorBody;
      expect(body.type).toBe("error");
      expect(body.error).toMatchObject({
        code: "budget_exceeded",
        message: "User user-a has reached daily budget limit ($3.00). Rejecting request.",
        daily_limit: "$3.00",
        scope: "user:user-a",
        window: "daily",
        limit_cents: 300,
      });
      expect(body.error.daily_spent).toMatch(/^\$\d+\.\d{2,}$/);
      expect(body.error.spent_cents).toBe(spent / MICROS_PER_CENT);
      expect(Date.parse(String(body.error.resets_at))).toBeGreaterThan(Date.now());
    }
    expect(fake.requests.length).toBe(costs.length);
    expect(proxy.ledger.openReservations).toBe(0);

    // user-b has a budget of their own.
    const other = await fetch(`${proxy.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: "Bearer user-b" },
      body: JSON.stringify({ model: "gpt-4", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(other.status).toBe(200);
  });
});

// ---------------------------------------------------------------------------
// 5: 200 concurrent requests from one user against a $3.00 daily cap
// ---------------------------------------------------------------------------

const CONCURRENT_YAML = `
budget:
  daily_limit_cents: 100000
  per_user_limits:
    enabled: true
    user_limits:
      hammer: { daily_limit_cents: 300 }
providers:
  openai:
    type: openai
    api_key: sk-upstream
    base_url: \${FAKE_URL}/v1
models:
  gpt-4:
    provider: openai
    estimated_input_cost_per_1k: 3
    estimated_output_cost_per_1k: 6
`;

describe("200 concurrent requests from one user against a $3.00 daily cap", () => {
  let h: Harness | undefined;

  beforeAll(async () => {
    // Each answer is the full 500 tokens asked for (3¢ + the prompt), after 50 ms: all 200 are in
    // flight at once and together would cost about $6 — twice the cap.
    const fake = await startFakeUpstream({ replyTokens: 500, latencyMs: 50 });
    h = await start(CONCURRENT_YAML, {}, fake);
  });
  afterAll(async () => {
    await stop(h);
  });

  it("spend stays under the cap, refusals are 402 JSON, counters equal the journal", async () => {
    if (!h) throw new Error("proxy not started");
    const { proxy, fake, dataDir } = h;
    mockText(500); // warm the fake's text cache so the first answers are not slower than the rest

    type Outcome =
      | { kind: "served"; cents: number }
      | { kind: "refused"; body: OpenAIErrorBody; contentType: string | null; retry: string | null };
    const one = async (i: number): Promise<Outcome> => {
      const stream = i % 2 === 1;
      const res = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: "Bearer hammer", "content-type": "application/json" },
        body: JSON.stringify({
          model: "gpt-4",
          max_tokens: 500,
          stream,
          messages: [{ role: "user", content: `Request ${i}: write 500 tokens about budgets.` }],
        }),
      });
      if (res.status === 402) {
        return {
          kind: "refused",
          body: (await res.json()) as OpenAIErrorBody,
          contentType: res.headers.get("content-type"),
          retry: res.headers.get("x-should-retry"),
        };
      }
      expect(res.status).toBe(200);
      if (!stream)
        return { kind: "served", cents: ((await res.json()) as { cost_cents: number }).cost_cents };
      const text = await res.text();
      const match = /^: tokenpak cost_cents=([\d.]+) request_id=/m.exec(text);
      expect(match, "a stream ends with the cost comment").not.toBeNull();
      expect(text).toContain("data: [DONE]");
      return { kind: "served", cents: Number(match?.[1]) };
    };

    let maxInFlight = 0;
    const probe = setInterval(() => {
      maxInFlight = Math.max(maxInFlight, proxy.ledger.openReservations);
    }, 2);
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => one(i))).finally(() =>
      clearInterval(probe),
    );
    const served = outcomes.filter((o) => o.kind === "served");
    const refused = outcomes.filter((o) => o.kind === "refused");
    expect(served.length + refused.length).toBe(200);
    // Both sides of the cap were exercised: about half fit.
    expect(served.length).toBeGreaterThan(50);
    expect(refused.length).toBeGreaterThan(50);
    // Only served requests reached the upstream, and many were there at once (it answers after 50 ms).
    expect(fake.requests.length).toBe(served.length);
    expect(maxInFlight).toBeGreaterThanOrEqual(20);

    for (const r of refused) {
      expect(r.contentType).toContain("application/json");
      expect(r.body.error).toMatchObject({
        type: "budget_exceeded",
        code: "budget_exceeded",
        param: null,
        scope: "user:hammer",
        daily_limit: "$3.00",
      });
      // Refused because the budget is spent, or only because other requests hold the rest (#10.11).
      if (r.body.error.in_flight === true) {
        expect(r.body.error.message).toMatch(
          /^User hammer cannot fit this request in its daily budget limit \(\$3\.00\) right now: \$[\d.]+ spent and \$[\d.]+ held by requests in flight\./,
        );
        expect(r.retry).toBe("true");
      } else {
        expect(r.body.error.message).toMatch(/^User hammer has reached daily budget limit \(\$3\.00\)/);
        expect(r.retry).toBe("false");
      }
      expect(r.body).not.toHaveProperty("type"); // OpenAI format, not Anthropic's
    }

    // Afterwards: nothing in flight, and counters = journal = what the clients were told.
    expect(proxy.ledger.openReservations).toBe(0);
    const entries = await journal(dataDir);
    const settled = settles(entries);
    expect(settled.length).toBe(served.length);
    expect(settled.every((e) => e.user === "hammer" && e.status === "ok")).toBe(true);
    const reserves = entries.filter((e) => e.type === "reserve").length;
    const releases = entries.filter((e) => e.type === "release").length;
    expect(reserves).toBe(settled.length + releases);

    const journalSum = sum(settled.map((e) => e.cost));
    const userSpent = proxy.ledger.usage("user:hammer", DAILY(300)).spent;
    const workspaceSpent = proxy.ledger.usage("workspace", DAILY(100000)).spent;
    expect(userSpent).toBe(journalSum);
    expect(workspaceSpent).toBe(journalSum);
    expect(proxy.ledger.usage("user:hammer", DAILY(300)).reserved).toBe(0);
    expect(sum(served.map((o) => (o.kind === "served" ? toMicros(o.cents) : 0)))).toBe(journalSum);

    // The cap held, and was nearly used up (the budget was the limit, not the test).
    expect(userSpent).toBeLessThanOrEqual(300_000_000);
    expect(userSpent).toBeGreaterThan(290_000_000);
  });
});
