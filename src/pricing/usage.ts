/**
 * Tokens of one exchange, normalised across providers so one price formula
 * fits all. `input` is uncached input only; `cache_write` counts 5-minute
 * cache writes and `cache_write_1h` one-hour writes (Anthropic prices them
 * apart); `output` is every billed output token, reasoning included
 * (`reasoning` says how many of them it was). Every field is a non-negative
 * safe integer: the readers below never produce anything else.
 */
export interface Usage {
  input: number;
  cached_input: number;
  cache_write: number;
  cache_write_1h: number;
  output: number;
  reasoning: number;
}

export const NO_USAGE: Readonly<Usage> = Object.freeze({
  input: 0,
  cached_input: 0,
  cache_write: 0,
  cache_write_1h: 0,
  output: 0,
  reasoning: 0,
});

export function totalTokens(u: Usage): number {
  return u.input + u.cached_input + u.cache_write + u.cache_write_1h + u.output;
}

/** A provider's usage object read: the normalised counts, or why they cannot be trusted. */
export type UsageReading = { ok: true; usage: Usage } | { ok: false; reason: string };

/** Whether the answer must report output tokens (embeddings report input only). */
export type UsageKind = "generation" | "embedding";

type Raw = Record<string, unknown>;

/**
 * No single request bills anywhere near this many tokens of one kind (context
 * windows are a few million at most); a larger count is a broken usage, and
 * refusing it keeps every cost a safe integer.
 */
export const MAX_TOKEN_COUNT = 100_000_000;

function isRaw(value: unknown): value is Raw {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Reads token counts, refusing anything that is not one: a count is a
 * non-negative integer up to MAX_TOKEN_COUNT, or a string of digits (some
 * OpenAI-compatible servers quote them). Absent and null read as absent. A number that is
 * negative, fractional, huge, or any other type makes the whole usage
 * untrustworthy: a NaN or a negative here would poison every counter it
 * reached, and a string would concatenate.
 */
class CountReader {
  problem: string | undefined;

  count(parent: unknown, field: string, path: string): number | undefined {
    if (!isRaw(parent)) return undefined;
    const value = parent[field];
    if (value === undefined || value === null) return undefined;
    const n = typeof value === "string" && /^\d{1,15}$/.test(value) ? Number(value) : value;
    if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_TOKEN_COUNT) return n;
    this.problem ??= `usage.${path} is not a token count: ${JSON.stringify(value)?.slice(0, 40)}`;
    return undefined;
  }

  required(parent: unknown, fields: readonly string[], path: string): number {
    for (const f of fields) {
      const n = this.count(parent, f, `${path}${f}`);
      if (n !== undefined) return n;
    }
    this.problem ??= `usage.${path}${fields[0]} is missing`;
    return 0;
  }

  result(usage: Usage): UsageReading {
    return this.problem === undefined ? { ok: true, usage } : { ok: false, reason: this.problem };
  }
}

/**
 * OpenAI usage (chat completions, embeddings, the Responses API). Its
 * prompt_tokens INCLUDE the cached tokens, which are split out here.
 */
export function readOpenAIUsage(raw: unknown, kind: UsageKind = "generation"): UsageReading {
  if (!isRaw(raw)) return { ok: false, reason: "usage is not an object" };
  const r = new CountReader();
  const prompt = r.required(raw, ["prompt_tokens", "input_tokens"], "");
  const cached =
    r.count(raw.prompt_tokens_details, "cached_tokens", "prompt_tokens_details.cached_tokens") ??
    r.count(raw.input_tokens_details, "cached_tokens", "input_tokens_details.cached_tokens") ??
    0;
  const output =
    kind === "embedding"
      ? (r.count(raw, "completion_tokens", "completion_tokens") ?? 0)
      : r.required(raw, ["completion_tokens", "output_tokens"], "");
  const reasoning =
    r.count(
      raw.completion_tokens_details,
      "reasoning_tokens",
      "completion_tokens_details.reasoning_tokens",
    ) ??
    r.count(raw.output_tokens_details, "reasoning_tokens", "output_tokens_details.reasoning_tokens") ??
    0;
  // More cached than prompt tokens is inconsistent; counting the excess as uncached input errs high.
  const cachedPart = Math.min(cached, prompt);
  return r.result({
    input: prompt - cachedPart,
    cached_input: cachedPart,
    cache_write: 0,
    cache_write_1h: 0,
    output,
    reasoning: Math.min(reasoning, output),
  });
}

/**
 * Anthropic usage. Its input_tokens EXCLUDE cache reads and writes, which
 * come on their own; `cache_creation` splits the writes by lifetime.
 */
export function readAnthropicUsage(raw: unknown): UsageReading {
  if (!isRaw(raw)) return { ok: false, reason: "usage is not an object" };
  const r = new CountReader();
  const input = r.required(raw, ["input_tokens"], "");
  const output = r.required(raw, ["output_tokens"], "");
  const cachedInput = r.count(raw, "cache_read_input_tokens", "cache_read_input_tokens") ?? 0;
  const writes = r.count(raw, "cache_creation_input_tokens", "cache_creation_input_tokens") ?? 0;
  const split = raw.cache_creation;
  const fiveMin =
    r.count(split, "ephemeral_5m_input_tokens", "cache_creation.ephemeral_5m_input_tokens") ?? 0;
  const oneHour =
    r.count(split, "ephemeral_1h_input_tokens", "cache_creation.ephemeral_1h_input_tokens") ?? 0;
  // The total and its parts should agree; where they do not, the larger count wins.
  const total = Math.max(writes, fiveMin + oneHour);
  return r.result({
    input,
    cached_input: cachedInput,
    cache_write: total - oneHour,
    cache_write_1h: oneHour,
    output,
    reasoning: 0,
  });
}
