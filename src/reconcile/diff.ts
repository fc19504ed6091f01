import type { Micros } from "../money/money.js";
import type { Amount, LedgerDay, Unit, UnitAmounts } from "./ledger-figures.js";
import { spread } from "./spread.js";

/** What the provider billed for one model on one UTC day; model "" when the source names none. */
export interface BilledCost {
  day: string;
  /** Canonical (see canonicalModel). */
  model: string;
  /** The model as the provider wrote it, when it differs ("gpt-3.5-turbo-0125"): for messages. */
  billed_as?: string;
  cost: Micros;
}

export interface BilledTokens {
  day: string;
  model: string;
  tokens: number;
}

/** The provider's figures, as every source delivers them. */
export interface Billing {
  /** Where they came from: "openai:costs", "anthropic:cost_report", "csv:invoice.csv". */
  source: string;
  /**
   * The days the figures cover: a day without rows among them was billed
   * nothing. A day the provider returned no figures for is not among them:
   * it is left as it is, never taken for a day billed nothing.
   */
  days: string[];
  costs: BilledCost[];
  /** Token counts (usage reports); absent when the source has none, and then tokens are left alone. */
  tokens?: BilledTokens[];
  /** The days the token counts cover (default: `days`); on other days tokens are left alone. */
  tokenDays?: string[];
}

/** One correction, for one identity on one model: one `adjust` journal entry. */
export interface Part extends Unit {
  cost: Micros;
  tokens: number;
}

/** The comparison for one UTC day × billed model (or the whole day), and the parts that correct it. */
export interface Line {
  day: string;
  /** Billed model, canonical; "" for the spend the source did not split by model. */
  model: string;
  provisional: boolean;
  provider_cost: Micros;
  /** Settled spend in the ledger. */
  metered_cost: Micros;
  /** Earlier reconcile-spend corrections of this line. */
  corrected_cost: Micros;
  /** metered + corrected: what the ledger said before this run. */
  ledger_cost: Micros;
  /** provider − ledger. */
  delta: Micros;
  /** What this run writes: the delta, except that a provisional day is never corrected downwards. */
  written: Micros;
  provider_tokens: number | null;
  ledger_tokens: number;
  tokens_written: number;
  parts: Part[];
}

export interface DayResult {
  day: string;
  provisional: boolean;
  /** Settled spend, before any correction: provider − metered is how far the metering was off. */
  metered_cost: Micros;
  ledger_cost: Micros;
  provider_cost: Micros;
  delta: Micros;
  /** delta as a % of the ledger's figure; null when the ledger had nothing and the provider something. */
  delta_pct: number | null;
  /** Beyond the threshold (never for a provisional day, whose figures are not final). */
  drift: boolean;
}

export interface DiffInput {
  billing: Billing;
  /** The period's days; days the billing does not cover are not compared. */
  days: readonly string[];
  /** Days whose figures are not final (today, a day that ended too recently): only ever raised, never drift. */
  provisional?: readonly string[] | undefined;
  ledger: ReadonlyMap<string, LedgerDay>;
  /** A ledger model's canonical billed name. */
  billedName: (ledgerModel: string) => string;
  thresholdPct: number;
}

export interface Diff {
  days: DayResult[];
  lines: Line[];
  /** Days compared as a whole because a ledger model and a billed model did not match by name. */
  mismatches: Mismatch[];
}

/** Differences under one cent are never drift, whatever the percentage. */
export const DRIFT_FLOOR: Micros = 1_000_000;

const NONE: ReadonlyMap<string, never> = new Map<string, never>();

interface LineDraft {
  model: string;
  provider: Micros;
  tokens: number | null;
  metered: UnitAmounts;
  corrected: UnitAmounts;
}

function sum(table: UnitAmounts, field: keyof Amount): number {
  let s = 0;
  for (const { amount } of table.values()) s += amount[field];
  return s;
}

function grouped<T extends { day: string; model: string }>(rows: readonly T[], value: (r: T) => number) {
  const out = new Map<string, Map<string, number>>();
  for (const r of rows) {
    let day = out.get(r.day);
    if (!day) {
      day = new Map();
      out.set(r.day, day);
    }
    day.set(r.model, (day.get(r.model) ?? 0) + value(r));
  }
  return out;
}

/**
 * A day on which a model the ledger spent on matches nothing billed while
 * something billed matches nothing in the ledger: most likely one model
 * under two names (an alias, a snapshot). Zeroing the one and charging the
 * other to the workspace would move everyone's spend away from them, so
 * both are compared together, as the day's whole-day line.
 */
export interface Mismatch {
  day: string;
  /** The ledger's model names (the config's) that matched nothing billed. */
  ledger: string[];
  /** The canonical billed names nothing in the ledger matched. */
  billed: string[];
  /** The same as the provider wrote them. */
  billed_as: string[];
  /** Each ledger model's canonical billed name, as compared. */
  compared: Record<string, string>;
}

interface DayDraft {
  lines: LineDraft[];
  mismatch?: Mismatch;
}

