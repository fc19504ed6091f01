import { describe, expect, it } from "vitest";
import type { Json } from "./json.js";
import { formatEvent, SseSplitter } from "./sse.js";
import {
  chatToMessagesRequest,
  chatToMessagesResponse,
  chatToMessagesStream,
  messagesToChatRequest,
  messagesToChatResponse,
  messagesToChatStream,
  type StreamTranslator,
} from "./translate.js";

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

const openaiConversation: Json = {
  model: "m",
  max_tokens: 300,
  temperature: 0.2,
  stop: ["END"],
  user: "alice",
  tools: [weather],
  tool_choice: "auto",
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Weather in Paris and Rome?" },
    {
      role: "assistant",
      content: null,
      tool_calls: [
        { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
        { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
      ],
    },
    { role: "tool", tool_call_id: "call_1", content: "18C sunny" },
    { role: "tool", tool_call_id: "call_2", content: "24C clear" },
    { role: "user", content: "Thanks. Which is warmer?" },
  ],
};

describe("request translation", () => {
  it("OpenAI → Anthropic: system prompt out of the messages, tool calls and results as blocks, turns alternating", () => {
    const a = chatToMessagesRequest(openaiConversation);
    expect(a).toMatchObject({
      model: "m",
      system: "You are terse.",
      max_tokens: 300,
      temperature: 0.2,
      stop_sequences: ["END"],
      metadata: { user_id: "alice" },
      tool_choice: { type: "auto" },
      tools: [
        { name: "get_weather", description: "Weather for a city", input_schema: weather.function.parameters },
      ],
    });
    expect(a.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Weather in Paris and Rome?" }] },
      {
        role: "assistant",
        content: [
          { type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } },
          { type: "tool_use", id: "call_2", name: "get_weather", input: { city: "Rome" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_1", content: "18C sunny" },
          { type: "tool_result", tool_use_id: "call_2", content: "24C clear" },
          { type: "text", text: "Thanks. Which is warmer?" },
        ],
      },
    ]);
  });

  it("round trip OpenAI → Anthropic → OpenAI keeps the conversation", () => {
    const back = messagesToChatRequest(chatToMessagesRequest(openaiConversation));
    expect(back).toMatchObject({
      model: "m",
      max_tokens: 300,
      stop: ["END"],
      user: "alice",
      tool_choice: "auto",
    });
    expect(back.messages).toEqual([
      { role: "system", content: "You are terse." },
      { role: "user", content: "Weather in Paris and Rome?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
          { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "18C sunny" },
      { role: "tool", tool_call_id: "call_2", content: "24C clear" },
      { role: "user", content: "Thanks. Which is warmer?" },
    ]);
    expect(back.tools).toEqual([weather]);
  });

  it("tool_choice and images map both ways", () => {
    const required = chatToMessagesRequest({
      ...openaiConversation,
      tool_choice: { type: "function", function: { name: "get_weather" } },
    });
    expect(required.tool_choice).toEqual({ type: "tool", name: "get_weather" });
    expect(
      messagesToChatRequest({ model: "m", messages: [], tool_choice: { type: "any" } }).tool_choice,
    ).toBe("required");
    const image = chatToMessagesRequest({
      model: "m",
      messages: [
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
            { type: "text", text: "what?" },
          ],
        },
      ],
    });
    expect((image.messages as Json[])[0]?.content).toEqual([
      { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } },
      { type: "text", text: "what?" },
    ]);
  });
});

