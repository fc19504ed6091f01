import {
  NO_USAGE,
  readAnthropicUsage,
  readOpenAIUsage,
  type Usage,
  type UsageReading,
} from "../pricing/usage.js";
import { countOutputTokens } from "../tokenize/estimate.js";
import { arr, isObject, type Json, obj, parseJson, str } from "./json.js";
import type { SseEvent } from "./sse.js";
import { countCall, type ToolCalls, toolCallsIn } from "./tools.js";
import type { WireFormat } from "./wire.js";

/** One upstream event as the watch read it. */
export type WatchedEvent =
  | { kind: "error"; error: ProviderError }
  | { kind: "data"; data: Json }
  /** `[DONE]`, a comment, anything that is not a JSON object. */
  | { kind: "other" };

/** A provider's error, in the fields both formats share. */
export interface ProviderError {
  type: string;
  message: string;
  code?: string | undefined;
}

/**
 * What an upstream stream has said so far, read event by event: the usage it
 * reported, the text it generated (what a stream that ends early is charged
 * for), whether it reported an error, and whether it said it was complete.
 */
export interface StreamWatch {
  event(e: SseEvent): WatchedEvent;
  /** The final usage, once the provider reported it. */
  usage(): UsageReading | undefined;
  /**
   * What to charge when the final usage never came: the input, and the output
   * counted from the text — at most `maxOutput`, which the provider was not
   * allowed to exceed.
   */
  countedUsage(estimatedInput: number, maxOutput: number): Usage;
  error(): ProviderError | undefined;
  /** The provider said the answer is whole: `[DONE]` or a finish reason, `message_stop`, `response.completed`. */
  complete(): boolean;
  /** Built-in tool calls (Responses API): the final response's, else every one begun so far. */
  toolCalls(): ToolCalls;
  /** The ids a later turn may continue (Responses API). */
  ids(): StoredIds;
}

/** A Responses answer's id, its conversation's and its output items': what a later turn refers to. */
export interface StoredIds {
  response?: string | undefined;
  conversation?: string | undefined;
  items?: string[] | undefined;
}

function itemIds(output: unknown): string[] {
  return arr(output).flatMap((item) => {
    const id = str(obj(item).id);
    return id === undefined ? [] : [id];
  });
}

function storedIds(response: Json): StoredIds {
  const conversation = response.conversation;
  return {
    response: str(response.id),
    conversation: isObject(conversation) ? str(conversation.id) : str(conversation),
    items: itemIds(response.output),
  };
}

/** `choices`: how many answers the request asked for (`n`); an OpenAI-format stream is whole when each has finished. */
export function watchStream(format: WireFormat, choices = 1): StreamWatch {
  if (format === "responses") return responsesWatch();
  return format === "anthropic" ? anthropicWatch() : openaiWatch(choices);
}

export function providerError(value: unknown): ProviderError {
  const inner = isObject(value) && isObject(value.error) ? value.error : obj(value);
  return {
    type: str(inner.type) ?? "api_error",
    message: str(inner.message) ?? "the provider reported an error",
    ...(str(inner.code) !== undefined ? { code: str(inner.code) } : {}),
  };
}

/**
 * Generated text kept per choice or content block: counting each apart, then
 * adding, errs high where one count of the joined text could merge tokens
 * across the seams.
 */
class Texts {
  private readonly parts = new Map<number, string>();

  add(index: unknown, text: string): void {
    if (!text) return;
    const i = typeof index === "number" ? index : 0;
    this.parts.set(i, (this.parts.get(i) ?? "") + text);
  }

  tokens(family: "openai" | "other"): number {
    let n = 0;
    for (const text of this.parts.values()) n += countOutputTokens(text, family);
    return n;
  }
}

function read(e: SseEvent): Json | undefined {
  if (!e.data.startsWith("{")) return undefined;
  const parsed = parseJson(e.data);
  return isObject(parsed) ? parsed : undefined;
}

