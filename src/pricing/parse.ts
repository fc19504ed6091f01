import { TokenpakError } from "../errors.js";
import type { Micros } from "../money/money.js";
import { usdPerTokenToMicros } from "./decimal.js";
import type {
  EntryRates,
  EntryTier,
  PriceEntries,
  PriceEntry,
  PriceProvider,
  SourceFormat,
} from "./table.js";

export type FormatOption = SourceFormat | "auto";

/** A source document read: the entries of the providers asked for, and what was left out and why. */
export interface ParsedSource {
  format: SourceFormat;
  entries: PriceEntries;
  /** Models in the document, of every provider. */
  total: number;
  /** Entries of the providers asked for that could not be used (no per-token price, a bad number). */
  skipped: { key: string; reason: string }[];
}

type Raw = Record<string, unknown>;

function isRaw(value: unknown): value is Raw {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function invalid(message: string): TokenpakError {
  return new TokenpakError("pricing_invalid", message);
}

/**
 * Where a text stops being JSON — never what it says: JSON.parse's message
 * quotes the document, and a --source may be any file. Only the position
 * V8 gives (for some errors) is kept.
 */
export function notJsonWhere(text: string, error: unknown): string {
  if (text.trim().length === 0) return "empty";
  const message = error instanceof Error ? error.message : "";
  const at = /at position (\d+)/.exec(message)?.[1];
  if (message.includes("Unexpected end") || (at !== undefined && Number(at) >= text.length))
    return "truncated";
  return at !== undefined ? `at character ${at}` : "an unexpected character";
}

/**
 * Parses a price document (the text, so that a truncated download is caught
 * here) in the format given, or the one it is in. Throws `pricing_invalid`
 * for anything that is not a whole document of that format.
 */
export function parseSource(
  text: string,
  format: FormatOption,
  providers: readonly PriceProvider[],
): ParsedSource {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalid(`not valid JSON (${notJsonWhere(text, error)})`);
  }
  const detected = detectFormat(json);
  if (format !== "auto" && detected !== format) {
    throw invalid(
      `not a${format === "litellm" ? " LiteLLM price table" : "n OpenRouter /api/v1/models document"}${detected ? ` (it looks like ${detected === "litellm" ? "a LiteLLM price table" : "an OpenRouter models list"}: use --format ${detected} or auto)` : ""}`,
    );
  }
  if (!detected) {
    throw invalid(
      "in neither known format: expected a LiteLLM model_prices_and_context_window.json or an OpenRouter /api/v1/models document",
    );
  }
  return detected === "litellm"
    ? parseLiteLLM(json as Raw, providers)
    : parseOpenRouter(json as Raw, providers);
}

function detectFormat(json: unknown): SourceFormat | undefined {
  if (!isRaw(json)) return undefined;
  if (Array.isArray(json.data)) {
    const first = json.data.find(isRaw);
    return first && typeof first.id === "string" && isRaw(first.pricing) ? "openrouter" : undefined;
  }
  const looksLikeEntry = (v: unknown) =>
    isRaw(v) && ("litellm_provider" in v || "input_cost_per_token" in v || "output_cost_per_token" in v);
  return Object.values(json).some(looksLikeEntry) ? "litellm" : undefined;
}

/**
 * Reads price fields: absent stays absent; present must be a non-negative
 * decimal. An optional price of 0 (OpenRouter writes "0" for a price a model
 * does not have) counts as absent: a free cache read or free reasoning would
 * under-charge, so those fall back to the input / output price. A required
 * price of 0 is kept, for the safety rules of sync-pricing to judge.
 */
class PriceReader {
  problem: string | undefined;

  private value(raw: Raw, field: string): Micros | undefined {
    const value = raw[field];
    if (value === undefined || value === null) return undefined;
    const micros =
      typeof value === "number" || typeof value === "string" ? usdPerTokenToMicros(value) : undefined;
    if (micros === undefined)
      this.problem ??= `${field} is not a price: ${JSON.stringify(value)?.slice(0, 40)}`;
    return micros;
  }

  read(raw: Raw, field: string): Micros | undefined {
    const micros = this.value(raw, field);
    return micros === 0 ? undefined : micros;
  }

  required(raw: Raw, field: string): Micros | undefined {
    const micros = this.value(raw, field);
    if (micros === undefined) this.problem ??= `no ${field}`;
    return micros;
  }
}

function rates(
  input: Micros,
  output: Micros,
  optional: {
    cached?: Micros | undefined;
    write?: Micros | undefined;
    write1h?: Micros | undefined;
    reasoning?: Micros | undefined;
  },
): EntryRates {
  const out: EntryRates = { input, output };
  if (optional.cached !== undefined) out.cached_input = optional.cached;
  if (optional.write !== undefined) out.cache_write = optional.write;
  if (optional.write1h !== undefined) out.cache_write_1h = optional.write1h;
  if (optional.reasoning !== undefined) out.reasoning = optional.reasoning;
  return out;
}

