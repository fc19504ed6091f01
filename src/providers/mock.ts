import { estimateChatInput, estimateEmbeddingsInput, estimateMessagesInput } from "../tokenize/estimate.js";
import { type Json, num, str } from "./json.js";
import { type MockOptions, type MockResponse, once, pieces, replyText, sized, stream } from "./mock-parts.js";
import { mockResponses } from "./mock-responses.js";
import { formatEvent } from "./sse.js";
import type { Route } from "./wire.js";

export { type MockOptions, type MockResponse, mockText } from "./mock-parts.js";

let counter = 0;

/**
 * The built-in `mock` provider: answers like OpenAI or Anthropic would (JSON
 * or SSE), deterministically, with usage counted by the same tokenizer the
 * proxy estimates with. It never touches the network.
 */
export function mockRespond(route: Route, body: Json, options: MockOptions): MockResponse {
  const model = str(body.model) ?? "mock";
  const id = `mock-${++counter}`;
  if (route === "embeddings") {
    const input = estimateEmbeddingsInput(body, "openai");
    const items = Array.isArray(body.input) ? body.input : [body.input];
    const answer = {
      object: "list",
      data: items.map((_, index) => ({ object: "embedding", index, embedding: [0.1, 0.2, 0.3, 0.4] })),
      model,
      usage: { prompt_tokens: input, total_tokens: input },
    };
    return {
      status: 200,
      contentType: "application/json",
      chunks: once(JSON.stringify(answer), options.latencyMs),
    };
  }

  if (route === "responses") return mockResponses(body, options, id);

  const outputTokens = sized(body, options);
  const text = replyText(outputTokens);
  const finishedEarly = outputTokens < options.replyTokens;

  if (route === "chat") {
    const input = estimateChatInput(body, "openai");
    // n answers, each of them billed: OpenAI's completion_tokens counts every choice.
    const n = Math.max(1, Math.floor(num(body.n) ?? 1));
    const indexes = Array.from({ length: n }, (_, i) => i);
    const usage = {
      prompt_tokens: input,
      completion_tokens: outputTokens * n,
      total_tokens: input + outputTokens * n,
    };
    const finish = finishedEarly ? "length" : "stop";
    const created = Math.floor(Date.now() / 1000);
    if (body.stream !== true) {
      const answer = {
        id,
        object: "chat.completion",
        created,
        model,
        choices: indexes.map((index) => ({
          index,
          message: { role: "assistant", content: text },
          finish_reason: finish,
        })),
        usage,
      };
      return {
        status: 200,
        contentType: "application/json",
        chunks: once(JSON.stringify(answer), options.latencyMs),
      };
    }
    const chunk = (index: number, delta: Json, finishReason: string | null) =>
      formatEvent(
        JSON.stringify({
          id,
          object: "chat.completion.chunk",
          created,
          model,
          choices: [{ index, delta, finish_reason: finishReason }],
        }),
      );
    const withUsage = (body.stream_options as Json | undefined)?.include_usage === true;
    const events = [
      ...indexes.flatMap((i) => [
        chunk(i, { role: "assistant", content: "" }, null),
        ...pieces(text).map((p) => chunk(i, { content: p }, null)),
        chunk(i, {}, finish),
      ]),
      ...(withUsage
        ? [
            formatEvent(
              JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage }),
            ),
          ]
        : []),
      "data: [DONE]\n\n",
    ];
    return { status: 200, contentType: "text/event-stream", chunks: stream(events, options.latencyMs) };
  }

  const input = estimateMessagesInput(body, "openai");
  const stop = finishedEarly ? "max_tokens" : "end_turn";
  if (body.stream !== true) {
    const answer = {
      id,
      type: "message",
      role: "assistant",
      model,
      content: [{ type: "text", text }],
      stop_reason: stop,
      stop_sequence: null,
      usage: { input_tokens: input, output_tokens: outputTokens },
    };
    return {
      status: 200,
      contentType: "application/json",
      chunks: once(JSON.stringify(answer), options.latencyMs),
    };
  }
  const ev = (type: string, payload: Json) => formatEvent(JSON.stringify({ type, ...payload }), type);
  const events = [
    ev("message_start", {
      message: {
        id,
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: input, output_tokens: 1 },
      },
    }),
    ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
    ...pieces(text).map((p) =>
      ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: p } }),
    ),
    ev("content_block_stop", { index: 0 }),
    ev("message_delta", {
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: outputTokens },
    }),
    ev("message_stop", {}),
  ];
  return { status: 200, contentType: "text/event-stream", chunks: stream(events, options.latencyMs) };
}
