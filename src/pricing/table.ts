import type { Micros } from "../money/money.js";

/** The providers whose prices sync-pricing keeps (`--provider`). */
export const PRICE_PROVIDERS = ["openai", "anthropic"] as const;
export type PriceProvider = (typeof PRICE_PROVIDERS)[number];

export type SourceFormat = "litellm" | "openrouter";

/** The rates of one model, or of one of its long-context tiers, in integer micro-cents per 1,000 tokens. */
export interface EntryRates {
  input: Micros;
  output: Micros;
  /** Absent when the source gives none: then cached input is priced as input. */
  cached_input?: Micros;
  /** 5-minute cache writes; absent: 1.25 × input. */
  cache_write?: Micros;
  /** 1-hour cache writes; absent: 2 × input. */
  cache_write_1h?: Micros;
  /** Absent when the source gives none: then reasoning tokens are priced as output. */
  reasoning?: Micros;
}

/** A long-context tier: a request whose input is above `above_input_tokens` is priced at these rates, all of it. */
export interface EntryTier extends EntryRates {
  above_input_tokens: number;
}

/** One model of a price source. */
export interface PriceEntry extends EntryRates {
  provider: PriceProvider;
  /** Ascending by threshold. */
  tiers?: EntryTier[];
  max_output_tokens?: number;
  /** LiteLLM's `mode` (chat, completion, embedding, responses). */
  mode?: string;
}

/** Entries by the source's own name for the model (`gpt-4o`, `openai/gpt-4o`). */
export type PriceEntries = Record<string, PriceEntry>;

/** Where one provider's entries came from. */
export interface SourceInfo {
  /** The URL or file as given, or `bundled: …` for the snapshot shipped with tokenpak. */
  source: string;
  format: SourceFormat;
  /** ISO 8601: when the document was read. */
  fetched_at: string;
  /** Hex SHA-256 of the document's bytes. */
  sha256: string;
}

/** The price table: the store in the data directory, or the bundled snapshot. */
export interface PriceTable {
  /** Format version of the file. */
  version: 1;
  /** Goes up by one with every write: the daemon reloads when it changes. */
  revision: number;
  updated_at: string;
  sources: Partial<Record<PriceProvider, SourceInfo>>;
  entries: PriceEntries;
}

export const TABLE_VERSION = 1;

/** Whether two entries bill the same (everything but the descriptive fields). */
export function samePrice(a: PriceEntry, b: PriceEntry): boolean {
  const rates = (e: EntryRates) => [
    e.input,
    e.output,
    e.cached_input,
    e.cache_write,
    e.cache_write_1h,
    e.reasoning,
  ];
  const tiers = (e: PriceEntry) =>
    (e.tiers ?? []).map((t) => [t.above_input_tokens, ...rates(t)].join(",")).join(";");
  return rates(a).join(",") === rates(b).join(",") && tiers(a) === tiers(b);
}

/**
 * The oldest fetch among the providers the table holds (or among `providers`,
 * when given): the prices are as stale as their stalest part.
 */
export function oldestSource(
  table: PriceTable,
  providers?: ReadonlySet<PriceProvider>,
): SourceInfo | undefined {
  let oldest: SourceInfo | undefined;
  for (const [provider, info] of Object.entries(table.sources) as [PriceProvider, SourceInfo | undefined][]) {
    if (providers && !providers.has(provider)) continue;
    if (info && (oldest === undefined || Date.parse(info.fetched_at) < Date.parse(oldest.fetched_at)))
      oldest = info;
  }
  return oldest;
}
