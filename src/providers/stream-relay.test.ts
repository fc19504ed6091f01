import { describe, expect, it } from "vitest";
import { mockRespond } from "./mock.js";
import { SseSplitter } from "./sse.js";
import { StreamRelay } from "./stream-relay.js";
import { answerAsStream } from "./synthesize.js";
import type { WireFormat } from "./wire.js";

const ev = (type: string, payload: object) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
const chunk = (payload: object) => `data: ${JSON.stringify(payload)}\n\n`;

const anthropicStart = ev("message_start", {
  message: { id: "msg_1", model: "claude", usage: { input_tokens: 25, output_tokens: 1 } },
});
const anthropicText = (text: string) =>
  ev("content_block_delta", { index: 0, delta: { type: "text_delta", text } });
const overloaded = ev("error", { error: { type: "overloaded_error", message: "Overloaded" } });

function relayAll(upstream: WireFormat, client: WireFormat, parts: string[], wantsUsage = false) {
  const relay = new StreamRelay({ upstream, client, wantsUsage });
  let out = "";
  for (const p of parts) out += relay.push(p);
  out += relay.end();
  return { relay, out };
}

function data(text: string): Record<string, unknown>[] {
  return new SseSplitter()
    .push(text)
    .filter((e) => e.data.startsWith("{"))
    .map((e) => JSON.parse(e.data) as Record<string, unknown>);
}

describe("StreamRelay", () => {
  it("an Anthropic stream cut short is charged its text with a margin, at least message_start's count, at most the cap", () => {
    const { relay, out } = relayAll("anthropic", "anthropic", [
      anthropicStart,
      anthropicText(" one two three four five"),
    ]);
    expect(relay.errored).toBe(true); // no message_stop: the client is told
    expect(out).toContain("event: error");
    expect(relay.watch.usage()).toBeUndefined();
    const counted = relay.watch.countedUsage(999, 1000);
    expect(counted.input).toBe(25); // message_start's own input count, not the estimate
    expect(counted.output).toBe(Math.ceil(5 * 1.25));
    expect(relay.watch.countedUsage(999, 3).output).toBe(3);
  });

  it("a message_delta without an output count is no final usage", () => {
    const { relay } = relayAll("anthropic", "anthropic", [
      anthropicStart,
      anthropicText("hi"),
      ev("message_delta", { delta: { stop_reason: "end_turn" }, usage: {} }),
      ev("message_stop", {}),
    ]);
    expect(relay.watch.usage()).toBeUndefined();
    expect(relay.errored).toBe(false);
  });

  it("a mid-stream Anthropic error becomes an OpenAI error event: no finish_reason stop, no [DONE]", () => {
    const { relay, out } = relayAll("anthropic", "openai", [
      anthropicStart,
      anthropicText("Hel"),
      anthropicText("lo"),
      overloaded,
    ]);
    expect(relay.errored).toBe(true);
    const events = data(out);
    expect(events.at(-1)).toEqual({ error: { message: "Overloaded", type: "overloaded_error", code: null } });
    expect(events.some((e) => JSON.stringify(e).includes('"finish_reason":"stop"'))).toBe(false);
    expect(out).not.toContain("[DONE]");
  });

  it("an OpenAI error chunk becomes an Anthropic error event", () => {
    const { out } = relayAll("openai", "anthropic", [
      chunk({
        id: "c",
        model: "gpt",
        choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }],
      }),
      chunk({ error: { message: "rate limited upstream", type: "rate_limit_error" } }),
    ]);
    expect(data(out).at(-1)).toEqual({
      type: "error",
      error: { type: "rate_limit_error", message: "rate limited upstream" },
    });
  });

  it("the usage chunk asked for on the client's behalf is dropped, and `usage: null` stripped, with the same path for the last event", () => {
    const events = [
      chunk({ id: "c", choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }], usage: null }),
      chunk({ id: "c", choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: null }),
      chunk({ id: "c", choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } }),
    ];
    // The usage chunk arrives without its blank line: end() must treat it as push() would.
    const last = (events[2] ?? "").trimEnd();
    const { relay, out } = relayAll("openai", "openai", [events[0] ?? "", events[1] ?? "", last]);
    expect(out).not.toContain("usage");
    expect(relay.watch.usage()).toMatchObject({ ok: true, usage: { input: 3, output: 1 } });
    expect(relay.errored).toBe(false); // no [DONE], but a finish_reason: the answer is whole
  });

  it("counts each choice's text apart", () => {
    const relay = new StreamRelay({ upstream: "openai", client: "openai", wantsUsage: true });
    relay.push(chunk({ choices: [{ index: 0, delta: { content: "ab" } }] }));
    relay.push(chunk({ choices: [{ index: 1, delta: { content: "cd" } }] }));
    // "ab" and "cd" are one token each; "abcd" would be one.
    expect(relay.watch.countedUsage(0, 100).output).toBe(2);
  });

  it("with n answers, the stream is whole only when every one has finished, or at the usage chunk or [DONE]", () => {
    const finished = (index: number) => chunk({ choices: [{ index, delta: {}, finish_reason: "stop" }] });
    const text = (index: number) => chunk({ choices: [{ index, delta: { content: "hi" } }] });
    const whole = (parts: string[]) => {
      const relay = new StreamRelay({ upstream: "openai", client: "openai", wantsUsage: true, choices: 3 });
      for (const p of parts) relay.push(p);
      relay.end();
      return !relay.errored;
    };
    expect(whole([text(0), finished(0), text(1)])).toBe(false); // cut during the second answer
    expect(whole([text(0), finished(0), finished(0), finished(1)])).toBe(false); // one answer twice is not two
    expect(whole([finished(0), finished(2), finished(1)])).toBe(true);
    expect(
      whole([finished(0), chunk({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 3 } })]),
    ).toBe(true);
    expect(whole([finished(0), "data: [DONE]\n\n"])).toBe(true);
    // Usage on every chunk (continuous usage stats) says nothing about the end.
    expect(
      whole([
        chunk({ choices: [{ index: 0, delta: {} }], usage: { prompt_tokens: 1, completion_tokens: 1 } }),
      ]),
    ).toBe(false);
  });
});

describe("answerAsStream", () => {
  it.each(["openai", "anthropic"] as const)(
    "a %s JSON answer told as its stream relays back to the same text and usage",
    async (format) => {
      const route = format === "openai" ? "chat" : "messages";
      const body = {
        model: "m",
        messages: [{ role: "user", content: "hi" }],
        n: format === "openai" ? 2 : undefined,
      };
      const json = mockRespond(route, body, { replyTokens: 30, latencyMs: 0 });
      let text = "";
      for await (const c of json.chunks) text += c;
      const answer = JSON.parse(text) as Record<string, unknown>;
      const sse = answerAsStream(format, answer, true);
      const { relay, out } = relayAll(format, format, [sse], true);
      expect(relay.errored).toBe(false);
      expect(out).toBe(sse);
      const usage = relay.watch.usage();
      expect(usage?.ok && usage.usage.output).toBe(format === "openai" ? 60 : 30);
      expect(relay.watch.countedUsage(0, 1000).output).toBe(format === "openai" ? 60 : Math.ceil(30 * 1.25));
    },
  );
});
