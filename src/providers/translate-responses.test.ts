import { describe, expect, it } from "vitest";
import { parseJson } from "./json.js";
import { responseAsStream } from "./responses-events.js";
import { SseSplitter } from "./sse.js";
import { StreamRelay } from "./stream-relay.js";
import { watchStream } from "./stream-watch.js";
import {
  messagesToResponsesResponse,
  responsesToMessagesRequest,
  untranslatable,
} from "./translate-responses.js";

const ev = (type: string, payload: object) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
const events = (text: string) =>
  new SseSplitter()
    .push(text)
    .map((e) => ({ name: e.event, data: parseJson(e.data) as Record<string, unknown> }));

describe("Responses → Anthropic requests", () => {
  it("a string input, developer messages, consecutive roles merged, parallel_tool_calls: false", () => {
    const out = responsesToMessagesRequest({
      model: "m",
      instructions: "Be brief.",
      input: [
        { role: "developer", content: "Use metric units." },
        { role: "user", content: "a" },
        { role: "user", content: [{ type: "input_text", text: "b" }] },
        { role: "assistant", content: [{ type: "output_text", text: "c" }] },
        { type: "reasoning", id: "rs_1", summary: [] },
      ],
      tools: [{ type: "function", name: "f", parameters: { type: "object" } }],
      tool_choice: { type: "function", name: "f" },
      parallel_tool_calls: false,
      temperature: 0.2,
      user: "u1",
      stream: true,
    });
    expect(out).toEqual({
      model: "m",
      system: "Be brief.\n\nUse metric units.",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
          ],
        },
        { role: "assistant", content: [{ type: "text", text: "c" }] },
      ],
      temperature: 0.2,
      stream: true,
      metadata: { user_id: "u1" },
      tools: [{ name: "f", input_schema: { type: "object" } }],
      tool_choice: { type: "tool", name: "f", disable_parallel_tool_use: true },
    });
    expect(responsesToMessagesRequest({ model: "m", input: "hi" }).messages).toEqual([
      { role: "user", content: [{ type: "text", text: "hi" }] },
    ]);
  });

  it("images by URL, PDFs as documents", () => {
    const out = responsesToMessagesRequest({
      model: "m",
      input: [
        {
          role: "user",
          content: [
            { type: "input_image", image_url: "https://example.com/a.png" },
            { type: "input_file", filename: "a.pdf", file_data: "data:application/pdf;base64,JVBERi0=" },
          ],
        },
      ],
    });
    expect(out.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "image", source: { type: "url", url: "https://example.com/a.png" } },
          { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" } },
        ],
      },
    ]);
  });

  it.each([
    [{ previous_response_id: "resp_1" }, "previous_response_id"],
    [{ conversation: "conv_1" }, "conversation"],
    [{ prompt: { id: "pmpt_1" } }, "prompt"],
    [{ tools: [{ type: "code_interpreter", container: { type: "auto" } }] }, "tools"],
    [{ tools: [{ type: "custom", name: "x" }] }, "tools"],
    [{ tools: [{ type: "namespace", name: "crm", description: "", tools: [] }] }, "tools"],
    [{ text: { format: { type: "json_object" } } }, "text.format"],
    [{ input: [{ type: "item_reference", id: "msg_1" }] }, "input"],
    [{ input: [{ role: "user", content: [{ type: "input_image", file_id: "file_1" }] }] }, "input"],
    [{ input: [{ role: "user", content: [{ type: "input_file", file_id: "file_1" }] }] }, "input"],
  ])("%j cannot be translated (%s)", (extra, param) => {
    expect(untranslatable({ model: "m", ...extra })?.param).toBe(param);
  });

  it("function tools, text format `text` and plain input can be", () => {
    const body = {
      model: "m",
      input: "hi",
      tools: [{ type: "function", name: "f" }],
      text: { format: { type: "text" } },
    };
    expect(untranslatable(body)).toBeUndefined();
  });
});

