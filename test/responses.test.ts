/**
 * Issue #12: POST /v1/responses end to end — the real proxy (startProxy,
 * port 0) in front of a fake provider on loopback that speaks the Responses
 * API (event names, item shapes, usage fields) and Anthropic's messages.
 */

import { request as httpRequest } from "node:http";
import { describe, expect, it } from "vitest";
import { MICROS_PER_CENT } from "../src/money/money.js";
import type { RunningProxy } from "../src/server/serve.js";
import { estimateResponsesInput } from "../src/tokenize/estimate.js";
import { proxyHarness } from "./helpers/harness.js";
import { journalEntries, settleEntries } from "./helpers/journal.js";
import type { Parsed } from "./helpers/json.js";

const h = proxyHarness(
  (fake, extra) => {
    return `
budget:
  daily_limit_cents: 1000
  per_user_limits:
    enabled: true
    user_limits:
      broke: { daily_limit_cents: 0.001 }
      tight: { daily_limit_cents: 0.5 }
providers:
  openai: { type: openai, api_key: sk-upstream-secret, base_url: "${fake.url}/v1", timeout_ms: 2000 }
  anthropic: { type: anthropic, api_key: sk-ant-upstream, base_url: "${fake.url}", timeout_ms: 2000 }
models:
  gpt-5: { provider: openai, pin_price: true, upstream_model: gpt-5-2025-08-07, estimated_input_cost_per_1k: 0.125, estimated_output_cost_per_1k: 1, cached_input_cost_per_1k: 0.0125, max_output_tokens: 8000, context_window: 50000, tool_call_cents: { web_search: 1 } }
  claude: { provider: anthropic, pin_price: true, upstream_model: claude-sonnet-4-5, estimated_input_cost_per_1k: 0.3, estimated_output_cost_per_1k: 1.5 }
${extra}`;
  },
  { replyTokens: 40, prefix: "responses" },
);
const _yaml = (extra = "") => h.yaml(extra);

