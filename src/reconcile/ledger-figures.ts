import { join } from "node:path";
import { TokenpakError } from "../errors.js";
import { type EntryIdentity, type JournalEntry, readJournal } from "../ledger/journal.js";
import { rollupMonths } from "../ledger/rollup.js";
import { utcDay } from "./period.js";

/** Who spent on which model: what a correction is spread over. The run is left out: runs end. */
export interface Unit {
  identity: Pick<EntryIdentity, "key" | "user" | "project" | "team">;
  /** The model as the ledger names it (the config's name). */
  model: string;
}

export interface Amount {
  cost: number;
  tokens: number;
}

export type UnitAmounts = Map<string, { unit: Unit; amount: Amount }>;

/** One UTC day of one provider in the ledger. */
export interface LedgerDay {
  /** Settled spend by unit (request time: the reservation's moment). */
  metered: UnitAmounts;
  /** reconcile-spend's earlier corrections, by the line they corrected (its billed model) and unit. */
  corrected: Map<string, UnitAmounts>;
}

function unitOf(e: EntryIdentity, model: string): { key: string; unit: Unit } {
  const identity: Unit["identity"] = {};
  if (e.key !== undefined) identity.key = e.key;
  if (e.user !== undefined) identity.user = e.user;
  if (e.project !== undefined) identity.project = e.project;
  if (e.team !== undefined) identity.team = e.team;
  return { key: JSON.stringify([e.key, e.user, e.project, e.team, model]), unit: { identity, model } };
}

function addTo(table: UnitAmounts, e: EntryIdentity, model: string, cost: number, tokens: number): void {
  const { key, unit } = unitOf(e, model);
  const held = table.get(key);
  if (held) {
    held.amount.cost += cost;
    held.amount.tokens += tokens;
  } else table.set(key, { unit, amount: { cost, tokens } });
}

/** Gathers one provider's spend and corrections per UTC day from journal entries: pure, fed by readLedgerFigures. */
export class LedgerFigures {
  readonly days = new Map<string, LedgerDay>();

  constructor(
    private readonly provider: string,
    private readonly inPeriod: (day: string) => boolean,
  ) {}

  private day(day: string): LedgerDay {
    let d = this.days.get(day);
    if (!d) {
      d = { metered: new Map(), corrected: new Map() };
      this.days.set(day, d);
    }
    return d;
  }

  add(entry: JournalEntry): void {
    if (entry.type === "settle") {
      if (entry.provider !== this.provider) return;
      const day = utcDay(Date.parse(entry.reserved_at ?? entry.ts));
      if (this.inPeriod(day)) addTo(this.day(day).metered, entry, entry.model, entry.cost, entry.tokens);
      return;
    }
    if (entry.type === "adjust" && entry.reconcile && entry.provider === this.provider) {
      const { day, model } = entry.reconcile;
      if (!this.inPeriod(day)) return;
      const corrected = this.day(day).corrected;
      let line = corrected.get(model);
      if (!line) {
        line = new Map();
        corrected.set(model, line);
      }
      addTo(line, entry, entry.model ?? "", entry.cost, entry.tokens);
    }
  }
}

/**
 * A compacted month keeps its spend by local day, not per request: the
 * metered figures a reconciliation compares are gone, and comparing against
 * nothing would "correct" the whole bill back in.
 */
function refuseCompacted(dataDir: string, days: readonly string[]): void {
  const months = new Set(days.map((d) => d.slice(0, 7)));
  const compacted = rollupMonths(join(dataDir, "journal")).filter((m) => months.has(m));
  if (compacted.length === 0) return;
  throw new TokenpakError(
    "invalid_argument",
    `journal months ${compacted.join(", ")} are compacted (\`tokenpak ledger compact\`): their per-request spend is gone, so they cannot be reconciled; choose later days`,
    { months: compacted },
  );
}

/**
 * A provider's spend and earlier corrections for the period, from the
 * journal. Safe while the daemon writes (a line being written is skipped).
 * Corrections are written after the day they correct, so every later month
 * is read too.
 */
export function readLedgerFigures(
  dataDir: string,
  provider: string,
  period: { days: readonly string[] },
): LedgerFigures {
  const days = new Set(period.days);
  const figures = new LedgerFigures(provider, (day) => days.has(day));
  const first = period.days[0];
  refuseCompacted(dataDir, period.days);
  readJournal(join(dataDir, "journal"), (e) => figures.add(e), first ? { fromMonth: first.slice(0, 7) } : {});
  return figures;
}
