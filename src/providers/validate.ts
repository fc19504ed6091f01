import { TokenpakError } from "../errors.js";
import { isObject, type Json } from "./json.js";
import { builtinTools } from "./tools.js";
import { unseenFiles } from "./unseen-files.js";
import type { Route } from "./wire.js";

/**
 * The fields of a request that decide its price, checked before anything is
 * priced or reserved: a value we would misread (a negative `max_tokens`, a
 * string `stream`, `n: 5`) must be refused, not reserved as sent.
 */
export interface RequestShape {
  model: string;
  stream: boolean;
  /** The output cap the client asked for: the smaller of the fields it sent, if any. */
  maxOutputTokens: number | undefined;
  /** How many answers one request generates (`n`, `best_of`): each may use the whole output cap. */
  choices: number;
  /** Responses API: input the provider keeps and bills that the client does not send. */
  stored?: StoredInput | undefined;
  /** Responses API: the built-in (provider-run, billed per call) tool kinds enabled. */
  builtinTools: readonly string[];
  /** Responses API: `max_tool_calls`, the most built-in tool calls the answer may make. */
  maxToolCalls?: number | undefined;
  /** Files the input refers to by id or URL: billed whole by the provider, unseen by the estimate. */
  unseenFiles: number;
}

/**
 * What a Responses request refers to that the provider bills as input: the
 * conversation so far (`previous_response_id`, `conversation`), items of
 * earlier responses (`item_reference`), or a stored prompt template (`prompt`).
 */
export interface StoredInput {
  previousResponseId?: string | undefined;
  conversationId?: string | undefined;
  prompt: boolean;
  /** `item_reference` inputs: items of earlier responses, by id. */
  items: readonly string[];
}

/** Deeper than this, a body is refused: nothing real nests so far, and recursion over it would overflow. */
export const MAX_JSON_DEPTH = 64;
/** More messages or tools than this in one request are refused: the work per request stays bounded. */
export const MAX_MESSAGES = 100_000;
export const MAX_TOOLS = 1_024;
/**
 * The largest output cap accepted in any one field: far above any model's
 * output limit, yet low enough that the worst case it reserves (times
 * MAX_CHOICES, at any sane price) stays a safe integer of micro-cents.
 */
export const MAX_OUTPUT_TOKENS = 100_000_000;
/** The most answers one request may ask for (`n`, `best_of`): OpenAI's own documented maximum. */
export const MAX_CHOICES = 128;
/** The most built-in tool calls one Responses request may allow (`max_tool_calls`): each is reserved at its price. */
export const MAX_TOOL_CALLS = 10_000;

/** The output-cap fields each route reads, in the order a provider prefers them. */
export const OUTPUT_CAP_FIELDS: Readonly<Record<Route, readonly string[]>> = {
  chat: ["max_completion_tokens", "max_tokens"],
  messages: ["max_tokens"],
  embeddings: [],
  responses: ["max_output_tokens"],
};

const MULTIPLIERS: Readonly<Record<Route, readonly string[]>> = {
  chat: ["n", "best_of"],
  messages: [],
  embeddings: [],
  responses: [],
};

/** `param` null: the error is about the body as a whole, as OpenAI reports such errors. */
function invalid(param: string | null, message: string): TokenpakError {
  return new TokenpakError("invalid_request", message, { param });
}

/**
 * A positive integer field of at most `max`, if present; null reads as absent
 * (clients send it for "the default"). Unbounded, a cap would be reserved as
 * sent, and past safe integers the ledger cannot count it.
 */
function positiveInteger(body: Json, field: string, max: number): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  const got = JSON.stringify(value)?.slice(0, 40);
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(field, `\`${field}\` must be a positive integer, got ${got}`);
  }
  if (value > max)
    throw invalid(field, `\`${field}\` must be at most ${max.toLocaleString("en-US")}, got ${got}`);
  return value;
}

/** Whether some object or array in `value` sits deeper than `limit`; iterative, so depth cannot overflow it. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop() ?? 1;
    if (v === null || typeof v !== "object") continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** Checks the request's pricing fields and reads them; throws `invalid_request` naming the field. */