async function post(proxy: RunningProxy, body: unknown, user = "alice", path = "/v1/responses") {
  const res = await fetch(`${proxy.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { res, text, json: () => JSON.parse(text) as Parsed };
}

/** A Responses SSE text → its events, `event:` name and parsed data. */
function sse(text: string): { event: string | undefined; data: Parsed }[] {
  return (text.match(/[\s\S]*?\n\n/g) ?? []).flatMap((raw) => {
    const data = /^data: (.*)$/m.exec(raw)?.[1];
    if (data === undefined || !data.startsWith("{")) return [];
    return [{ event: /^event: (.*)$/m.exec(raw)?.[1], data: JSON.parse(data) as Parsed }];
  });
}

const ask = { model: "gpt-5", input: "Say something about budgets." };
const micros = (cents: number) => Math.round(cents * MICROS_PER_CENT);

describe("POST /v1/responses on an OpenAI provider", () => {
  it("JSON: forwarded with the provider's key, the upstream model and the reserved max_output_tokens; settled from usage", async () => {
    const { proxy, dataDir } = await h.start();
    const { res, json } = await post(proxy, ask);
    expect(res.status).toBe(200);
    const body = json();
    expect(body.object).toBe("response");
    expect(body.status).toBe("completed");
    expect(body.output[0]).toMatchObject({ type: "message", role: "assistant", status: "completed" });
    expect(body.output[0].content[0].type).toBe("output_text");
    const seen = h.fake.requests[0];
    expect(seen?.path).toBe("/v1/responses");
    expect(seen?.headers.authorization).toBe("Bearer sk-upstream-secret");
    expect(seen?.body.model).toBe("gpt-5-2025-08-07");
    expect(seen?.body.max_output_tokens).toBe(8000); // injected: the model's cap, which the reservation paid for
    const usage = body.usage;
    expect(usage.output_tokens).toBe(40);
    const cents = (usage.input_tokens * 0.125 + 40 * 1) / 1000;
    expect(body.cost_cents).toBeCloseTo(cents, 9);
    expect(Number(res.headers.get("x-tokenpak-cost-cents"))).toBeCloseTo(cents, 9);
    expect(res.headers.get("x-tokenpak-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get("x-tokenpak-remaining-cents")).not.toBeNull();
    const [settle] = settleEntries(dataDir);
    expect(settle).toMatchObject({ status: "ok", usage: { input: usage.input_tokens, output: 40 } });
    expect(proxy.ledger.openReservations).toBe(0);
  });

  it("every documented input shape is priced and forwarded as sent", async () => {
    const { proxy, dataDir } = await h.start();
    const body = {
      model: "gpt-5",
      instructions: "You are terse.",
      input: [
        { role: "developer", content: "Answer in English." },
        {
          type: "message",
          role: "user",
          content: [
            { type: "input_text", text: "What is in this picture?" },
            { type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=", detail: "auto" },
          ],
        },
        { type: "function_call", call_id: "call_1", name: "lookup", arguments: '{"city":"Paris"}' },
        { type: "function_call_output", call_id: "call_1", output: '{"weather":"sunny"}' },
      ],
      tools: [{ type: "function", name: "lookup", parameters: { type: "object", properties: {} } }],
      tool_choice: "auto",
      max_output_tokens: 500,
      reasoning: { effort: "low" },
      text: { format: { type: "text" } },
      store: true,
      metadata: { ticket: "42" },
      user: "carol",
    };
    const { res } = await post(proxy, body);
    expect(res.status).toBe(200);
    const seen = h.fake.requests[0]?.body;
    for (const key of [
      "instructions",
      "input",
      "tools",
      "tool_choice",
      "reasoning",
      "text",
      "store",
      "metadata",
    ])
      expect(seen?.[key], key).toEqual(body[key as keyof typeof body]);
    expect(seen?.max_output_tokens).toBe(500);
    const reserve = journalEntries(dataDir).find((e) => e.type === "reserve");
    const input = estimateResponsesInput(body, "openai");
    expect(input).toBeGreaterThan(1600); // the image is priced as an image, not by its base64 text
    expect(reserve?.type === "reserve" && reserve.reserved.tokens).toBe(input + 500);
    // The body's `user` names the end user, as on chat completions.
    expect(settleEntries(dataDir)[0]?.user).toBe("alice");
  });

  it("refuses what it could misread, in the Responses error shape, before reserving", async () => {
    const { proxy } = await h.start();
    const bad: [Record<string, unknown>, string][] = [
      [{ ...ask, max_output_tokens: 0 }, "max_output_tokens"],
      [{ ...ask, max_output_tokens: -5 }, "max_output_tokens"],
      [{ ...ask, max_output_tokens: "100" }, "max_output_tokens"],
      [{ ...ask, max_tool_calls: 1.5 }, "max_tool_calls"],
      [{ ...ask, input: { text: "hi" } }, "input"],
      [{ ...ask, tools: { type: "function" } }, "tools"],
      [{ ...ask, previous_response_id: 7 }, "previous_response_id"],
      [{ ...ask, previous_response_id: "" }, "previous_response_id"], // names no response: not an unseen one
      [{ ...ask, conversation: "" }, "conversation"],
      [{ ...ask, stream: "yes" }, "stream"],
    ];
    for (const [body, param] of bad) {
      const { res, json } = await post(proxy, body);
      expect(res.status, param).toBe(400);
      expect(json().error).toMatchObject({ code: "invalid_request", type: "invalid_request_error", param });
      expect(res.headers.get("x-should-retry")).toBe("false");
    }
    expect(h.fake.requests).toHaveLength(0);
    expect(proxy.ledger.openReservations).toBe(0);
  });

  it("a budget refusal is a 402 in the Responses error shape", async () => {
    const { proxy } = await h.start();
    const { res, json } = await post(proxy, ask, "broke");
    expect(res.status).toBe(402);
    expect(json()).toEqual({
      error: expect.objectContaining({
        type: "budget_exceeded",
        code: "budget_exceeded",
        param: null,
        scope: "user:broke",
      }),
    });
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(h.fake.requests).toHaveLength(0);
  });

  it("stream: response.* events relayed in order, settled from response.completed's usage, at the JSON cost", async () => {
    const { proxy, dataDir } = await h.start();
    const json = (await post(proxy, ask)).json();
    const { res, text } = await post(proxy, { ...ask, stream: true });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = sse(text);
    const types = events.map((e) => e.data.type);
    expect(types[0]).toBe("response.created");
    expect(types).toContain("response.output_item.added");
    expect(types).toContain("response.content_part.added");
    expect(types.filter((t) => t === "response.output_text.delta").length).toBeGreaterThan(3);
    expect(types.at(-1)).toBe("response.completed");
    for (const e of events) expect(e.event).toBe(e.data.type); // every event named on its event: line
    const seq = events.map((e) => e.data.sequence_number);
    expect(seq).toEqual([...seq].sort((a, b) => a - b));
    const streamed = events
      .filter((e) => e.data.type === "response.output_text.delta")
      .map((e) => e.data.delta)
      .join("");
    expect(streamed).toBe(json.output[0].content[0].text);
    expect(text).toMatch(/: tokenpak cost_cents=[\d.]+ request_id=/);
    const id = res.headers.get("x-tokenpak-request-id");
    const settled = settleEntries(dataDir).find((e) => e.request_id === id);
    expect(settled?.status).toBe("ok");
    expect(settled?.cost).toBe(micros(json.cost_cents));
    // The Responses API has no stream_options.include_usage: nothing is added upstream.
    expect(h.fake.requests[1]?.body).not.toHaveProperty("stream_options");
  });

  it("stream cut short: the client gets an error event, the text streamed is charged", async () => {
    const { proxy, dataDir } = await h.start();
    h.fake.next.push({ kind: "cut", after: 8 });
    const { text } = await post(proxy, { ...ask, stream: true });
    const events = sse(text);
    const last = events.at(-1)?.data;
    expect(last).toMatchObject({ type: "error", message: expect.stringContaining("ended before") });
    expect(events.map((e) => e.data.type)).not.toContain("response.completed");
    const [settled] = settleEntries(dataDir);
    expect(settled?.status).toBe("upstream_error");
    expect(settled?.usage.output).toBe(h.fake.requests[0]?.generated?.output);
    expect(settled?.usage.output).toBeGreaterThan(0);
  });

  it("a provider `error` event mid-stream is passed through; response.failed is settled at the usage it reports", async () => {
    const { proxy, dataDir } = await h.start();
    h.fake.next.push({ kind: "stream-error", after: 8 });
    const first = sse((await post(proxy, { ...ask, stream: true })).text);
    expect(first.at(-1)?.data).toMatchObject({ type: "error", code: "server_error" });
    h.fake.next.push({ kind: "failed", after: 8 });
    const second = sse((await post(proxy, { ...ask, stream: true })).text);
    expect(second.at(-1)?.data).toMatchObject({ type: "response.failed", response: { status: "failed" } });
    const [a, b] = settleEntries(dataDir);
    expect(a?.status).toBe("upstream_error");
    expect(a?.usage.output).toBe(h.fake.requests[0]?.generated?.output);
    expect(b?.status).toBe("upstream_error");
    // What response.failed reported: the fake's input and output so far.
    expect(b?.usage.output).toBe(h.fake.requests[1]?.generated?.output);
    expect(b?.usage.input).toBe(h.fake.requests[1]?.generated?.input);
  });

  it("response.incomplete (max_output_tokens ran out) is a whole answer, settled at its usage", async () => {
    const { proxy, dataDir } = await h.start();
    const { text } = await post(proxy, { ...ask, stream: true, max_output_tokens: 20 });
    const last = sse(text).at(-1)?.data;
    expect(last).toMatchObject({
      type: "response.incomplete",
      response: { incomplete_details: { reason: "max_output_tokens" } },
    });
    expect(settleEntries(dataDir)[0]).toMatchObject({ status: "ok", usage: { output: 20 } });
  });

  it("reasoning tokens are output: priced as output, counted against the clamp, and a cut reasoning stream is charged its whole cap", async () => {
    const { proxy, dataDir } = await h.start();
    const { json } = await post(proxy, { ...ask, reasoning: { effort: "high" }, max_output_tokens: 100 });
    const usage = json().usage;
    expect(usage.output_tokens_details.reasoning_tokens).toBe(40);
    expect(usage.output_tokens).toBe(80); // 40 reasoning + 40 text, within the 100 sent
    const [settled] = settleEntries(dataDir);
    expect(settled?.usage).toMatchObject({ output: 80, reasoning: 40 });
    expect(settled?.cost).toBe(Math.ceil((usage.input_tokens * 125_000 + 80 * 1_000_000) / 1000));

    // Clamped by the budget: reasoning and text together stay within the clamp.
    const tight = await post(proxy, { ...ask, reasoning: { effort: "high" } }, "tight");
    const clamp = Number(tight.res.headers.get("x-tokenpak-max-tokens-clamped"));
    expect(clamp).toBeGreaterThan(16);
    expect(h.fake.requests.at(-1)?.body.max_output_tokens).toBe(clamp);
    expect(tight.json().usage.output_tokens).toBeLessThanOrEqual(clamp);

    // Reasoning never streams: a stream cut after the reasoning item began is charged the whole cap.
    h.fake.next.push({ kind: "cut", after: 3 });
    await post(proxy, { ...ask, stream: true, reasoning: { effort: "high" }, max_output_tokens: 300 });
    const cut = settleEntries(dataDir).at(-1);
    expect(cut?.status).toBe("upstream_error");
    expect(cut?.usage.output).toBe(300);

    // The same for a JSON answer that came without its usage.
    h.fake.next.push({ kind: "no-usage" });
    await post(proxy, { ...ask, reasoning: { effort: "high" }, max_output_tokens: 250 });
    expect(settleEntries(dataDir).at(-1)?.usage.output).toBe(250);
  });
});

describe("stateful turns: previous_response_id", () => {
  it("reserves the remembered context of the response it continues, and remembers across a restart", async () => {
    const first = await h.start();
    const one = (await post(first.proxy, ask)).json();
    const context = one.usage.total_tokens as number;
    const next = { model: "gpt-5", previous_response_id: one.id, input: "And more?", max_output_tokens: 100 };
    const two = await post(first.proxy, next);
    expect(two.res.status).toBe(200);
    // The provider billed the stored conversation as input…
    expect(two.json().usage.input_tokens).toBe(context + estimateResponsesInput(next, "openai"));
    // …and the reservation had it.
    const reserves = journalEntries(first.dataDir).filter((e) => e.type === "reserve");
    const reserved = reserves[1]?.type === "reserve" ? reserves[1].reserved.tokens : 0;
    expect(reserved).toBe(context + estimateResponsesInput(next, "openai") + 100);

    // The memory is in the snapshot: a restarted proxy still knows the second response.
    await first.proxy.close();
    const again = await h.start("", { dataDir: first.dataDir });
    const third = { ...next, previous_response_id: two.json().id };
    expect((await post(again.proxy, third)).res.status).toBe(200);
    const after = journalEntries(first.dataDir)
      .filter((e) => e.type === "reserve")
      .at(-1);
    const total = two.json().usage.total_tokens as number;
    expect(after?.type === "reserve" && after.reserved.tokens).toBe(
      total + estimateResponsesInput(third, "openai") + 100,
    );
  });

  it("with a tight budget, the second turn is clamped where the new input alone would have passed in full", async () => {
    const { proxy } = await h.start();
    h.fake.options.replyTokens = 2500;
    // A long first turn, on a generous budget: 2,500 output tokens of context.
    const one = (await post(proxy, { ...ask, max_output_tokens: 3000 })).json();
    expect(one.usage.total_tokens).toBeGreaterThan(2500);
    h.fake.options.replyTokens = 40;
    // "tight" has 0.5¢: naive (new input only) that leaves ~490 output tokens; with 2,500+ tokens of
    // stored context at 0.125¢/1k, ~0.32¢ go to input and only ~180 output tokens fit.
    const body = { model: "gpt-5", previous_response_id: one.id, input: "Go on.", max_output_tokens: 400 };
    // Output tokens 0.5¢ pays for at 1¢/1k after the new input alone (0.125¢/1k): all 400 would have fit.
    const naiveRoom = 500 - estimateResponsesInput(body, "openai") * 0.125;
    expect(naiveRoom).toBeGreaterThan(400);
    const two = await post(proxy, body, "tight");
    expect(two.res.status).toBe(200);
    const clamp = Number(two.res.headers.get("x-tokenpak-max-tokens-clamped"));
    expect(clamp).toBeGreaterThan(16);
    expect(clamp).toBeLessThan(400);
    expect(h.fake.requests.at(-1)?.body.max_output_tokens).toBe(clamp);
  });

  it("an item_reference is reserved at the output of the response it came from; an unknown one at the context window", async () => {
    const { proxy, dataDir } = await h.start();
    const one = (await post(proxy, ask)).json();
    const item = one.output[0].id as string;
    const body = {
      model: "gpt-5",
      input: [
        { type: "item_reference", id: item },
        { role: "user", content: "Why?" },
      ],
      max_output_tokens: 100,
    };
    expect((await post(proxy, body)).res.status).toBe(200);
    const reserved = () => {
      const r = journalEntries(dataDir)
        .filter((e) => e.type === "reserve")
        .at(-1);
      return r?.type === "reserve" ? r.reserved.tokens : 0;
    };
    expect(reserved()).toBe(one.usage.output_tokens + estimateResponsesInput(body, "openai") + 100);
    h.fake.next.push({ kind: "status", status: 200, body: { ...one, id: "resp_x" } });
    await post(proxy, { ...body, input: [{ type: "item_reference", id: "msg_never_seen" }] });
    expect(reserved()).toBe(50_000 + 100);
  });

  it("an unknown previous response reserves the model's context window; refused on a tight budget with the reason", async () => {
    const { proxy, dataDir } = await h.start();
    // A response tokenpak never saw: made at the provider directly.
    const direct = await fetch(`${h.fake.url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-5", input: "Hello" }),
    });
    const id = ((await direct.json()) as Parsed).id as string;
    const body = { model: "gpt-5", previous_response_id: id, input: "Continue.", max_output_tokens: 100 };
    expect((await post(proxy, body)).res.status).toBe(200);
    const reserve = journalEntries(dataDir).find((e) => e.type === "reserve");
    expect(reserve?.type === "reserve" && reserve.reserved.tokens).toBe(50_000 + 100); // context_window: 50000

    const refused = await post(proxy, body, "tight");
    expect(refused.res.status).toBe(402);
    expect(refused.json().error.message).toContain("has not seen");
    expect(refused.json().error.stored_input_tokens).toBe(50_000);
  });
});