/** Ledger models with spend that match no billed model, and billed models no spend matches. */
function unmatched(
  billed: ReadonlyMap<string, number>,
  day: LedgerDay | undefined,
  billedName: (m: string) => string,
): { ledger: Map<string, string>; billed: string[] } {
  const claimed = new Set<string>();
  const ledger = new Map<string, string>();
  for (const { unit, amount } of day?.metered.values() ?? []) {
    const name = billedName(unit.model);
    claimed.add(name);
    if (!billed.has(name) && amount.cost !== 0) ledger.set(unit.model, name);
  }
  return { ledger, billed: [...billed.keys()].filter((m) => m !== "" && !claimed.has(m)).sort() };
}

/** The lines of one day: the billed models, the ledger's spend on each, and what earlier runs corrected. */
function draftDay(
  dayName: string,
  rawNames: ReadonlyMap<string, ReadonlySet<string>> | undefined,
  billed: ReadonlyMap<string, number>,
  tokens: ReadonlyMap<string, number> | undefined,
  day: LedgerDay | undefined,
  billedName: (m: string) => string,
): DayDraft {
  const odd = unmatched(billed, day, billedName);
  const pooled = odd.ledger.size > 0 && odd.billed.length > 0 ? new Set(odd.billed) : undefined;
  // The line a billed model's cost and tokens go to: its own, or the whole day's when pooled.
  const lineOf = (model: string) => (pooled?.has(model) ? "" : model);
  const lines = new Map<string, LineDraft>();
  const line = (model: string): LineDraft => {
    let l = lines.get(model);
    if (!l) {
      l = { model, provider: 0, tokens: null, metered: new Map(), corrected: new Map() };
      lines.set(model, l);
    }
    return l;
  };
  for (const [model, cost] of billed) line(lineOf(model)).provider += cost;
  // Spend on a model the source did not bill by name belongs to its whole-day line, if it has one.
  const wholeDay = billed.has("") || pooled !== undefined;
  for (const [key, held] of day?.metered ?? NONE) {
    const name = billedName(held.unit.model);
    line(billed.has(name) || !wholeDay ? name : "").metered.set(key, held);
  }
  // An earlier run's line that is no line now (the source changed its granularity) is undone.
  for (const [model, table] of day?.corrected ?? NONE) line(model).corrected = table;
  // A line the usage report has nothing for keeps its tokens as they are (OpenAI's completions
  // usage leaves out embeddings, which its cost report bills).
  for (const [model, n] of tokens ?? NONE) {
    const l = lines.get(lineOf(model)) ?? lines.get("");
    if (l) l.tokens = (l.tokens ?? 0) + n;
  }
  const sorted = [...lines.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
  if (!pooled) return { lines: sorted };
  const ledger = [...odd.ledger.keys()].sort();
  return {
    lines: sorted,
    mismatch: {
      day: dayName,
      ledger,
      billed: odd.billed,
      billed_as: odd.billed.flatMap((m) => [...(rawNames?.get(m) ?? [m])].sort()),
      compared: Object.fromEntries(odd.ledger),
    },
  };
}

/**
 * Who carries a line's correction: the total correction (not this run's
 * delta) is spread over the identities that spent, in proportion to their
 * spend, so the outcome depends only on the latest figures; each part is
 * then the change from what that identity was corrected by before. So the
 * parts sum exactly to the line's delta, and a rerun writes nothing.
 */
function partsOf(l: LineDraft, target: number, tokenTarget: number | null, provisional: boolean): Part[] {
  const units = new Map<string, Unit>();
  for (const [key, { unit }] of l.metered) units.set(key, unit);
  for (const [key, { unit }] of l.corrected) units.set(key, unit);
  const spenders = [...l.metered.keys()].sort();
  const weights = (field: keyof Amount) => spenders.map((k) => l.metered.get(k)?.amount[field] ?? 0);
  const costWeights = weights("cost");
  const tokenWeights = weights("tokens");
  // Nobody spent (a model billed that never went through tokenpak): the workspace carries it.
  const fallback = JSON.stringify([undefined, undefined, undefined, undefined, l.model]);
  const targets = new Map<string, Amount>();
  const share = (total: number, field: keyof Amount, w: number[]) => {
    if (total === 0) return;
    const anyone = w.some((x) => x > 0);
    const keys = anyone ? spenders : [fallback];
    const amounts = anyone ? spread(total, w) : [total];
    for (const [i, key] of keys.entries()) {
      const t = targets.get(key) ?? { cost: 0, tokens: 0 };
      t[field] += amounts[i] ?? 0;
      targets.set(key, t);
    }
  };
  share(target, "cost", costWeights);
  if (tokenTarget !== null)
    share(tokenTarget, "tokens", tokenWeights.some((x) => x > 0) ? tokenWeights : costWeights);
  if (targets.has(fallback) && !units.has(fallback)) units.set(fallback, { identity: {}, model: l.model });

  const keys = [...units.keys()].sort();
  const change = (field: keyof Amount) =>
    keys.map((key) => (targets.get(key)?.[field] ?? 0) - (l.corrected.get(key)?.amount[field] ?? 0));
  let costs = change("cost");
  // Without token figures this run leaves the token corrections as they are.
  let tokens = tokenTarget === null ? keys.map(() => 0) : change("tokens");
  if (provisional) {
    costs = neverLowered(costs);
    tokens = neverLowered(tokens);
  }
  const parts: Part[] = [];
  for (const [i, key] of keys.entries()) {
    const unit = units.get(key);
    const cost = costs[i] ?? 0;
    const tokenChange = tokens[i] ?? 0;
    if (unit && (cost !== 0 || tokenChange !== 0)) parts.push({ ...unit, cost, tokens: tokenChange });
  }
  return parts;
}

/**
 * A provisional day's changes with no identity's correction lowered: its
 * total (never negative, see diffSpend) goes to those whose share rose, in
 * proportion to the rise. The spend of the day's first hours may be billed
 * before its later hours, so shares move while the total only grows; a
 * lowered share would loosen that identity's caps on a figure not final yet.
 */
function neverLowered(changes: number[]): number[] {
  if (changes.every((c) => c >= 0)) return changes;
  const total = changes.reduce((s, c) => s + c, 0);
  if (total <= 0) return changes.map(() => 0);
  return spread(
    total,
    changes.map((c) => Math.max(c, 0)),
  );
}

function dayResult(
  day: string,
  provisional: boolean,
  lines: readonly Line[],
  thresholdPct: number,
): DayResult {
  const ledger = lines.reduce((s, l) => s + l.ledger_cost, 0);
  const metered = lines.reduce((s, l) => s + l.metered_cost, 0);
  const provider = lines.reduce((s, l) => s + l.provider_cost, 0);
  const delta = provider - ledger;
  const pct = ledger !== 0 ? (delta / Math.abs(ledger)) * 100 : delta === 0 ? 0 : null;
  const beyond = Math.abs(delta) >= DRIFT_FLOOR && (pct === null || Math.abs(pct) > thresholdPct);
  return {
    day,
    provisional,
    metered_cost: metered,
    ledger_cost: ledger,
    provider_cost: provider,
    delta,
    delta_pct: pct,
    drift: beyond && !provisional,
  };
}

/**
 * Compares the provider's bill with the ledger per UTC day and model and
 * computes the corrections. Pure: the same figures give the same lines.
 */
export function diffSpend(input: DiffInput): Diff {
  const covered = new Set(input.billing.days);
  const tokenDays = new Set(input.billing.tokenDays ?? input.billing.days);
  const provisionalDays = new Set(input.provisional ?? []);
  const costs = grouped(input.billing.costs, (r) => r.cost);
  const rawNames = new Map<string, Map<string, Set<string>>>();
  for (const c of input.billing.costs) {
    const day = rawNames.get(c.day) ?? new Map<string, Set<string>>();
    rawNames.set(c.day, day);
    const names = day.get(c.model) ?? new Set<string>();
    day.set(c.model, names);
    names.add(c.billed_as ?? c.model);
  }
  const tokens = input.billing.tokens ? grouped(input.billing.tokens, (r) => r.tokens) : undefined;
  const days: DayResult[] = [];
  const lines: Line[] = [];
  const mismatches: Mismatch[] = [];
  for (const day of input.days) {
    if (!covered.has(day)) continue;
    const provisional = provisionalDays.has(day);
    const dayLines: Line[] = [];
    const draft = draftDay(
      day,
      rawNames.get(day),
      costs.get(day) ?? new Map(),
      tokens && tokenDays.has(day) ? (tokens.get(day) ?? new Map()) : undefined,
      input.ledger.get(day),
      input.billedName,
    );
    if (draft.mismatch) mismatches.push(draft.mismatch);
    for (const d of draft.lines) {
      const metered = sum(d.metered, "cost");
      const corrected = sum(d.corrected, "cost");
      const meteredTokens = sum(d.metered, "tokens");
      const correctedTokens = sum(d.corrected, "tokens");
      // A provisional day only ever goes up: the provider's figures for it may still be missing
      // requests, so a line keeps at least the correction it already has.
      const floor = (n: number, before: number) => (provisional ? Math.max(n, before) : n);
      const target = floor(d.provider - metered, corrected);
      const tokenTarget = d.tokens === null ? null : floor(d.tokens - meteredTokens, correctedTokens);
      const parts = partsOf(d, target, tokenTarget, provisional);
      dayLines.push({
        day,
        model: d.model,
        provisional,
        provider_cost: d.provider,
        metered_cost: metered,
        corrected_cost: corrected,
        ledger_cost: metered + corrected,
        delta: d.provider - metered - corrected,
        written: parts.reduce((s, p) => s + p.cost, 0),
        provider_tokens: d.tokens,
        ledger_tokens: meteredTokens + correctedTokens,
        tokens_written: parts.reduce((s, p) => s + p.tokens, 0),
        parts,
      });
    }
    lines.push(...dayLines);
    days.push(dayResult(day, provisional, dayLines, input.thresholdPct));
  }
  return { days, lines, mismatches };
}
