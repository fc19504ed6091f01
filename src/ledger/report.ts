import { join } from "node:path";
import { localDateParts } from "../budget/windows.js";
import { type JournalEntry, readJournal } from "./journal.js";

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

export interface ReportRow {
  /** The group's value for each dimension asked for; null where the entry has none. */
  group: Partial<Record<Dimension, string | null>>;
  /** µ¢ */
  cost: number;
  requests: number;
  tokens: number;
  input_tokens: number;
  output_tokens: number;
}

export interface Report {
  from: string;
  to: string;
  group_by: Dimension[];
  rows: ReportRow[];
  /** Corrections (reconcile-spend, manual), grouped the same way but kept apart from metered spend. */
  adjustments: ReportRow[];
  /** µ¢: rows plus adjustments. */
  total: number;
}

export interface ReportQuery {
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
  groupBy: readonly Dimension[];
  /** Zone for the day and month dimensions. */
  timeZone: string;
}

type Spend = Extract<JournalEntry, { type: "settle" | "adjust" }>;

function dimensionValue(entry: Spend, dim: Dimension, ts: number, timeZone: string): string | null {
  if (dim === "day" || dim === "month") {
    const p = localDateParts(ts, timeZone);
    const month = `${p.year}-${String(p.month).padStart(2, "0")}`;
    return dim === "month" ? month : `${month}-${String(p.day).padStart(2, "0")}`;
  }
  return entry[dim] ?? null;
}

/** Aggregates spend entries: pure, so the same code serves the journal and tests. */
export class ReportBuilder {
  private readonly rows = new Map<string, ReportRow>();
  private readonly adjustments = new Map<string, ReportRow>();

  constructor(private readonly query: ReportQuery) {}

  add(entry: JournalEntry): void {
    if (entry.type !== "settle" && entry.type !== "adjust") return;
    // A correction counts on the day it corrects.
    const ts = Date.parse(entry.type === "adjust" ? (entry.at ?? entry.ts) : entry.ts);
    if (ts < this.query.from || ts >= this.query.to) return;
    const group: ReportRow["group"] = {};
    for (const dim of this.query.groupBy) group[dim] = dimensionValue(entry, dim, ts, this.query.timeZone);
    const id = JSON.stringify(group);
    const table = entry.type === "settle" ? this.rows : this.adjustments;
    let row = table.get(id);
    if (!row) {
      row = { group, cost: 0, requests: 0, tokens: 0, input_tokens: 0, output_tokens: 0 };
      table.set(id, row);
    }
    row.cost += entry.cost;
    row.tokens += entry.tokens;
    if (entry.type === "settle") {
      row.requests += 1;
      row.input_tokens += entry.usage.input + entry.usage.cached_input + entry.usage.cache_write;
      row.output_tokens += entry.usage.output;
    }
  }

  build(): Report {
    const sort = (rows: Iterable<ReportRow>) => [...rows].sort((a, b) => b.cost - a.cost);
    const rows = sort(this.rows.values());
    const adjustments = sort(this.adjustments.values());
    const sum = (list: ReportRow[]) => list.reduce((s, r) => s + r.cost, 0);
    return {
      from: new Date(this.query.from).toISOString(),
      to: new Date(this.query.to).toISOString(),
      group_by: [...this.query.groupBy],
      rows,
      adjustments,
      total: sum(rows) + sum(adjustments),
    };
  }
}

/**
 * Spend grouped by any dimensions over a period, read from the journal. Safe
 * while the daemon writes: a line being written is skipped, never repaired.
 */
export function spendReport(dataDir: string, query: ReportQuery): Report {
  const builder = new ReportBuilder(query);
  // Journal files are named by UTC month; start one month early for zones ahead of UTC.
  const start = new Date(query.from);
  start.setUTCMonth(start.getUTCMonth() - 1);
  readJournal(join(dataDir, "journal"), (e) => builder.add(e), {
    fromMonth: start.toISOString().slice(0, 7),
  });
  return builder.build();
}