describe("built-in tools", () => {
  it("a priced tool is reserved max_tool_calls times and charged per call made", async () => {
    const { proxy, dataDir } = await h.start();
    const body = { ...ask, tools: [{ type: "web_search" }], max_output_tokens: 200 };
    const { res, json } = await post(proxy, body);
    expect(res.status).toBe(200);
    expect(h.fake.requests[0]?.body.max_tool_calls).toBe(10); // none asked: the reserved number is sent
    expect(json().output[0]).toMatchObject({ type: "web_search_call", status: "completed" });
    const reserve = journalEntries(dataDir).find((e) => e.type === "reserve");
    const input = estimateResponsesInput(body, "openai");
    const tokens = Math.ceil((input * 125_000 + 200 * 1_000_000) / 1000);
    expect(reserve?.type === "reserve" && reserve.reserved.micros).toBe(tokens + 10 * MICROS_PER_CENT);
    const [settled] = settleEntries(dataDir);
    expect(settled?.tool_calls).toEqual({ web_search: 1 });
    const usage = json().usage;
    expect(settled?.cost).toBe(
      Math.ceil((usage.input_tokens * 125_000 + usage.output_tokens * 1_000_000) / 1000) + MICROS_PER_CENT,
    );
    expect(json().cost_cents).toBe((settled?.cost ?? 0) / MICROS_PER_CENT);

    // Streamed: the same call counted from the stream's final response.
    await post(proxy, { ...body, stream: true, max_tool_calls: 2 });
    expect(h.fake.requests[1]?.body.max_tool_calls).toBe(2);
    expect(settleEntries(dataDir)[1]?.tool_calls).toEqual({ web_search: 1 });
  });

  it("an unpriced tool is refused, or let through uncharged with pricing.unknown_tool: allow", async () => {
    const { proxy } = await h.start();
    const body = { ...ask, tools: [{ type: "file_search", vector_store_ids: ["vs_1"] }] };
    const refused = await post(proxy, body);
    expect(refused.res.status).toBe(400);
    expect(refused.json().error).toMatchObject({
      code: "model_unpriced",
      param: "tools",
      tool: "file_search",
    });
    expect(refused.json().error.message).toContain("models.gpt-5.tool_call_cents.file_search");
    expect(h.fake.requests).toHaveLength(0);

    const allowed = await h.start("pricing: { unknown_tool: allow }");
    expect((await post(allowed.proxy, body)).res.status).toBe(200);
    const [settled] = settleEntries(allowed.dataDir);
    expect(settled?.tool_calls).toEqual({ file_search: 1 });
    expect(settled?.note).toContain("1 file_search");
  });

  it("function tools are the client's: no per-call price needed, the call comes back as a function_call item", async () => {
    const { proxy } = await h.start();
    const tools = [
      {
        type: "function",
        name: "get_weather",
        parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      },
    ];
    const { json } = await post(proxy, { ...ask, tools });
    expect(json().output[0]).toMatchObject({
      type: "function_call",
      name: "get_weather",
      arguments: '{"city":"Paris"}',
    });
    expect(h.fake.requests[0]?.body).not.toHaveProperty("max_tool_calls");
  });
});