/**
 * An OpenAI-format stream is whole at `[DONE]`, at the final usage chunk (no
 * choices, sent after every answer ended), or once every one of the `choices`
 * answers has its finish_reason: with `n > 1` the first answer's end is not
 * the stream's, and a cut in a later one must not pass for a whole answer.
 */
function openaiWatch(choices: number): StreamWatch {
  let usage: UsageReading | undefined;
  const texts = new Texts();
  let error: ProviderError | undefined;
  let complete = false;
  const finished = new Set<number>();
  const finish = (index: unknown) => {
    const i = typeof index === "number" ? index : 0;
    if (Number.isSafeInteger(i) && i >= 0 && i < choices) finished.add(i);
    if (finished.size >= choices) complete = true;
  };
  return {
    event(e) {
      if (e.data === "[DONE]") {
        complete = true;
        return { kind: "other" };
      }
      const data = read(e);
      if (e.event === "error" || isObject(data?.error)) {
        error = providerError(data ?? {});
        return { kind: "error", error };
      }
      if (!data) return { kind: "other" };
      if (isObject(data.usage)) {
        usage = readOpenAIUsage(data.usage);
        // The final usage chunk; a provider that reports usage on every chunk sends choices with it.
        if (arr(data.choices).length === 0) complete = true;
      }
      for (const c of arr(data.choices)) {
        const choice = obj(c);
        const delta = obj(choice.delta);
        const text =
          (str(delta.content) ?? "") + (str(delta.refusal) ?? "") + (str(delta.reasoning_content) ?? "");
        texts.add(choice.index, text);
        for (const t of arr(delta.tool_calls)) {
          const fn = obj(obj(t).function);
          texts.add(choice.index, (str(fn.name) ?? "") + (str(fn.arguments) ?? ""));
        }
        if (typeof choice.finish_reason === "string") finish(choice.index);
      }
      return { kind: "data", data };
    },
    usage: () => usage,
    countedUsage: (input, maxOutput) => ({
      ...NO_USAGE,
      input,
      output: Math.min(texts.tokens("openai"), maxOutput),
    }),
    error: () => error,
    complete: () => complete,
    toolCalls: () => ({}),
    ids: () => ({}),
  };
}

function anthropicWatch(): StreamWatch {
  /** message_start's usage: the exact input, and an output count that is only a floor. */
  let start: Json | undefined;
  /** message_delta's: cumulative counts, the final ones. */
  let final: Json | undefined;
  const texts = new Texts();
  let error: ProviderError | undefined;
  let complete = false;
  return {
    event(e) {
      const data = read(e);
      if (e.event === "error" || data?.type === "error") {
        error = providerError(data ?? {});
        return { kind: "error", error };
      }
      if (!data) return { kind: "other" };
      if (data.type === "message_start") start = obj(obj(data.message).usage);
      else if (data.type === "message_delta") {
        // Cumulative counts; only a delta that gives the output count ends the question.
        const delta = obj(data.usage);
        if (delta.output_tokens !== undefined && delta.output_tokens !== null) {
          final = { ...start, ...final };
          for (const [k, v] of Object.entries(delta)) if (v !== null) final[k] = v;
        }
      } else if (data.type === "content_block_delta") {
        const delta = obj(data.delta);
        texts.add(data.index, str(delta.text) ?? str(delta.partial_json) ?? str(delta.thinking) ?? "");
      } else if (data.type === "message_stop") complete = true;
      return { kind: "data", data };
    },
    usage: () => (final ? readAnthropicUsage(final) : undefined),
    countedUsage(estimatedInput, maxOutput) {
      const begun = start ? readAnthropicUsage(start) : undefined;
      // message_start's output count is a floor, not the answer.
      const counted = Math.min(texts.tokens("other"), maxOutput);
      if (!begun?.ok) return { ...NO_USAGE, input: estimatedInput, output: counted };
      return { ...begun.usage, output: Math.min(Math.max(begun.usage.output, counted), maxOutput) };
    },
    error: () => error,
    complete: () => complete,
    toolCalls: () => ({}),
    ids: () => ({}),
  };
}

