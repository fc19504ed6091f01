import { type Micros, microsToCents } from "../money/money.js";
import type { Prices } from "./cost.js";
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
  if (now.input === 0 && now.output === 0) {
    refusals.push({
      model,
      rule: "zero_price",
      message: `${model}: the source prices it at $0`,
      override: "--allow-zero",
    });
  }
  for (const kind of ["input", "output"] as const) {
    const was = old?.[kind];
    if (was === undefined || was === 0) continue;
    const is = now[kind];
    if (is === 0 && !(now.input === 0 && now.output === 0)) {
      refusals.push({
        model,
        rule: "zero_price",
        message: `${model}: ${kind} price would drop from ${cents(was)} to $0 per 1k`,
        override: "--allow-zero",
      });
    } else if (is > 0 && (is > was * REFUSE_FACTOR || was > is * REFUSE_FACTOR)) {
      refusals.push({
        model,
        rule: "tenfold_change",
        message: `${model}: ${kind} price would change more than ${REFUSE_FACTOR}× at once, ${cents(was)} → ${cents(is)} per 1k`,
        override: "--force",
      });
    }
  }
  for (const kind of COMPARED) {
    const change = row.change_pct[kind];
    if (change !== null && Math.abs(change) > WARN_CHANGE_PCT) {
      warnings.push({
        model,
        rule: "large_change",
        message: `${model}: ${kind.replace("_", " ")} price changes by ${change > 0 ? "+" : ""}${change}% (${cents(old?.[kind] ?? 0)} → ${cents(now[kind])} per 1k)`,
      });
    }
  }
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
