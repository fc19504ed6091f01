import { type Micros, microsToCents } from "../money/money.js";
import { type Prices, pricesAt } from "./cost.js";
import { type ModelPricing, type PricingConfig, resolveModel, tableProviders } from "./resolve.js";
import { type PriceProvider, type PriceTable, samePrice } from "./table.js";

/** Changes larger than this (in %) are pointed out. */
export const WARN_CHANGE_PCT = 50;
/** A paid price moving by more than this factor at once is refused without --force. */
export const REFUSE_FACTOR = 10;

const COMPARED = ["input", "output", "cached_input"] as const;
type Compared = (typeof COMPARED)[number];

export interface DiffRow {
  model: string;
  before: ModelPricing;
  after: ModelPricing;
  /** % change of each price, to a tenth; null where there was no price before (or it was 0). */
  change_pct: Record<Compared, number | null>;
  changed: boolean;
}

export type Rule =
  | "large_change"
  | "not_in_source"
  | "ambiguous"
  | "dropped"
  | "zero_price"
  | "tenfold_change";

export interface Finding {
  model: string;
  rule: Rule;
  message: string;
  /** The flag that accepts it, for refusals that one may. */
  override?: "--allow-zero" | "--force";
  /** The prices it is about ("input price", "cached input price above 200k tokens"), the one named first. */
  rates?: string[];
}

export interface PriceDiff {
  rows: DiffRow[];
  warnings: Finding[];
  /** Any of these stops the sync: the store is left as it was. */
  refusals: Finding[];
  /** Entries of the synced providers, configured or not. */
  entries: { total: number; added: number; removed: number; changed: number };
}

export interface DiffOptions {
  allowZero: boolean;
  force: boolean;
}

const cents = (m: Micros) => `${microsToCents(m)}¢`;

function pct(before: Micros, after: Micros): number | null {
  if (before === 0) return null;
  return Math.round(((after - before) * 1000) / before) / 10;
}

function pricesOf(p: ModelPricing): Prices | undefined {
  return "prices" in p ? p.prices : undefined;
}

function sameRates(a: Prices | undefined, b: Prices | undefined): boolean {
  if (!a || !b) return a === b;
  const tiers = (p: Prices) => JSON.stringify(p.tiers ?? []);
  return (
    a.input === b.input &&
    a.output === b.output &&
    a.cached_input === b.cached_input &&
    a.cache_write === b.cache_write &&
    a.cache_write_1h === b.cache_write_1h &&
    a.reasoning === b.reasoning &&
    tiers(a) === tiers(b)
  );
}

/** The configured models a sync of `providers` may reprice. */
export function modelsInScope(config: PricingConfig, providers: readonly PriceProvider[]): string[] {
  return Object.entries(config.models ?? {})
    .filter(([, m]) => m !== undefined && tableProviders(m, config).some((p) => providers.includes(p)))
    .map(([name]) => name);
}

/** A row's warnings, and its refusals that no flag accepted (accepted ones become warnings). */
function judge(row: DiffRow, options: DiffOptions, warnings: Finding[], refusals: Finding[]): void {
  const found: Finding[] = [];
  check(row, warnings, found);
  for (const f of found) {
    const accepted =
      (f.override === "--allow-zero" && options.allowZero) || (f.override === "--force" && options.force);
    if (accepted) warnings.push({ ...f, message: `${f.message} (accepted: ${f.override})` });
    else refusals.push(f);
  }
}

function check(row: DiffRow, warnings: Finding[], refusals: Finding[]): void {
  const { model, before, after } = row;
  const old = pricesOf(before);
  const now = pricesOf(after);
  const wasTable = "origin" in before && before.origin.kind === "table";
  const isTable = "origin" in after && after.origin.kind === "table";
  if (after.note !== undefined)
    warnings.push({ model, rule: "ambiguous", message: `${model}: ${after.note}` });
  if (!isTable) {
    const pinned = "origin" in after && after.origin.kind === "config" && after.origin.pinned;
    if (wasTable && !pinned) {
      refusals.push({
        model,
        rule: "dropped",
        message: `${model}: the source no longer has a price for it (it was priced from ${"origin" in before && before.origin.kind === "table" ? before.origin.match.key : "the table"})`,
      });
    } else if (!pinned && after.note === undefined) {
      const falls =
        "error" in after
          ? "requests for it will be refused"
          : after.origin.kind === "unknown_model"
            ? "it stays priced by pricing.unknown_model"
            : "it stays priced by its config prices";
      warnings.push({ model, rule: "not_in_source", message: `${model}: not in the source; ${falls}` });
    }
    return;
  }
  if (!now) return;
  const free = now.input === 0 && now.output === 0;
  if (free) {
    refusals.push({
      model,
      rule: "zero_price",
      message: `${model}: the source prices it at $0`,
      override: "--allow-zero",
    });
  }
  if (!old) return;
  const pairs = ratePairs(old, now);
  const zero = pairs.filter((r) => r.was > 0 && r.is === 0);
  // A model priced at $0 altogether is one finding, not one per rate.
  if (!free && zero.length > 0) {
    const [first] = zero as [RatePair, ...RatePair[]];
    refusals.push({
      model,
      rule: "zero_price",
      message: `${model}: ${first.label} would drop from ${cents(first.was)} to $0 per 1k${also(zero)}`,
      override: "--allow-zero",
      rates: zero.map((r) => r.label),
    });
  }
  const jumps = pairs.filter(
    (r) => r.was > 0 && r.is > 0 && (r.is > r.was * REFUSE_FACTOR || r.was > r.is * REFUSE_FACTOR),
  );
  if (jumps.length > 0) {
    const [first] = jumps as [RatePair, ...RatePair[]];
    refusals.push({
      model,
      rule: "tenfold_change",
      message: `${model}: ${first.label} would change more than ${REFUSE_FACTOR}× at once, ${cents(first.was)} → ${cents(first.is)} per 1k${also(jumps)}`,
      override: "--force",
      rates: jumps.map((r) => r.label),
    });
  }
  const large = pairs.filter((r) => r.was > 0 && Math.abs(pct(r.was, r.is) ?? 0) > WARN_CHANGE_PCT);
  if (large.length > 0) {
    const [first, ...more] = large as [RatePair, ...RatePair[]];
    const signed = (r: RatePair) => {
      const change = pct(r.was, r.is) ?? 0;
      return `${change > 0 ? "+" : ""}${change}%`;
    };
    const rest = more.length > 0 ? `; also ${more.map((r) => `${r.label} ${signed(r)}`).join(", ")}` : "";
    warnings.push({
      model,
      rule: "large_change",
      message: `${model}: ${first.label} changes by ${signed(first)} (${cents(first.was)} → ${cents(first.is)} per 1k${rest})`,
      rates: large.map((r) => r.label),
    });
  }
}

