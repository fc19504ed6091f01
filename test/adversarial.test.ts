/**
 * The adversarial exchange suite (#10): instead of one test per bad input,
 * generated batches of concurrent exchanges on chat completions, messages
 * and the Responses API — random output caps, `n`, stream flags, reasoning,
 * built-in tools, usage shapes, early ends, client disconnects at random
 * points, provider errors mid-stream — against the real daemon and a fake
 * provider that misbehaves as told. After each batch the ledger must show:
 *
 * - settled spend ≤ the hard cap in every scope and window;
 * - every request that reached the provider (and was not refused by it) is
 *   settled, also when its client left before any answer — found by the run
 *   id each exchange is sent with — at ≥ what the provider generated, priced:
 *   the input, and all the output (for a client that left mid-stream, which
 *   stops the provider, the output the client received);
 * - no open reservation; only integers in the counters;
 * - a replay of the journal alone equals the live counters.
 *
 * `npm test` runs a bounded number of batches (seeded);
 * `npm run test:fuzz` runs many more (TOKENPAK_FUZZ_RUNS, TOKENPAK_FUZZ_SEED).
 */
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compilePolicy } from "../src/budget/policy.js";
import type { Config } from "../src/config/types.generated.js";
import { Ledger, type ScopeStatus } from "../src/ledger/ledger.js";
import { pricesFor } from "../src/pricing/cost.js";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { countTextTokens } from "../src/tokenize/estimate.js";
import { type Behaviour, type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import { type SettleEntry, settleEntries } from "./helpers/journal.js";
import { configFrom } from "./helpers/policy.js";

const RUNS = Number(process.env.TOKENPAK_FUZZ_RUNS ?? 30);
const SEED = Number(process.env.TOKENPAK_FUZZ_SEED ?? 20261201);
const BATCH = 12;

let fake: FakeUpstream;
let config: Config;

beforeAll(async () => {
  fake = await startFakeUpstream({ replyTokens: 60 });
  config = configFrom(`
budget:
  daily_limit_cents: 20
  rolling_limits: [{ window: 1h, limit_tokens: 40000 }]
  fallback_model_on_exceed: cheap
  per_user_limits:
    enabled: true
    default: { daily_limit_cents: 2 }
    user_limits:
      u0: { daily_limit_cents: 0.3 }
      u1: { daily_limit_cents: 1, daily_limit_tokens: 3000 }
providers:
  openai: { type: openai, api_key: sk-upstream, base_url: "${fake.url}/v1", timeout_ms: 400 }
  anthropic: { type: anthropic, api_key: sk-ant-upstream, base_url: "${fake.url}", timeout_ms: 400 }
models:
  gpt: { provider: openai, estimated_input_cost_per_1k: 0.25, estimated_output_cost_per_1k: 1, tool_call_cents: { web_search: 0.05 } }
  cheap: { provider: openai, estimated_input_cost_per_1k: 0.01, estimated_output_cost_per_1k: 0.02, tool_call_cents: { web_search: 0.01 } }
  claude: { provider: anthropic, estimated_input_cost_per_1k: 0.3, estimated_output_cost_per_1k: 1.5 }
`);
});
afterAll(async () => {
  await fake.close();
});

// ---------- what a batch is made of ----------

type ClientEnd =
  | { kind: "read" }
  | { kind: "leave-after-events"; events: number }
  | { kind: "leave-after-ms"; ms: number };

interface Exchange {
  route: "chat" | "messages" | "responses";
  model: "gpt" | "claude" | "cheap";
  user: string;
  maxTokens: unknown;
  n: unknown;
  stream: unknown;
  /** Responses API: ask for reasoning (hidden output tokens), enable web_search (billed per call). */
  reasoning: boolean;
  webSearch: boolean;
  behaviour: Behaviour;
  client: ClientEnd;
}

const weird = fc.constantFrom<unknown>(0, -1, -1_000_000_000_000, 1.5, "100", null, true, {});
const count = fc.oneof(fc.integer({ min: 1, max: 3000 }), weird, fc.constant(undefined));

/**
 * The provider's true usage with some counts garbled: the numbers it reports
 * are its own or broken, never a plausible lie (which no proxy could detect).
 */
const garble = fc.dictionary(
  fc.constantFrom("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens"),
  fc.constantFrom<unknown>("abc", -5, -1_000_000, 1.5, null, "$string", "$drop", 1e12, { n: 1 }, [3]),
  { minKeys: 1, maxKeys: 2 },
);

const behaviour: fc.Arbitrary<Behaviour> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: "normal" as const }) },
  { weight: 2, arbitrary: garble.map((fields) => ({ kind: "garble" as const, fields })) },
  { weight: 1, arbitrary: fc.constant({ kind: "no-usage" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "ignore-stream" as const }) },
  { weight: 2, arbitrary: fc.nat(20).map((after) => ({ kind: "stream-error" as const, after })) },
  { weight: 2, arbitrary: fc.nat(20).map((after) => ({ kind: "cut" as const, after })) },
  { weight: 1, arbitrary: fc.nat(20).map((after) => ({ kind: "failed" as const, after })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }).map((ms) => ({ kind: "delay" as const, ms })) },
  { weight: 1, arbitrary: fc.constant({ kind: "drip" as const, ms: 2 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Behaviour>(
      { kind: "status", status: 500, body: { error: { message: "boom", type: "server_error" } } },
      { kind: "status", status: 200, text: "<html>not json</html>", contentType: "text/html" },
      { kind: "status", status: 429, body: { error: { message: "slow down" } } },
      { kind: "hang" },
    ),
  },
);

const clientEnd: fc.Arbitrary<ClientEnd> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: "read" as const }) },
  { weight: 1, arbitrary: fc.nat(10).map((events) => ({ kind: "leave-after-events" as const, events })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 30 }).map((ms) => ({ kind: "leave-after-ms" as const, ms })),
  },
);