const LITELLM_PROVIDERS: Record<string, PriceProvider> = {
  openai: "openai",
  "text-completion-openai": "openai",
  anthropic: "anthropic",
};

const LITELLM_FIELDS = {
  input: "input_cost_per_token",
  output: "output_cost_per_token",
  cached: "cache_read_input_token_cost",
  write: "cache_creation_input_token_cost",
  write1h: "cache_creation_input_token_cost_above_1hr",
  reasoning: "output_cost_per_reasoning_token",
} as const;

const TIER_KEY = new RegExp(`^(${Object.values(LITELLM_FIELDS).join("|")})_above_(\\d+)k_tokens$`);

function litellmTiers(raw: Raw, base: EntryRates, reader: PriceReader): EntryTier[] | undefined {
  const byThreshold = new Map<number, Raw>();
  for (const key of Object.keys(raw)) {
    const m = TIER_KEY.exec(key);
    if (!m) continue;
    const above = Number(m[2]) * 1000;
    const fields = byThreshold.get(above) ?? {};
    fields[m[1] as string] = raw[key];
    byThreshold.set(above, fields);
  }
  if (byThreshold.size === 0) return undefined;
  const tiers: EntryTier[] = [];
  for (const [above, fields] of [...byThreshold].sort((a, b) => a[0] - b[0])) {
    const f = LITELLM_FIELDS;
    // A tier that raises only some rates keeps the others at the base rates.
    const tier = rates(
      reader.read(fields, f.input) ?? base.input,
      reader.read(fields, f.output) ?? base.output,
      {
        cached: reader.read(fields, f.cached) ?? base.cached_input,
        write: reader.read(fields, f.write) ?? base.cache_write,
        write1h: reader.read(fields, f.write1h) ?? base.cache_write_1h,
        reasoning: reader.read(fields, f.reasoning) ?? base.reasoning,
      },
    );
    tiers.push({ above_input_tokens: above, ...tier });
  }
  return tiers;
}

function parseLiteLLM(json: Raw, providers: readonly PriceProvider[]): ParsedSource {
  const entries: PriceEntries = {};
  const skipped: ParsedSource["skipped"] = [];
  let total = 0;
  for (const [key, raw] of Object.entries(json)) {
    if (key === "sample_spec" || !isRaw(raw)) continue;
    total++;
    const provider = LITELLM_PROVIDERS[String(raw.litellm_provider)];
    if (!provider || !providers.includes(provider)) continue;
    const reader = new PriceReader();
    const f = LITELLM_FIELDS;
    const input = reader.required(raw, f.input);
    const output = reader.required(raw, f.output);
    const base = rates(input ?? 0, output ?? 0, {
      cached: reader.read(raw, f.cached),
      write: reader.read(raw, f.write),
      write1h: reader.read(raw, f.write1h),
      reasoning: reader.read(raw, f.reasoning),
    });
    const tiers = litellmTiers(raw, base, reader);
    if (reader.problem !== undefined) {
      skipped.push({ key, reason: reader.problem });
      continue;
    }
    const entry: PriceEntry = { provider, ...base };
    if (tiers) entry.tiers = tiers;
    const maxOut = raw.max_output_tokens;
    if (typeof maxOut === "number" && Number.isInteger(maxOut) && maxOut > 0)
      entry.max_output_tokens = maxOut;
    if (typeof raw.mode === "string") entry.mode = raw.mode;
    entries[key] = entry;
  }
  return { format: "litellm", entries, total, skipped };
}

function parseOpenRouter(json: Raw, providers: readonly PriceProvider[]): ParsedSource {
  const entries: PriceEntries = {};
  const skipped: ParsedSource["skipped"] = [];
  const data = json.data as unknown[];
  for (const item of data) {
    const id = isRaw(item) ? item.id : undefined;
    if (!isRaw(item) || typeof id !== "string") {
      throw invalid("an OpenRouter models list whose data[] holds something other than models");
    }
    const provider = providers.find((p) => id.startsWith(`${p}/`));
    if (!provider) continue;
    const pricing = item.pricing;
    if (!isRaw(pricing)) {
      skipped.push({ key: id, reason: "no pricing" });
      continue;
    }
    const reader = new PriceReader();
    const input = reader.required(pricing, "prompt");
    const output = reader.required(pricing, "completion");
    const entryRates = rates(input ?? 0, output ?? 0, {
      cached: reader.read(pricing, "input_cache_read"),
      write: reader.read(pricing, "input_cache_write"),
      reasoning: reader.read(pricing, "internal_reasoning"),
    });
    if (reader.problem !== undefined) {
      skipped.push({ key: id, reason: reader.problem });
      continue;
    }
    const entry: PriceEntry = { provider, ...entryRates };
    const top = item.top_provider;
    const maxOut = isRaw(top) ? top.max_completion_tokens : undefined;
    if (typeof maxOut === "number" && Number.isInteger(maxOut) && maxOut > 0)
      entry.max_output_tokens = maxOut;
    entries[id] = entry;
  }
  return { format: "openrouter", entries, total: data.length, skipped };
}