/** One rate a request may be charged at, before and after. */
interface RatePair {
  /** "input price", "cache write price above 200k tokens" */
  label: string;
  was: Micros;
  is: Micros;
}

const RATES = [
  ["input", "input"],
  ["output", "output"],
  ["cached_input", "cached input"],
  ["cache_write", "cache write"],
  ["cache_write_1h", "1-hour cache write"],
] as const;

function flatPairs(old: Prices, now: Prices, suffix: string): RatePair[] {
  const pairs: RatePair[] = RATES.map(([k, name]) => ({
    label: `${name} price${suffix}`,
    was: old[k],
    is: now[k],
  }));
  // Reasoning is output unless priced apart: compared only where one side prices it apart.
  if (old.reasoning !== undefined || now.reasoning !== undefined) {
    pairs.push({
      label: `reasoning price${suffix}`,
      was: old.reasoning ?? old.output,
      is: now.reasoning ?? now.output,
    });
  }
  return pairs;
}

/**
 * Every rate the model was charged at before, with what it would be charged
 * after: the base rates, and for each long-context tier it had, the rates a
 * request above that threshold pays (the new tier's, or the base rates when
 * the tier is gone). A collapse of a cache or tier price is as dangerous as
 * one of the input price: the safety rules judge them all.
 */
function ratePairs(old: Prices, now: Prices): RatePair[] {
  const pairs = flatPairs(old, now, "");
  for (const tier of old.tiers ?? []) {
    const above = tier.above_input_tokens + 1;
    const suffix = ` above ${tier.above_input_tokens / 1000}k tokens`;
    pairs.push(...flatPairs(pricesAt(old, above), pricesAt(now, above), suffix));
  }
  return pairs;
}

/** " (also output price, cache write price)" for the findings after the first. */
function also(found: readonly RatePair[]): string {
  return found.length > 1
    ? ` (also ${found
        .slice(1)
        .map((r) => r.label)
        .join(", ")})`
    : "";
}

function entryChanges(
  before: PriceTable,
  after: PriceTable,
  providers: readonly PriceProvider[],
): PriceDiff["entries"] {
  const counts = { total: 0, added: 0, removed: 0, changed: 0 };
  for (const [key, entry] of Object.entries(after.entries)) {
    if (!providers.includes(entry.provider)) continue;
    counts.total++;
    const old = before.entries[key];
    if (!old) counts.added++;
    else if (!samePrice(old, entry)) counts.changed++;
  }
  for (const [key, entry] of Object.entries(before.entries)) {
    if (providers.includes(entry.provider) && !after.entries[key]) counts.removed++;
  }
  return counts;
}

/**
 * What replacing `before` by `after` does to every configured model the sync
 * covers: old → new prices, % changes, warnings (over 50%, models the source
 * does not know) and refusals (a dropped price, $0 for a paid model, a 10×
 * jump), which `options` may accept. Pure.
 */
export function diffTables(
  config: PricingConfig,
  before: PriceTable,
  after: PriceTable,
  providers: readonly PriceProvider[],
  options: DiffOptions,
): PriceDiff {
  const rows: DiffRow[] = [];
  const warnings: Finding[] = [];
  const refusals: Finding[] = [];
  for (const model of modelsInScope(config, providers)) {
    const b = resolveModel(model, config, before);
    const a = resolveModel(model, config, after);
    const old = pricesOf(b);
    const now = pricesOf(a);
    const change_pct = Object.fromEntries(
      COMPARED.map((k) => [k, old && now ? pct(old[k], now[k]) : null]),
    ) as DiffRow["change_pct"];
    const row: DiffRow = { model, before: b, after: a, change_pct, changed: !sameRates(old, now) };
    rows.push(row);
    judge(row, options, warnings, refusals);
  }
  return { rows, warnings, refusals, entries: entryChanges(before, after, providers) };
}