const exchange: fc.Arbitrary<Exchange> = fc.record({
  route: fc.constantFrom("chat" as const, "messages" as const, "responses" as const),
  model: fc.constantFrom("gpt" as const, "claude" as const, "cheap" as const),
  user: fc.constantFrom("u0", "u1", "u2", "u3"),
  maxTokens: count,
  n: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 3 }), weird),
  stream: fc.oneof(fc.boolean(), fc.constant<unknown>("true")),
  reasoning: fc.boolean(),
  webSearch: fc.boolean(),
  behaviour,
  client: clientEnd,
});

// ---------- driving one exchange ----------

interface Outcome {
  index: number;
  status: number;
  requestId: string | null;
  /** Text deltas the client received, per choice or content block. */
  received: Map<number, string>;
  left: boolean;
}

function bodyFor(x: Exchange, index: number): Record<string, unknown> {
  const text = `exchange ${index}: write about budgets`;
  if (x.route === "responses") {
    const body: Record<string, unknown> = { model: x.model, input: text, stream: x.stream };
    if (x.maxTokens !== undefined) body.max_output_tokens = x.maxTokens;
    if (x.reasoning) body.reasoning = { effort: "medium" };
    if (x.webSearch) body.tools = [{ type: "web_search" }];
    return body;
  }
  const body: Record<string, unknown> = {
    model: x.model,
    messages: [{ role: "user", content: text }],
  };
  if (x.maxTokens !== undefined) body.max_tokens = x.maxTokens;
  else if (x.route === "messages") body.max_tokens = 200;
  if (x.n !== undefined && x.route === "chat") body.n = x.n;
  body.stream = x.stream;
  return body;
}

function collectDeltas(text: string, into: Map<number, string>): void {
  for (const line of text.split("\n")) {
    if (!line.startsWith("data: {")) continue;
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(line.slice(6)) as Record<string, unknown>;
    } catch {
      continue;
    }
    for (const c of (data.choices as Record<string, unknown>[] | undefined) ?? []) {
      const content = (c.delta as Record<string, unknown> | undefined)?.content;
      if (typeof content === "string")
        into.set(Number(c.index ?? 0), (into.get(Number(c.index ?? 0)) ?? "") + content);
    }
    const delta = data.delta as Record<string, unknown> | undefined;
    if (data.type === "content_block_delta" && typeof delta?.text === "string") {
      into.set(Number(data.index ?? 0), (into.get(Number(data.index ?? 0)) ?? "") + delta.text);
    }
    if (data.type === "response.output_text.delta" && typeof data.delta === "string") {
      const i = Number(data.output_index ?? 0);
      into.set(i, (into.get(i) ?? "") + data.delta);
    }
  }
}

async function drive(proxy: RunningProxy, x: Exchange, index: number): Promise<Outcome> {
  const controller = new AbortController();
  const received = new Map<number, string>();
  const outcome: Outcome = { index, status: 0, requestId: null, received, left: false };
  const path = { chat: "/v1/chat/completions", messages: "/v1/messages", responses: "/v1/responses" }[
    x.route
  ];
  if (x.client.kind === "leave-after-ms") {
    const ms = x.client.ms;
    setTimeout(() => {
      outcome.left = true;
      controller.abort();
    }, ms);
  }
  try {
    const res = await fetch(`${proxy.url}${path}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${x.user}`,
        "content-type": "application/json",
        "x-tokenpak-run-id": runOf(index),
      },
      body: JSON.stringify(bodyFor(x, index)),
      signal: controller.signal,
    });
    outcome.status = res.status;
    outcome.requestId = res.headers.get("x-tokenpak-request-id");
    const reader = res.body?.getReader();
    const decoder = new TextDecoder();
    let events = 0;
    let buffered = "";
    for (;;) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      buffered += decoder.decode(chunk.value, { stream: true });
      const end = buffered.lastIndexOf("\n\n");
      if (end >= 0) {
        collectDeltas(buffered.slice(0, end + 2), received);
        events += (buffered.slice(0, end + 2).match(/\n\n/g) ?? []).length;
        buffered = buffered.slice(end + 2);
      }
      if (x.client.kind === "leave-after-events" && events >= x.client.events) {
        outcome.left = true;
        controller.abort();
        break;
      }
    }
  } catch {
    outcome.left = true;
  }
  return outcome;
}

