import { TokenpakError } from "../errors.js";
import type { Json } from "./json.js";
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
}

/** Deeper than this, a body is refused: nothing real nests so far, and recursion over it would overflow. */
export const MAX_JSON_DEPTH = 64;
/** More messages or tools than this in one request are refused: the work per request stays bounded. */
export const MAX_MESSAGES = 100_000;
export const MAX_TOOLS = 1_024;

/** The output-cap fields each route reads, in the order a provider prefers them. */
export const OUTPUT_CAP_FIELDS: Readonly<Record<Route, readonly string[]>> = {
  chat: ["max_completion_tokens", "max_tokens"],
  messages: ["max_tokens"],
  embeddings: [],
};

const MULTIPLIERS: Readonly<Record<Route, readonly string[]>> = {
  chat: ["n", "best_of"],
  messages: [],
  embeddings: [],
};

function invalid(param: string, message: string): TokenpakError {
  return new TokenpakError("invalid_request", message, { param });
}

/** A positive integer field, if present; null reads as absent (clients send it for "the default"). */
function positiveInteger(body: Json, field: string): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 1) return value;
  throw invalid(field, `\`${field}\` must be a positive integer, got ${JSON.stringify(value)?.slice(0, 40)}`);
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
    throw invalid("", `request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const model = body.model;
  if (model === undefined || model === null) throw invalid("model", "`model` is required");
  if (typeof model !== "string") throw invalid("model", "`model` must be a string");
  const stream = body.stream;
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    throw invalid("stream", `\`stream\` must be true or false, got ${JSON.stringify(stream)?.slice(0, 40)}`);
  }
  if (route !== "embeddings") {
    if (!Array.isArray(body.messages)) throw invalid("messages", "`messages` must be an array");
    if (body.messages.length > MAX_MESSAGES) {
      throw invalid(
        "messages",
        `\`messages\` has ${body.messages.length} entries; at most ${MAX_MESSAGES} are accepted`,
      );
    }
    if (Array.isArray(body.tools) && body.tools.length > MAX_TOOLS) {
      throw invalid("tools", `\`tools\` has ${body.tools.length} entries; at most ${MAX_TOOLS} are accepted`);
    }
  }
  let maxOutputTokens: number | undefined;
  for (const field of OUTPUT_CAP_FIELDS[route]) {
    const n = positiveInteger(body, field);
    if (n !== undefined) maxOutputTokens = Math.min(n, maxOutputTokens ?? n);
  }
  let choices = 1;
  for (const field of MULTIPLIERS[route]) choices = Math.max(choices, positiveInteger(body, field) ?? 1);
  return { model, stream: stream === true && route !== "embeddings", maxOutputTokens, choices };
}
