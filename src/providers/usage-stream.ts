import { fromAnthropicUsage, fromOpenAIUsage, type Usage } from "../pricing/usage.js";
import { arr, type Json, num, obj, parseJson, str } from "./json.js";
import type { SseEvent } from "./sse.js";
import type { WireFormat } from "./wire.js";

/** Reads the usage (and, for an abandoned stream, the generated text) out of an upstream SSE stream. */
export interface StreamUsage {
  event(e: SseEvent): void;
  /** What upstream reported, or undefined if the stream ended before it said. */
  usage(): Usage | undefined;
  /** Text and tool arguments generated so far. */
  text(): string;
}

export function streamUsage(format: WireFormat): StreamUsage {
  return format === "anthropic" ? anthropicStreamUsage() : openaiStreamUsage();
}

function openaiStreamUsage(): StreamUsage {
  let usage: Usage | undefined;
  let text = "";
  return {
    event(e) {
      if (e.data === "[DONE]" || e.data === "") return;
      const data = obj(parseJson(e.data));
      const u = data.usage;
      if (u !== null && typeof u === "object") usage = fromOpenAIUsage(u);
      for (const c of arr(data.choices)) {
        const delta = obj(obj(c).delta);
        text += str(delta.content) ?? "";
        for (const t of arr(delta.tool_calls)) text += str(obj(obj(t).function).arguments) ?? "";
      }
    },
    usage: () => usage,
    text: () => text,
  };
}

function anthropicStreamUsage(): StreamUsage {
  let raw: Json | undefined;
  let text = "";
  return {
    event(e) {
      const data = obj(parseJson(e.data));
      if (data.type === "message_start") raw = { ...obj(obj(data.message).usage) };
      else if (data.type === "message_delta") {
        // message_delta carries cumulative counts; newer API versions include input counts too.
        const u = obj(data.usage);
        raw = { ...raw };
        for (const [k, v] of Object.entries(u)) if (num(v) !== undefined) raw[k] = v;
      } else if (data.type === "content_block_delta") {
        const delta = obj(data.delta);
        text += str(delta.text) ?? str(delta.partial_json) ?? "";
      }
    },
    usage: () => (raw && raw.output_tokens !== undefined ? fromAnthropicUsage(raw) : undefined),
    text: () => text,
  };
}

/** Usage from a JSON answer, if it has any. */
export function jsonUsage(format: WireFormat, body: Json): Usage | undefined {
  const u = body.usage;
  if (u === null || typeof u !== "object") return undefined;
  return format === "anthropic" ? fromAnthropicUsage(u) : fromOpenAIUsage(u);
}