export function validateRequest(route: Route, body: Json): RequestShape {
  if (nestedDeeperThan(body, MAX_JSON_DEPTH)) {
    throw invalid(null, `request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const model = body.model;
  if (model === undefined || model === null) throw invalid("model", "`model` is required");
  if (typeof model !== "string") throw invalid("model", "`model` must be a string");
  const stream = body.stream;
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    throw invalid("stream", `\`stream\` must be true or false, got ${JSON.stringify(stream)?.slice(0, 40)}`);
  }
  if (route === "chat" || route === "messages") checkList(body, "messages");
  if (route === "responses") {
    const input = body.input;
    if (input !== undefined && input !== null && typeof input !== "string") checkList(body, "input");
  }
  if (route !== "embeddings") {
    const tools = body.tools;
    if (tools !== undefined && tools !== null && !Array.isArray(tools))
      throw invalid("tools", "`tools` must be an array");
    if (Array.isArray(tools) && tools.length > MAX_TOOLS) {
      throw invalid("tools", `\`tools\` has ${tools.length} entries; at most ${MAX_TOOLS} are accepted`);
    }
  }
  let maxOutputTokens: number | undefined;
  for (const field of OUTPUT_CAP_FIELDS[route]) {
    const n = positiveInteger(body, field, MAX_OUTPUT_TOKENS);
    if (n !== undefined) maxOutputTokens = Math.min(n, maxOutputTokens ?? n);
  }
  let choices = 1;
  for (const field of MULTIPLIERS[route])
    choices = Math.max(choices, positiveInteger(body, field, MAX_CHOICES) ?? 1);
  const shape: RequestShape = {
    model,
    stream: stream === true && route !== "embeddings",
    maxOutputTokens,
    choices,
    builtinTools: [],
    unseenFiles: unseenFiles(route, body),
  };
  if (route === "responses") {
    if (body.background === true) {
      // The answer (and its usage) arrives after this request has ended: nothing could settle it.
      throw invalid(
        "background",
        "`background: true` responses cannot be budgeted: the provider bills them after the request ends; send the request without `background`",
      );
    }
    shape.stored = storedInput(body);
    shape.builtinTools = builtinTools(body.tools);
    shape.maxToolCalls = positiveInteger(body, "max_tool_calls", MAX_TOOL_CALLS);
  }
  return shape;
}

/** `field` must be an array of at most MAX_MESSAGES entries. */
function checkList(body: Json, field: string): void {
  const value = body[field];
  const what = field === "input" ? "a string or an array" : "an array";
  if (!Array.isArray(value)) throw invalid(field, `\`${field}\` must be ${what}`);
  if (value.length > MAX_MESSAGES) {
    throw invalid(field, `\`${field}\` has ${value.length} entries; at most ${MAX_MESSAGES} are accepted`);
  }
}

/** The stored input a Responses request refers to; undefined when it sends all of its input. */
function storedInput(body: Json): StoredInput | undefined {
  const previous = body.previous_response_id;
  // An empty id names no response: read as one tokenpak has not seen, it would reserve a whole context window.
  if (previous !== undefined && previous !== null && (typeof previous !== "string" || previous === "")) {
    throw invalid(
      "previous_response_id",
      "`previous_response_id` must be a response id (a non-empty string)",
    );
  }
  const conversation = body.conversation;
  const conversationId = isObject(conversation) ? conversation.id : conversation;
  if (
    conversationId !== undefined &&
    conversationId !== null &&
    (typeof conversationId !== "string" || conversationId === "")
  ) {
    throw invalid("conversation", "`conversation` must be a conversation id or `{id}`");
  }
  const prompt = body.prompt !== undefined && body.prompt !== null;
  const items: string[] = [];
  for (const item of Array.isArray(body.input) ? body.input : []) {
    if (!isObject(item) || item.type !== "item_reference") continue;
    if (typeof item.id !== "string") throw invalid("input", "an `item_reference` needs a string `id`");
    items.push(item.id);
  }
  if (typeof previous !== "string" && typeof conversationId !== "string" && !prompt && items.length === 0)
    return undefined;
  return {
    ...(typeof previous === "string" ? { previousResponseId: previous } : {}),
    ...(typeof conversationId === "string" ? { conversationId } : {}),
    prompt,
    items,
  };
}