describe("response translation", () => {
  const anthropicToolAnswer: Json = {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude",
    content: [
      { type: "text", text: "Checking." },
      { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Oslo" } },
    ],
    stop_reason: "tool_use",
    usage: {
      input_tokens: 100,
      output_tokens: 20,
      cache_read_input_tokens: 50,
      cache_creation_input_tokens: 10,
    },
  };

  it("Anthropic → OpenAI: text, tool calls, stop reason, usage with the cache counted into prompt_tokens", () => {
    const o = messagesToChatResponse(anthropicToolAnswer);
    expect(o).toMatchObject({
      id: "msg_1",
      object: "chat.completion",
      model: "claude",
      choices: [
        {
          finish_reason: "tool_calls",
          message: {
            role: "assistant",
            content: "Checking.",
            tool_calls: [
              {
                id: "toolu_1",
                type: "function",
                function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
              },
            ],
          },
        },
      ],
      usage: {
        prompt_tokens: 160,
        completion_tokens: 20,
        total_tokens: 180,
        prompt_tokens_details: { cached_tokens: 50 },
      },
    });
  });

  it("OpenAI → Anthropic → OpenAI keeps text, tools and stop reasons", () => {
    for (const [finish, stop] of [
      ["stop", "end_turn"],
      ["length", "max_tokens"],
      ["tool_calls", "tool_use"],
    ] as const) {
      const completion = {
        id: "c1",
        model: "gpt",
        choices: [
          {
            index: 0,
            finish_reason: finish,
            message: {
              role: "assistant",
              content: "Hi",
              tool_calls: [{ id: "t", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
            },
          },
        ],
        usage: { prompt_tokens: 30, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 10 } },
      };
      const a = chatToMessagesResponse(completion);
      expect(a).toMatchObject({
        stop_reason: stop,
        usage: { input_tokens: 20, output_tokens: 5, cache_read_input_tokens: 10 },
      });
      const back = messagesToChatResponse(a);
      expect(back).toMatchObject({
        choices: [
          {
            finish_reason: finish,
            message: {
              content: "Hi",
              tool_calls: [{ id: "t", function: { name: "f", arguments: '{"a":1}' } }],
            },
          },
        ],
        usage: { prompt_tokens: 30, completion_tokens: 5 },
      });
    }
  });
});

/** Runs a translator over SSE text and parses what it emits. */
function run(translator: StreamTranslator, sse: string): { event?: string; data: Json | "[DONE]" }[] {
  const splitter = new SseSplitter();
  let out = "";
  for (const e of splitter.push(sse)) out += translator.event(e);
  out += translator.end();
  return new SseSplitter().push(out).map((e) => ({
    ...(e.event ? { event: e.event } : {}),
    data: e.data === "[DONE]" ? "[DONE]" : (JSON.parse(e.data) as Json),
  }));
}

describe("stream translation", () => {
  const ev = (type: string, payload: Json) => formatEvent(JSON.stringify({ type, ...payload }), type);
  const anthropicStream =
    ev("message_start", {
      message: { id: "msg_9", model: "claude", usage: { input_tokens: 12, output_tokens: 1 } },
    }) +
    ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
    ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Let me " } }) +
    ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "check." } }) +
    ev("content_block_stop", { index: 0 }) +
    ev("content_block_start", {
      index: 1,
      content_block: { type: "tool_use", id: "toolu_9", name: "get_weather", input: {} },
    }) +
    ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: '{"city":' } }) +
    ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: '"Oslo"}' } }) +
    ev("content_block_stop", { index: 1 }) +
    ev("message_delta", { delta: { stop_reason: "tool_use" }, usage: { output_tokens: 25 } }) +
    ev("message_stop", {});

  it("Anthropic SSE → OpenAI chunks: text, tool call pieces, finish reason, usage only when asked, [DONE]", () => {
    const chunks = run(messagesToChatStream(true), anthropicStream);
    expect(chunks.at(-1)?.data).toBe("[DONE]");
    const data = chunks.map((c) => c.data).filter((d): d is Json => d !== "[DONE]");
    const deltas = data.flatMap((d) => (d.choices as Json[]).map((c) => c.delta as Json));
    expect(deltas.map((d) => d.content ?? "").join("")).toBe("Let me check.");
    const toolPieces = deltas.flatMap((d) => (d.tool_calls as Json[] | undefined) ?? []);
    expect(toolPieces[0]).toMatchObject({ index: 0, id: "toolu_9", function: { name: "get_weather" } });
    expect(toolPieces.map((t) => (t.function as Json).arguments).join("")).toBe('{"city":"Oslo"}');
    const finish = data.flatMap((d) => (d.choices as Json[]).map((c) => c.finish_reason)).filter(Boolean);
    expect(finish).toEqual(["tool_calls"]);
    expect(data.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 25 } });
    const quiet = run(messagesToChatStream(false), anthropicStream);
    expect(quiet.some((c) => c.data !== "[DONE]" && "usage" in c.data)).toBe(false);
  });

  it("OpenAI chunks → Anthropic SSE: well-formed blocks, tool input pieces, stop reason and usage", () => {
    const chunk = (delta: Json, finish: string | null = null) =>
      formatEvent(
        JSON.stringify({ id: "c9", model: "gpt", choices: [{ index: 0, delta, finish_reason: finish }] }),
      );
    const openaiStream =
      chunk({ role: "assistant", content: "" }) +
      chunk({ content: "Let me " }) +
      chunk({ content: "check." }) +
      chunk({
        tool_calls: [
          { index: 0, id: "call_9", type: "function", function: { name: "get_weather", arguments: "" } },
        ],
      }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }) +
      chunk({}, "tool_calls") +
      formatEvent(
        JSON.stringify({
          id: "c9",
          model: "gpt",
          choices: [],
          usage: { prompt_tokens: 12, completion_tokens: 25 },
        }),
      ) +
      "data: [DONE]\n\n";
    const events = run(chatToMessagesStream(), openaiStream);
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const data = events.map((e) => e.data as Json);
    expect(data[5]).toMatchObject({
      index: 1,
      content_block: { type: "tool_use", id: "call_9", name: "get_weather" },
    });
    expect([data[6], data[7]].map((d) => (d?.delta as Json | undefined)?.partial_json).join("")).toBe(
      '{"city":"Oslo"}',
    );
    expect(data[9]).toMatchObject({
      delta: { stop_reason: "tool_use" },
      usage: { input_tokens: 12, output_tokens: 25 },
    });
  });
});