// ---------- the checks ----------

function price(model: string, input: number, output: number): number {
  const p = pricesFor(model, config);
  return Math.ceil((input * p.input + output * p.output) / 1000);
}

function checkCaps(status: ScopeStatus[]): void {
  for (const s of status) {
    expect(Number.isSafeInteger(s.spent) && Number.isSafeInteger(s.reserved), s.scope).toBe(true);
    expect(s.reserved, `${s.scope} still holds reservations`).toBe(0);
    expect(s.spent, `${s.scope} ${JSON.stringify(s.window)} ${s.unit} past its hard cap`).toBeLessThanOrEqual(
      s.cap,
    );
  }
}

/** The run id an exchange is sent with: the journal records it, so a settle is found also for a client that left. */
const runOf = (index: number) => `x${index}`;

/**
 * Every request that reached the provider and was not refused by it is
 * settled — whether or not its client stayed for the answer — at least at
 * what the provider generated, priced: the input, and all of the output, or
 * for a client that left mid-stream (which stops the provider) the output it
 * received. And no reservation ends twice.
 */
function checkCharged(batch: Exchange[], outcomes: Outcome[], settles: SettleEntry[]): void {
  const ids = settles.map((s) => s.request_id);
  expect(new Set(ids).size, "a reservation settled twice").toBe(ids.length);
  const byRun = new Map(settles.map((s) => [s.run, s]));
  for (const seen of fake.requests) {
    const index = Number(/exchange (\d+):/.exec(seen.text)?.[1]);
    const x = batch[index];
    const o = outcomes[index];
    if (!x || !o) continue;
    const settle = byRun.get(runOf(index));
    const what = `exchange ${index} ${JSON.stringify(x)} → ${o.status}${o.left ? " (left)" : ""}, fake answered ${seen.status ?? "nothing"}, settle ${JSON.stringify(settle)}`;
    // Refused by the provider: nothing billed, and released is right. Anything else may be billed.
    if (seen.status !== undefined && seen.status >= 400) continue;
    expect(settle, what).toBeDefined();
    const generated = seen.generated ?? { input: 0, output: 0 };
    const model = settle?.model ?? x.model;
    const received = [...o.received.values()].reduce((n, t) => n + countTextTokens(t), 0);
    // A client that left mid-stream stopped the provider; what it generated past what was read is unknowable.
    const stoppedEarly = o.left && seen.body.stream === true;
    const output = stoppedEarly ? Math.min(received, generated.output) : generated.output;
    expect(settle?.cost ?? 0, what).toBeGreaterThanOrEqual(price(model, generated.input, output));
  }
}

async function replayEquals(dataDir: string, live: ScopeStatus[]): Promise<void> {
  rmSync(join(dataDir, "state.json"), { force: true }); // the journal alone
  const { ledger } = await Ledger.open({ dir: dataDir, policy: compilePolicy(config) });
  const key = (s: ScopeStatus) => `${s.scope} ${JSON.stringify(s.window)} ${s.unit}`;
  const replayed = new Map(ledger.status().map((s) => [key(s), s.spent]));
  for (const s of live) expect(replayed.get(key(s)) ?? 0, key(s)).toBe(s.spent);
  await ledger.close();
}

describe("adversarial exchanges (#10)", () => {
  it(`${RUNS} batches of ${BATCH} concurrent generated exchanges keep every invariant`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(exchange, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        fake.requests.length = 0;
        fake.next.length = 0;
        const dataDir = await mkdtemp(join(tmpdir(), "tokenpak-fuzz-"));
        const proxy = await startProxy({ config, dataDir, port: 0, warn: () => {} });
        try {
          // The fake takes behaviours in arrival order; give each exchange its own by its marker instead.
          fake.behaviourFor = (body) => {
            const index = Number(/exchange (\d+):/.exec(JSON.stringify(body))?.[1]);
            return batch[index]?.behaviour;
          };
          const outcomes = await Promise.all(batch.map((x, i) => drive(proxy, x, i)));
          for (const o of outcomes) {
            const x = batch[o.index];
            // A 500 is only ever the provider's own, relayed: never one of ours.
            const theirs = x?.behaviour.kind === "status" ? [x.behaviour.status] : [];
            expect([0, 200, 400, 402, 429, 502, 504, ...theirs], JSON.stringify(x)).toContain(o.status);
          }
          const until = Date.now() + 5000;
          while (proxy.ledger.openReservations > 0 && Date.now() < until)
            await new Promise((r) => setTimeout(r, 10));
          expect(proxy.ledger.openReservations).toBe(0);
          const live = proxy.ledger.status();
          checkCaps(live);
          await proxy.close();
          checkCharged(batch, outcomes, settleEntries(dataDir));
          await replayEquals(dataDir, live);
        } finally {
          fake.behaviourFor = undefined;
          await proxy.close();
          rmSync(dataDir, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  }, 600_000);
});