describe("Anthropic → Responses answers", () => {
  const message = {
    id: "msg_01x",
    model: "claude",
    content: [
      { type: "thinking", thinking: "Hmm." },
      { type: "text", text: "Hello" },
      { type: "tool_use", id: "toolu_1", name: "f", input: { a: 1 } },
    ],
    stop_reason: "max_tokens",
    usage: { input_tokens: 10, cache_read_input_tokens: 5, cache_creation_input_tokens: 2, output_tokens: 7 },
  };

  it("JSON: items, an incomplete status for max_tokens, usage with cached input inside input_tokens", () => {
    const r = messagesToResponsesResponse(message, { model: "m", instructions: "x", max_output_tokens: 7 });
    expect(r).toMatchObject({
      id: "resp_01x",
      object: "response",
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      instructions: "x",
      max_output_tokens: 7,
      usage: {
        input_tokens: 17,
        input_tokens_details: { cached_tokens: 5 },
        output_tokens: 7,
        total_tokens: 24,
      },
    });
    expect((r.output as unknown[]).map((o) => (o as { type: string }).type)).toEqual([
      "reasoning",
      "message",
      "function_call",
    ]);
    expect((r.output as unknown[])[2]).toMatchObject({ call_id: "toolu_1", arguments: '{"a":1}' });
  });

  it("stream: Anthropic events become Responses events, ending with the whole response", () => {
    const upstream = [
      ev("message_start", {
        message: { id: "msg_01x", model: "claude", usage: { input_tokens: 10, output_tokens: 1 } },
      }),
      ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
      ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hel" } }),
      ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "lo" } }),
      ev("content_block_stop", { index: 0 }),
      ev("content_block_start", {
        index: 1,
        content_block: { type: "tool_use", id: "toolu_1", name: "f", input: {} },
      }),
      ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: '{"a":' } }),
      ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "1}" } }),
      ev("content_block_stop", { index: 1 }),
      ev("message_delta", { delta: { stop_reason: "tool_use" }, usage: { output_tokens: 9 } }),
      ev("message_stop", {}),
    ];
    const relay = new StreamRelay({
      upstream: "anthropic",
      client: "responses",
      wantsUsage: false,
      request: { model: "m" },
    });
    const out = upstream.map((e) => relay.push(e)).join("") + relay.end();
    const got = events(out);
    expect(got.map((e) => e.name)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(got.map((e) => e.data.sequence_number)).toEqual(got.map((_, i) => i));
    const done = got.at(-1)?.data.response as Record<string, unknown>;
    expect(done).toMatchObject({
      id: "resp_01x",
      status: "completed",
      usage: { input_tokens: 10, output_tokens: 9 },
    });
    expect(done.output).toEqual([
      expect.objectContaining({ type: "message", content: [expect.objectContaining({ text: "Hello" })] }),
      expect.objectContaining({
        type: "function_call",
        call_id: "toolu_1",
        arguments: '{"a":1}',
        status: "completed",
      }),
    ]);
    expect(relay.errored).toBe(false);
  });

  it("an Anthropic error mid-stream reaches a Responses client as an `error` event", () => {
    const relay = new StreamRelay({ upstream: "anthropic", client: "responses", wantsUsage: false });
    const out =
      relay.push(
        ev("message_start", { message: { id: "msg_1", usage: { input_tokens: 1, output_tokens: 1 } } }),
      ) +
      relay.push(ev("error", { error: { type: "overloaded_error", message: "Overloaded" } })) +
      relay.end();
    expect(events(out).at(-1)).toMatchObject({
      name: "error",
      data: { type: "error", code: "overloaded_error", message: "Overloaded" },
    });
    expect(relay.errored).toBe(true);
  });
});

describe("watching a Responses stream", () => {
  const answer = {
    id: "resp_1",
    status: "completed",
    conversation: { id: "conv_1" },
    output: [
      { id: "ws_1", type: "web_search_call", status: "completed" },
      {
        id: "msg_1",
        type: "message",
        content: [{ type: "output_text", text: "Budgets keep agents honest." }],
      },
    ],
    usage: {
      input_tokens: 50,
      input_tokens_details: { cached_tokens: 20 },
      output_tokens: 9,
      output_tokens_details: { reasoning_tokens: 3 },
    },
  };

  it("usage, tool calls and ids come from the final response", () => {
    const watch = watchStream("responses");
    for (const e of new SseSplitter().push(responseAsStream(answer))) watch.event(e);
    expect(watch.complete()).toBe(true);
    expect(watch.usage()).toEqual({
      ok: true,
      usage: { input: 30, cached_input: 20, cache_write: 0, cache_write_1h: 0, output: 9, reasoning: 3 },
    });
    expect(watch.toolCalls()).toEqual({ web_search: 1 });
    expect(watch.ids()).toEqual({ response: "resp_1", conversation: "conv_1", items: ["ws_1", "msg_1"] });
  });

  it("cut short: text counted, calls begun counted, and a reasoning item means the whole cap", () => {
    const text = responseAsStream(answer);
    const cut = text.slice(0, text.indexOf("response.output_text.done"));
    const watch = watchStream("responses");
    for (const e of new SseSplitter().push(cut)) watch.event(e);
    expect(watch.complete()).toBe(false);
    expect(watch.usage()).toBeUndefined();
    expect(watch.toolCalls()).toEqual({ web_search: 1 });
    expect(watch.countedUsage(50, 100).output).toBe(6); // "Budgets keep agents honest." by gpt-tokenizer
    const reasoning = watchStream("responses");
    const withReasoning = responseAsStream({
      ...answer,
      output: [{ id: "rs_1", type: "reasoning", summary: [] }],
    });
    for (const e of new SseSplitter().push(
      withReasoning.slice(0, withReasoning.indexOf("response.completed")),
    ))
      reasoning.event(e);
    expect(reasoning.countedUsage(50, 100).output).toBe(100);
  });

  it("response.failed is an error, with the usage it reports", () => {
    const watch = watchStream("responses");
    const failed = ev("response.failed", {
      response: { ...answer, status: "failed", error: { code: "server_error", message: "boom" } },
    });
    const seen = new SseSplitter().push(failed).map((e) => watch.event(e));
    expect(seen[0]).toMatchObject({ kind: "error", error: { type: "server_error", message: "boom" } });
    expect(watch.usage()?.ok).toBe(true);
  });
});