describe("tools the client runs cost only tokens", () => {
  /** What the usage of an answer costs at gpt-5's prices, in micro-cents. */
  const costOf = (usage: Parsed) =>
    Math.ceil((usage.input_tokens * 125_000 + usage.output_tokens * 1_000_000) / 1000);

  it("a custom tool's custom_tool_call (JSON and stream) settles at its usage, and is remembered at it", async () => {
    const warnings: string[] = [];
    const { proxy, dataDir } = await h.start("", { warn: (m) => warnings.push(m) });
    const body = { ...ask, tools: [{ type: "custom", name: "run_python", description: "Runs Python" }] };
    const { res, json } = await post(proxy, body);
    expect(res.status).toBe(200);
    expect(json().output[0]).toMatchObject({ type: "custom_tool_call", name: "run_python" });
    expect(h.fake.requests[0]?.body).not.toHaveProperty("max_tool_calls");
    const [settled] = settleEntries(dataDir);
    expect(settled?.status).toBe("ok");
    expect(settled?.cost).toBe(costOf(json().usage));
    expect(settled?.tool_calls).toBeUndefined();

    const { text } = await post(proxy, { ...body, stream: true });
    const done = sse(text).at(-1)?.data;
    expect(done?.type).toBe("response.completed");
    expect(done?.response.output[0].type).toBe("custom_tool_call");
    const streamed = settleEntries(dataDir)[1];
    expect(streamed?.status).toBe("ok");
    expect(streamed?.cost).toBe(costOf(done?.response.usage));
    expect(warnings.filter((w) => w.includes("built-in tool calls"))).toEqual([]);

    // The memory holds what the answer was billed, not the reservation: the next turn reserves that.
    const next = { model: "gpt-5", previous_response_id: json().id, input: "Go on.", max_output_tokens: 100 };
    await post(proxy, next);
    const reserve = journalEntries(dataDir)
      .filter((e) => e.type === "reserve")
      .at(-1);
    expect(reserve?.type === "reserve" && reserve.reserved.tokens).toBe(
      json().usage.total_tokens + estimateResponsesInput(next, "openai") + 100,
    );
  });

  it("a namespace of functions needs no per-call price; its function_call settles at its usage", async () => {
    const { proxy, dataDir } = await h.start();
    const tools = [
      {
        type: "namespace",
        name: "crm",
        description: "Customer records",
        tools: [{ type: "function", name: "lookup", parameters: { type: "object", properties: {} } }],
      },
    ];
    const { res, json } = await post(proxy, { ...ask, tools });
    expect(res.status).toBe(200);
    expect(json().output[0]).toMatchObject({ type: "function_call", name: "lookup", namespace: "crm" });
    expect(h.fake.requests[0]?.body).not.toHaveProperty("max_tool_calls");
    const [settled] = settleEntries(dataDir);
    expect(settled).toMatchObject({ status: "ok", cost: costOf(json().usage) });
  });

  it("a tool type tokenpak does not know is taken as billed per call: refused until priced", async () => {
    const { proxy } = await h.start();
    const refused = await post(proxy, { ...ask, tools: [{ type: "brand_new_tool" }] });
    expect(refused.res.status).toBe(400);
    expect(refused.json().error).toMatchObject({ code: "model_unpriced", tool: "brand_new_tool" });
    // A shell in a hosted container is the provider's; on the client's machine it is the client's.
    const hosted = await post(proxy, {
      ...ask,
      tools: [{ type: "shell", environment: { type: "container_auto" } }],
    });
    expect(hosted.json().error).toMatchObject({ code: "model_unpriced", tool: "shell" });
    const local = await post(proxy, { ...ask, tools: [{ type: "shell", environment: { type: "local" } }] });
    expect(local.res.status).toBe(200);
  });
});