/** A Responses API error event (`code`, `message` at the top) or a failed response's `error`. */
function responsesError(error: unknown): ProviderError {
  const e = obj(error);
  const code = str(e.code);
  return {
    type: code ?? "api_error",
    message: str(e.message) ?? "the provider reported an error",
    ...(code !== undefined ? { code } : {}),
  };
}

/** Deltas that are not generated text: audio and images come base64-encoded. */
const NOT_TEXT = new Set(["response.audio.delta", "response.audio.transcript.delta"]);

function responsesWatch(): StreamWatch {
  let usage: UsageReading | undefined;
  const texts = new Texts();
  let error: ProviderError | undefined;
  let complete = false;
  /** A reasoning model bills hidden reasoning tokens that no delta shows. */
  let reasoning = false;
  const begun: ToolCalls = {};
  let final: ToolCalls | undefined;
  let ids: StoredIds = {};
  const items: string[] = [];
  const ended = (response: Json) => {
    if (response.usage !== undefined && response.usage !== null) usage = readOpenAIUsage(response.usage);
    if (Array.isArray(response.output)) final = toolCallsIn(response.output);
    if (Array.isArray(response.output)) ids = { ...ids, items: itemIds(response.output) };
  };
  return {
    event(e) {
      const data = read(e);
      const type = str(data?.type) ?? e.event ?? "";
      if (type === "error") {
        error = responsesError(data);
        return { kind: "error", error };
      }
      if (!data) return { kind: "other" };
      if (isObject(data.response) && ids.response === undefined) ids = storedIds(data.response);
      if (type === "response.failed") {
        const response = obj(data.response);
        ended(response);
        error = isObject(response.error)
          ? responsesError(response.error)
          : { type: "api_error", message: "the response failed" };
        return { kind: "error", error };
      }
      if (type === "response.completed" || type === "response.incomplete") {
        ended(obj(data.response));
        complete = true;
      } else if (type === "response.output_item.added") {
        const item = obj(data.item);
        if (item.type === "reasoning") reasoning = true;
        countCall(begun, item);
        const id = str(item.id);
        if (id !== undefined) items.push(id);
      } else if (type.endsWith(".delta") && !NOT_TEXT.has(type)) {
        texts.add(data.output_index, str(data.delta) ?? "");
      }
      return { kind: "data", data };
    },
    usage: () => usage,
    countedUsage: (input, maxOutput) => ({
      ...NO_USAGE,
      input,
      // Reasoning tokens are billed as output but never streamed: all of the cap may have gone.
      output: reasoning ? maxOutput : Math.min(texts.tokens("openai"), maxOutput),
    }),
    error: () => error,
    complete: () => complete,
    toolCalls: () => final ?? begun,
    ids: () => (ids.items ? ids : { ...ids, items }),
  };
}

/** Built-in tool calls in a JSON answer (only the Responses API has them). */
export function jsonToolCalls(format: WireFormat, body: Json): ToolCalls {
  return format === "responses" ? toolCallsIn(body.output) : {};
}

/** Whether a JSON answer billed output it does not show: a Responses answer with a reasoning item. */
export function hidesOutput(format: WireFormat, body: Json): boolean {
  return format === "responses" && arr(body.output).some((item) => obj(item).type === "reasoning");
}

/** The ids of a JSON answer a later turn may continue (only the Responses API has them). */
export function jsonIds(format: WireFormat, body: Json): StoredIds {
  return format === "responses" ? storedIds(body) : {};
}

/** Usage from a JSON answer; undefined when it has none. */
export function jsonUsage(format: WireFormat, body: Json, embedding = false): UsageReading | undefined {
  const u = body.usage;
  if (u === undefined || u === null) return undefined;
  return format === "anthropic"
    ? readAnthropicUsage(u)
    : readOpenAIUsage(u, embedding ? "embedding" : "generation");
}
