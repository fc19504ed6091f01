import { join } from "node:path";
import type { Usage } from "../pricing/usage.js";
import { type JournalEntry, type MonthPart, readJournalAsync } from "./journal.js";
import {
  type AdjustEntry,
  localDay,
  type RollupDay,
  readRollupAsync,
  rollupMonths,
  rollupPath,
  type SettleEntry,
  settleMoment,
} from "./rollup.js";

export const DIMENSIONS = [
  "project",
  "user",
  "key",
  "team",
  "model",
  "provider",
  "run",
  "day",
  "month",
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** What a group adds up to. Money in µ¢: `spend` metered, `adjustments` the corrections, `total` both. */
export interface Figures {
  requests: number;
  /** Uncached input, cache writes included. */
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
  /** Every metered token (input, cached, cache writes, output). */
  tokens: number;
  spend: number;
  /** Signed: reconcile-spend's corrections, and manual ones, to spend in this group. */
  adjustments: number;
  /** Signed tokens of those corrections. */
  adjustment_tokens: number;
  total: number;
}

/** One group of the innermost level: its value for every dimension asked for (null where the entry has none). */
export interface ReportRow extends Figures {
  group: Partial<Record<Dimension, string | null>>;
}

/** A level of the nested groups: the value of its dimension, its figures, and the next level's groups. */
export interface ReportNode extends Figures {
  dimension: Dimension;
  value: string | null;
  groups?: ReportNode[];
}

export interface Report {
  /** Epoch ms span as ISO: [from, to). */
  from: string;
  to: string;
  timezone: string;
  group_by: Dimension[];
  provider: string | null;
  /** The innermost groups, in the order of the nested ones: what a CSV holds. */
  rows: ReportRow[];
  /** The groups nested by dimension, in the order of group_by (empty without one). */
  groups: ReportNode[];
  totals: Figures;
  /** Journal months read from rollups (`ledger compact`): their detail is by day. */
  rollups: string[];
  warnings: string[];
}

export interface ReportQuery {
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
  groupBy: readonly Dimension[];
  /** Zone for the day and month dimensions. */
  timeZone: string;
  /** Only this provider's spend. */
  provider?: string | undefined;
}

function zero(): Figures {
  return {
    requests: 0,
    input_tokens: 0,
    cached_tokens: 0,
    output_tokens: 0,
    tokens: 0,
    spend: 0,
    adjustments: 0,
    adjustment_tokens: 0,
    total: 0,
  };
}

function addFigures(into: Figures, f: Figures): void {
  into.requests += f.requests;
  into.input_tokens += f.input_tokens;
  into.cached_tokens += f.cached_tokens;
  into.output_tokens += f.output_tokens;
  into.tokens += f.tokens;
  into.spend += f.spend;
  into.adjustments += f.adjustments;
  into.adjustment_tokens += f.adjustment_tokens;
  into.total += f.total;
}

/** What the report needs of a settle, an adjustment or a rollup's day line. */
type Spend = SettleEntry | AdjustEntry | RollupDay;

function dimensionValue(entry: Spend, dim: Dimension, at: number, timeZone: string): string | null {
  if (dim === "day") return localDay(at, timeZone);
  if (dim === "month") return localDay(at, timeZone).slice(0, 7);
  return entry[dim] ?? null;
}

const BY_TIME = new Set<Dimension>(["day", "month"]);

function compareNodes(a: ReportNode, b: ReportNode): number {
  if (a.value === null || b.value === null) return a.value === b.value ? 0 : a.value === null ? 1 : -1;
  if (BY_TIME.has(a.dimension)) return a.value.localeCompare(b.value);
  return b.total - a.total || a.value.localeCompare(b.value);
}

/**
 * Aggregates spend into groups: pure, so the same code serves the journal,
 * rollups and tests. Money stays integer µ¢ throughout.
 */
export class ReportBuilder {
  private readonly leaves = new Map<string, ReportRow>();
  private readonly totals = zero();
  private readonly rollups: string[] = [];
  private readonly warnings: string[] = [];

  constructor(private readonly query: ReportQuery) {}

  /** A journal entry: settles and adjustments count, the rest is bookkeeping. */
  add(entry: JournalEntry): void {
    if (entry.type === "settle") this.count(entry, settleMoment(entry));
    else if (entry.type === "adjust") this.adjust(entry);
  }

  /** A correction counts on the day it corrects. */
  adjust(entry: AdjustEntry): void {
    this.count(entry, Date.parse(entry.at ?? entry.ts));
  }

  /** A rollup's day line, at the earliest moment it counts. */
  day(row: RollupDay): void {
    this.count(row, Date.parse(row.at));
  }

  /** Notes that a month was read from a rollup (and in which zone its days are). */
  rollup(month: string, timeZone: string): void {
    this.rollups.push(month);
    if (timeZone !== this.query.timeZone) {
      this.warnings.push(
        `${month} is a rollup by day in ${timeZone}: its spend is placed at each day's first request, read in ${this.query.timeZone}`,
      );
    }
  }

  private count(entry: Spend, at: number): void {
    const { query } = this;
    if (at < query.from || at >= query.to) return;
    if (query.provider !== undefined && entry.provider !== query.provider) return;
    const group: ReportRow["group"] = {};
    for (const dim of query.groupBy) group[dim] = dimensionValue(entry, dim, at, query.timeZone);
    const id = JSON.stringify(group);
    let row = this.leaves.get(id);
    if (!row) {
      row = { group, ...zero() };
      this.leaves.set(id, row);
    }
    const f = figuresOf(entry);
    addFigures(row, f);
    addFigures(this.totals, f);
  }

  build(): Report {
    const { query } = this;
    const groups = nest([...this.leaves.values()], query.groupBy, 0);
    const rows: ReportRow[] = [];
    const walk = (nodes: readonly ReportNode[], path: ReportRow["group"]) => {
      for (const n of nodes) {
        const group = { ...path, [n.dimension]: n.value };
        if (n.groups) walk(n.groups, group);
        else rows.push(this.leaves.get(JSON.stringify(group)) as ReportRow);
      }
    };
    walk(groups, {});
    if (query.groupBy.length === 0 && this.leaves.size > 0) rows.push(this.leaves.get("{}") as ReportRow);
    return {
      from: new Date(query.from).toISOString(),
      to: new Date(query.to).toISOString(),
      timezone: query.timeZone,
      group_by: [...query.groupBy],
      provider: query.provider ?? null,
      rows,
      groups,
      totals: { ...this.totals },
      rollups: [...new Set(this.rollups)].sort(),
      warnings: this.warnings,
    };
  }
}

function figuresOf(e: Spend): Figures {
  const f = zero();
  if (e.type === "adjust") {
    f.adjustments = e.cost;
    f.adjustment_tokens = e.tokens;
    f.total = e.cost;
    return f;
  }
  const u: Usage = e.usage;
  f.requests = e.type === "day" ? e.requests : 1;
  f.input_tokens = u.input + u.cache_write + u.cache_write_1h;
  f.cached_tokens = u.cached_input;
  f.output_tokens = u.output;
  f.tokens = e.tokens;
  f.spend = e.cost;
  f.total = e.cost;
  return f;
}

/** The leaves grouped level by level; each node's figures are the sum of its leaves. */
function nest(leaves: readonly ReportRow[], dims: readonly Dimension[], level: number): ReportNode[] {
  const dim = dims[level];
  if (dim === undefined) return [];
  const byValue = new Map<string | null, ReportRow[]>();
  for (const leaf of leaves) {
    const value = leaf.group[dim] ?? null;
    const list = byValue.get(value);
    if (list) list.push(leaf);
    else byValue.set(value, [leaf]);
  }
  const nodes: ReportNode[] = [];
  for (const [value, list] of byValue) {
    const node: ReportNode = { dimension: dim, value, ...zero() };
    for (const leaf of list) addFigures(node, leaf);
    if (level + 1 < dims.length) node.groups = nest(list, dims, level + 1);
    nodes.push(node);
  }
  return nodes.sort(compareNodes);
}

const DAY_MS = 86_400_000;

function utcMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/**
 * The journal files and rollups a period needs, read one line at a time: a
 * year of history never has to fit in memory, only the groups. Settles are
 * in the file of the month they were written, at most a day after their
 * moment; corrections to the period (reconcile-spend) can be written any
 * time later, so later months are read for adjustments only, without
 * parsing anything else.
 */
async function readInto(dataDir: string, builder: ReportBuilder, query: ReportQuery): Promise<void> {
  const dir = join(dataDir, "journal");
  const first = utcMonth(query.from);
  const lastSettle = utcMonth(query.to + DAY_MS);
  for (const month of rollupMonths(dir)) {
    if (month < first) continue;
    const header = await readRollupAsync(rollupPath(dir, month), {
      day: (row) => builder.day(row),
      entry: (entry) => builder.add(entry),
    });
    builder.rollup(month, header.timezone);
  }
  const part = (month: string): MonthPart =>
    month < first ? "none" : month <= lastSettle ? "all" : "adjust";
  await readJournalAsync(dir, (e) => builder.add(e), part);
}

/**
 * Spend grouped by any dimensions over a period, read from the journal and
 * the rollups of compacted months. Safe while the daemon writes (a line being
 * written is skipped, never repaired) and while it compacts: a month that
 * turns into a rollup under the report's feet starts the report again.
 */
export async function spendReport(dataDir: string, query: ReportQuery): Promise<Report> {
  for (let attempt = 1; ; attempt++) {
    const builder = new ReportBuilder(query);
    try {
      await readInto(dataDir, builder, query);
      return builder.build();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 3) throw error;
    }
  }
}