describe("files the provider reads that tokenpak cannot see", () => {
  const reserved = (dataDir: string) => {
    const r = journalEntries(dataDir)
      .filter((e) => e.type === "reserve")
      .at(-1);
    return r?.type === "reserve" ? r.reserved.tokens : 0;
  };
  const file = (part: Record<string, unknown>) => ({
    model: "gpt-5",
    input: [{ role: "user", content: [{ type: "input_text", text: "Summarise this." }, part] }],
    max_output_tokens: 100,
  });

  it("an input_file by file_id or file_url reserves the model's context window; a tight budget refuses it", async () => {
    const { proxy, dataDir } = await h.start();
    for (const part of [
      { type: "input_file", file_id: "file-abc123" },
      { type: "input_file", file_url: "https://example.com/report.pdf" },
    ]) {
      // The provider bills the whole document: far more than the ~20 tokens of the reference.
      h.fake.next.push({ kind: "usage", usage: { input_tokens: 45_000, output_tokens: 40 } });
      const { res } = await post(proxy, file(part));
      expect(res.status).toBe(200);
      expect(reserved(dataDir)).toBe(50_000 + 100); // context_window: 50000
      expect(settleEntries(dataDir).at(-1)).toMatchObject({ status: "ok", usage: { input: 45_000 } });
    }
    // "tight" has 0.5¢: the reference alone fits; the 50,000 tokens the file may be (6.25¢) do not.
    const body = file({ type: "input_file", file_id: "file-abc123" });
    expect(estimateResponsesInput(body, "openai") * 0.125 + 100).toBeLessThan(500);
    const refused = await post(proxy, body, "tight");
    expect(refused.res.status).toBe(402);
    expect(refused.json().error.message).toContain("refers to a file by id or URL");
    expect(refused.json().error).toMatchObject({ stored_input_tokens: 50_000, unseen_files: 1 });
    expect(h.fake.requests).toHaveLength(2);
  });

  it("also in a function's output; a file sent inline is estimated from its size instead", async () => {
    const { proxy, dataDir } = await h.start();
    const inOutput = {
      model: "gpt-5",
      input: [
        { type: "function_call", call_id: "c1", name: "fetch", arguments: "{}" },
        { type: "function_call_output", call_id: "c1", output: [{ type: "input_file", file_id: "file-x" }] },
      ],
      max_output_tokens: 100,
    };
    await post(proxy, inOutput);
    expect(reserved(dataDir)).toBe(50_000 + 100);
    const pdf = Buffer.alloc(3000, 7).toString("base64");
    const inline = file({
      type: "input_file",
      filename: "a.pdf",
      file_data: `data:application/pdf;base64,${pdf}`,
    });
    await post(proxy, inline);
    expect(reserved(dataDir)).toBe(estimateResponsesInput(inline, "openai") + 100);
    expect(reserved(dataDir)).toBeGreaterThan(3000); // at least a token per byte of the file
    expect(reserved(dataDir)).toBeLessThan(50_000);
  });

  it("on /v1/chat/completions (a `file` part by file_id) and /v1/messages (a `document` by file or URL) too", async () => {
    const { proxy, dataDir } = await h.start();
    const chat = {
      model: "gpt-5",
      max_tokens: 100,
      messages: [{ role: "user", content: [{ type: "file", file: { file_id: "file-abc" } }] }],
    };
    expect((await post(proxy, chat, "alice", "/v1/chat/completions")).res.status).toBe(200);
    expect(reserved(dataDir)).toBe(50_000 + 100);
    const refused = await post(proxy, chat, "tight", "/v1/chat/completions");
    expect(refused.res.status).toBe(402);
    expect(refused.json().error.unseen_files).toBe(1);

    for (const source of [
      { type: "url", url: "https://example.com/report.pdf" },
      { type: "file", file_id: "file_011abc" },
    ]) {
      const messages = {
        model: "claude",
        max_tokens: 100,
        messages: [
          {
            role: "user",
            content: [
              { type: "document", source },
              { type: "text", text: "Summarise." },
            ],
          },
        ],
      };
      const res = await fetch(`${proxy.url}/v1/messages`, {
        method: "POST",
        headers: {
          "x-api-key": "tight",
          "anthropic-version": "2023-06-01",
          "content-type": "application/json",
        },
        body: JSON.stringify(messages),
      });
      expect(res.status, source.type).toBe(402);
      const error = ((await res.json()) as Parsed).error;
      expect(error.stored_input_tokens).toBe(1_048_576); // claude has no context_window: the default
      expect(error.message).toContain("refers to a file by id or URL");
    }
  });
});

