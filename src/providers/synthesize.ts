import { arr, type Json, obj, str } from "./json.js";
import { responseAsStream } from "./responses-events.js";
import { formatEvent } from "./sse.js";
import type { WireFormat } from "./wire.js";

/*
 * A complete JSON answer told as the stream the client asked for: some
 * providers (and proxies in front of them) ignore `stream: true`. The client
 * still gets the events its SDK expects, and the answer is settled from the
 * JSON's own usage.
 */

/** An OpenAI chat.completion as chat.completion.chunk events, ending with `[DONE]`. */
function chatAsStream(answer: Json, includeUsage: boolean): string {
  const head = {
    id: answer.id,
    object: "chat.completion.chunk",
    created: answer.created,
    model: answer.model,
  };
  const chunk = (choices: Json[], extra: Json = {}) =>
    formatEvent(JSON.stringify({ ...head, choices, ...extra }));
  let out = "";
  for (const [i, c] of arr(answer.choices).entries()) {
    const choice = obj(c);
    const index = typeof choice.index === "number" ? choice.index : i;
    const message = obj(choice.message);
    const toolCalls = arr(message.tool_calls).map((t, n) => ({ index: n, ...obj(t) }));
    const delta: Json = { role: "assistant", content: str(message.content) ?? "" };
    if (toolCalls.length > 0) delta.tool_calls = toolCalls;
    if (typeof message.refusal === "string") delta.refusal = message.refusal;
    out += chunk([{ index, delta, finish_reason: null }]);
    out += chunk([{ index, delta: {}, finish_reason: choice.finish_reason ?? "stop" }]);
  }
  if (includeUsage && answer.usage !== undefined) out += chunk([], { usage: answer.usage });
  return `${out}data: [DONE]\n\n`;
}

/** An Anthropic message as its message_start … message_stop events. */
function messageAsStream(answer: Json): string {
  const ev = (type: string, payload: Json) => formatEvent(JSON.stringify({ type, ...payload }), type);
  const usage = obj(answer.usage);
  let out = ev("message_start", {
    message: {
      ...answer,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 0 },
    },
  });
  for (const [index, b] of arr(answer.content).entries()) {
    const block = obj(b);
    if (block.type === "tool_use") {
      out += ev("content_block_start", { index, content_block: { ...block, input: {} } });
      out += ev("content_block_delta", {
        index,
        delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input ?? {}) },
      });
    } else if (block.type === "thinking") {
      out += ev("content_block_start", { index, content_block: { ...block, thinking: "" } });
      out += ev("content_block_delta", {
        index,
        delta: { type: "thinking_delta", thinking: str(block.thinking) ?? "" },
      });
    } else {
      out += ev("content_block_start", { index, content_block: { ...block, text: "" } });
      out += ev("content_block_delta", { index, delta: { type: "text_delta", text: str(block.text) ?? "" } });
    }
    out += ev("content_block_stop", { index });
  }
  out += ev("message_delta", {
    delta: { stop_reason: answer.stop_reason ?? "end_turn", stop_sequence: answer.stop_sequence ?? null },
    usage: { output_tokens: usage.output_tokens ?? 0 },
  });
  return out + ev("message_stop", {});
}

/** `answer` (in `format`) as that format's SSE stream. */
export function answerAsStream(format: WireFormat, answer: Json, includeUsage: boolean): string {
  if (format === "responses") return responseAsStream(answer);
  return format === "anthropic" ? messageAsStream(answer) : chatAsStream(answer, includeUsage);
}