describe("a Responses request for a model on an Anthropic provider", () => {
  it("JSON: instructions, text, images, function tools and results translate; the message comes back as a response", async () => {
    const { proxy, dataDir } = await h.start();
    const body = {
      model: "claude",
      instructions: "You are terse.",
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "What is this?" },
            { type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=" },
          ],
        },
        { type: "function_call", call_id: "toolu_1", name: "lookup", arguments: '{"q":"x"}' },
        { type: "function_call_output", call_id: "toolu_1", output: "found" },
      ],
      tools: [{ type: "function", name: "lookup", description: "Look up", parameters: { type: "object" } }],
      tool_choice: "required",
      max_output_tokens: 300,
    };
    const { res, json } = await post(proxy, body);
    expect(res.status).toBe(200);
    const seen = h.fake.requests[0];
    expect(seen?.path).toBe("/v1/messages");
    expect(seen?.headers["x-api-key"]).toBe("sk-ant-upstream");
    expect(seen?.body).toMatchObject({
      model: "claude-sonnet-4-5",
      system: "You are terse.",
      max_tokens: 300,
      tools: [{ name: "lookup", description: "Look up", input_schema: { type: "object" } }],
      tool_choice: { type: "any" },
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
          ],
        },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "x" } }],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "found" }] },
      ],
    });
    const answer = json();
    expect(answer).toMatchObject({ object: "response", status: "completed", model: "claude-sonnet-4-5" });
    expect(answer.id).toMatch(/^resp_/);
    expect(answer.output[0]).toMatchObject({ type: "message", role: "assistant" });
    expect(answer.output[0].content[0]).toMatchObject({
      type: "output_text",
      text: expect.stringMatching(/^Budgets/),
    });
    expect(answer.usage).toMatchObject({ output_tokens: 40, output_tokens_details: { reasoning_tokens: 0 } });
    expect(answer.usage.total_tokens).toBe(answer.usage.input_tokens + 40);
    expect(settleEntries(dataDir)[0]?.cost).toBe(micros(answer.cost_cents));
  });

  it("a tool_use answer becomes a function_call item; a stream translates event by event", async () => {
    const { proxy } = await h.start();
    const message = {
      id: "msg_01abc",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [
        { type: "text", text: "Let me look." },
        { type: "tool_use", id: "toolu_9", name: "lookup", input: { q: "budgets" } },
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 20, output_tokens: 15 },
    };
    h.fake.next.push({ kind: "status", status: 200, body: message });
    const tools = [{ type: "function", name: "lookup", parameters: { type: "object" } }];
    const json = (await post(proxy, { model: "claude", input: "hi", tools })).json();
    expect(json.id).toBe("resp_01abc");
    expect(json.output[1]).toMatchObject({
      type: "function_call",
      call_id: "toolu_9",
      name: "lookup",
      arguments: '{"q":"budgets"}',
      status: "completed",
    });

    const { text } = await post(proxy, { model: "claude", input: "hi", stream: true });
    const events = sse(text);
    const types = events.map((e) => e.data.type);
    expect(types.slice(0, 4)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
    ]);
    expect(types.at(-1)).toBe("response.completed");
    const streamed = events
      .filter((e) => e.data.type === "response.output_text.delta")
      .map((e) => e.data.delta);
    expect(streamed.length).toBeGreaterThan(3);
    const done = events.at(-1)?.data.response;
    expect(done.output[0].content[0].text).toBe(streamed.join(""));
    expect(done.usage.output_tokens).toBe(40);
    for (const e of events) expect(e.event).toBe(e.data.type);
  });

  it("what only OpenAI can serve is a 400 that says so, before anything is reserved", async () => {
    const { proxy, dataDir } = await h.start();
    const cases: [Record<string, unknown>, string][] = [
      [{ previous_response_id: "resp_1" }, "previous_response_id"],
      [{ tools: [{ type: "web_search" }] }, "tools"],
      [{ text: { format: { type: "json_schema", name: "x", schema: {} } } }, "text.format"],
    ];
    for (const [extra, param] of cases) {
      const { res, json } = await post(proxy, { model: "claude", input: "hi", ...extra });
      expect(res.status, param).toBe(400);
      expect(json().error).toMatchObject({ code: "invalid_request", param });
      expect(json().error.message).toContain("Anthropic provider");
    }
    expect(h.fake.requests).toHaveLength(0);
    expect(journalEntries(dataDir)).toHaveLength(0);
  });
});

describe("headers tell the truth", () => {
  it("max_output_tokens lowered to the model's max_output_tokens sets x-tokenpak-max-tokens-clamped", async () => {
    const { proxy } = await h.start();
    const { res } = await post(proxy, { ...ask, max_output_tokens: 20_000 });
    expect(res.headers.get("x-tokenpak-max-tokens-clamped")).toBe("8000");
    expect(h.fake.requests[0]?.body.max_output_tokens).toBe(8000);
    const asked = await post(proxy, { ...ask, max_output_tokens: 500 });
    expect(asked.res.headers.get("x-tokenpak-max-tokens-clamped")).toBeNull();
  });

  it("a stream's cost comes in an HTTP trailer when the client sends TE: trailers", async () => {
    const { proxy } = await h.start();
    const url = new URL(`${proxy.url}/v1/responses`);
    const streamed = (te: boolean) =>
      new Promise<{ text: string; trailers: NodeJS.Dict<string>; declared: string | undefined }>(
        (resolve, reject) => {
          const req = httpRequest(
            url,
            {
              method: "POST",
              headers: {
                authorization: "Bearer alice",
                "content-type": "application/json",
                ...(te ? { te: "trailers" } : {}),
              },
            },
            (res) => {
              let text = "";
              res.setEncoding("utf8");
              res.on("data", (c: string) => {
                text += c;
              });
              res.on("end", () => resolve({ text, trailers: res.trailers, declared: res.headers.trailer }));
            },
          );
          req.on("error", reject);
          req.end(JSON.stringify({ ...ask, stream: true }));
        },
      );
    const withTrailer = await streamed(true);
    const cost = /cost_cents=([\d.]+)/.exec(withTrailer.text)?.[1];
    expect(cost).toBeDefined();
    expect(withTrailer.declared).toBe("x-tokenpak-cost-cents");
    expect(withTrailer.trailers["x-tokenpak-cost-cents"]).toBe(cost);
    const without = await streamed(false);
    expect(without.declared).toBeUndefined();
    expect(without.trailers).toEqual({});
  });
});
