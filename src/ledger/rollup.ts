import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { localDateParts } from "../budget/windows.js";
import { TokenpakError } from "../errors.js";
import { formatUsd } from "../money/money.js";
import { NO_USAGE, type Usage } from "../pricing/usage.js";
import {
  type EntryIdentity,
  type JournalEntry,
  type LinePlace,
  parseEntry,
  scanLines,
  scanLinesAsync,
} from "./journal.js";

/**
 * A month of the journal folded into totals (`tokenpak ledger compact`):
 * `journal/YYYY-MM.rollup.jsonl`. Its first line is a header with the month's
 * totals and a digest of the lines after it; then one `day` line per local
 * day (in the header's time zone) × who (key, user, project, team, run) ×
 * provider × model, with the spend, tokens and requests of that group; then
 * the month's other entries — adjustments, budget overrides — verbatim. Who and model stay together so every
 * report a journal month answers — nested groups included — a rollup still
 * answers, by day; what is gone is the per-request detail (status, notes,
 * request ids) and the reservations.
 */
export interface RollupHeader {
  type: "rollup";
  version: 1;
  /** The UTC month of the journal file it replaces. */
  month: string;
  /** Zone of the `day` lines: budget.timezone when it was compacted. */
  timezone: string;
  compacted_at: string;
  first_seq: number;
  last_seq: number;
  /** Journal entries folded in, by type. */
  entries: Record<string, number>;
  totals: RollupTotals;
  /** SHA-256 (hex) of every line after this one, each with its newline. */
  sha256: string;
}

/** What a month adds up to; µ¢ for money. */
export interface RollupTotals {
  requests: number;
  cost: number;
  tokens: number;
  adjustments: number;
  adjust_cost: number;
  adjust_tokens: number;
}

/** One local day × who × provider × model: the settled requests of that group. */
export type RollupDay = {
  type: "day";
  /** Local day (header's zone). */
  day: string;
  /** The earliest moment counted: the time budgets and reports place this group at. */
  at: string;
  provider: string;
  model: string;
  requests: number;
  cost: number;
  tokens: number;
  usage: Usage;
} & EntryIdentity;

export type AdjustEntry = Extract<JournalEntry, { type: "adjust" }>;
export type SettleEntry = Extract<JournalEntry, { type: "settle" }>;
/** What a rollup keeps as it was: every entry but the requests' own (adjustments, overrides). */
export type KeptEntry = Exclude<JournalEntry, { type: "reserve" | "settle" | "release" }>;

const REQUEST_TYPES = new Set(["reserve", "settle", "release"]);

export const ROLLUP_SUFFIX = ".rollup.jsonl";
const ROLLUP_NAME = /^(\d{4}-\d{2})\.rollup\.jsonl$/;

export function rollupPath(journalDir: string, month: string): string {
  return join(journalDir, `${month}${ROLLUP_SUFFIX}`);
}

/**
 * The months held as rollups, oldest first. A month whose journal file is
 * still there is not one: its compaction did not finish, the journal is what
 * counts and the next compaction completes it.
 */
export function rollupMonths(journalDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(journalDir);
  } catch {
    return [];
  }
  return names
    .flatMap((n) => {
      const month = ROLLUP_NAME.exec(n)?.[1];
      return month !== undefined && !existsSync(join(journalDir, `${month}.jsonl`)) ? [month] : [];
    })
    .sort();
}

export function emptyTotals(): RollupTotals {
  return { requests: 0, cost: 0, tokens: 0, adjustments: 0, adjust_cost: 0, adjust_tokens: 0 };
}

function addUsage(into: Usage, u: Usage): void {
  into.input += u.input;
  into.cached_input += u.cached_input;
  into.cache_write += u.cache_write;
  into.cache_write_1h += u.cache_write_1h;
  into.output += u.output;
  into.reasoning += u.reasoning;
}

/** The moment a settle counts at: its reservation's, as the budgets count it. */
export function settleMoment(e: SettleEntry): number {
  return Date.parse(e.reserved_at ?? e.ts);
}

export function localDay(ms: number, timeZone: string): string {
  const p = localDateParts(ms, timeZone);
  return `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

/** Adds one spend entry to running totals: the check every rollup is held to. */
export function addToTotals(t: RollupTotals, e: SettleEntry | AdjustEntry | RollupDay): void {
  if (e.type === "adjust") {
    t.adjustments++;
    t.adjust_cost += e.cost;
    t.adjust_tokens += e.tokens;
    return;
  }
  t.requests += e.type === "day" ? e.requests : 1;
  t.cost += e.cost;
  t.tokens += e.tokens;
}

export function sameTotals(a: RollupTotals, b: RollupTotals): boolean {
  return (Object.keys(a) as (keyof RollupTotals)[]).every((k) => a[k] === b[k]);
}

/** Folds one month's entries into a rollup. Pure: the compaction feeds it and writes what it builds. */
export class RollupBuilder {
  private readonly days = new Map<string, RollupDay>();
  private readonly kept: KeptEntry[] = [];
  /** Summed straight from the entries, apart from the day lines: what those must add up to. */
  readonly totals = emptyTotals();
  readonly entries: Record<string, number> = {};
  private firstSeq = 0;
  private lastSeq = 0;

  constructor(
    readonly month: string,
    private readonly timeZone: string,
  ) {}

  add(entry: JournalEntry): void {
    this.entries[entry.type] = (this.entries[entry.type] ?? 0) + 1;
    if (this.firstSeq === 0) this.firstSeq = entry.seq;
    this.lastSeq = entry.seq;
    if (entry.type === "settle") {
      addToTotals(this.totals, entry);
      this.fold(entry);
    } else if (entry.type !== "reserve" && entry.type !== "release") {
      this.kept.push(entry);
      if (entry.type === "adjust") addToTotals(this.totals, entry);
    }
  }

  private fold(e: SettleEntry): void {
    const at = settleMoment(e);
    const day = localDay(at, this.timeZone);
    const id = JSON.stringify([day, e.key, e.user, e.project, e.team, e.run, e.provider, e.model]);
    let row = this.days.get(id);
    if (!row) {
      row = {
        type: "day",
        day,
        at: new Date(at).toISOString(),
        ...(e.key !== undefined ? { key: e.key } : {}),
        ...(e.user !== undefined ? { user: e.user } : {}),
        ...(e.project !== undefined ? { project: e.project } : {}),
        ...(e.team !== undefined ? { team: e.team } : {}),
        ...(e.run !== undefined ? { run: e.run } : {}),
        provider: e.provider,
        model: e.model,
        requests: 0,
        cost: 0,
        tokens: 0,
        usage: { ...NO_USAGE },
      };
      this.days.set(id, row);
    } else if (at < Date.parse(row.at)) row.at = new Date(at).toISOString();
    row.requests++;
    row.cost += e.cost;
    row.tokens += e.tokens;
    addUsage(row.usage, e.usage);
  }

  /** The rollup file's text: the header line, then the day lines and the entries kept. */
  text(compactedAt: number): string {
    const body = [...[...this.days.values()].sort((a, b) => a.day.localeCompare(b.day)), ...this.kept]
      .map((line) => `${JSON.stringify(line)}\n`)
      .join("");
    const header: RollupHeader = {
      type: "rollup",
      version: 1,
      month: this.month,
      timezone: this.timeZone,
      compacted_at: new Date(compactedAt).toISOString(),
      first_seq: this.firstSeq,
      last_seq: this.lastSeq,
      entries: this.entries,
      totals: this.totals,
      sha256: createHash("sha256").update(body).digest("hex"),
    };
    return `${JSON.stringify(header)}\n${body}`;
  }
}

export interface RollupReader {
  /** The header, once read (before any line). */
  header?(h: RollupHeader): void;
  day?(d: RollupDay): void;
  /** An entry kept as it was: an adjustment, a budget override or its cancellation. */
  entry?(e: KeptEntry): void;
}

function tampered(path: string, what: string): TokenpakError {
  return new TokenpakError(
    "ledger_corrupt",
    `rollup ${path} ${what}: it was changed after \`tokenpak ledger compact\` wrote it; restore it from a backup`,
    { file: path },
  );
}

function isHeader(v: unknown): v is RollupHeader {
  const h = v as Partial<RollupHeader> | null;
  return (
    h !== null &&
    typeof h === "object" &&
    h.type === "rollup" &&
    h.version === 1 &&
    typeof h.timezone === "string" &&
    typeof h.sha256 === "string" &&
    typeof h.totals === "object" &&
    h.totals !== null &&
    Number.isSafeInteger(h.last_seq)
  );
}

const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;

/** Checks lines as they are read and, at the end, that they add up to the header: a rollup is trusted whole or not at all. */
class RollupCheck {
  header: RollupHeader | undefined;
  private readonly hash = createHash("sha256");
  private readonly sums = emptyTotals();

  constructor(
    private readonly path: string,
    private readonly reader: RollupReader,
  ) {}

  line = (text: string, place: LinePlace): void => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw tampered(this.path, `line ${place.line} is not JSON`);
    }
    if (this.header === undefined) {
      if (!isHeader(value)) throw tampered(this.path, "does not start with a rollup header");
      this.header = value;
      this.reader.header?.(value);
      return;
    }
    this.hash.update(`${text}\n`);
    const day = value as RollupDay;
    if (day.type === "day" && isCount(day.requests) && isCount(day.cost) && isCount(day.tokens)) {
      addToTotals(this.sums, day);
      this.reader.day?.(day);
      return;
    }
    const entry = parseEntry(text);
    if (entry === undefined || REQUEST_TYPES.has(entry.type))
      throw tampered(this.path, `line ${place.line} is neither a day nor a journal entry kept`);
    const kept = entry as KeptEntry;
    if (kept.type === "adjust") {
      if (!Number.isSafeInteger(kept.cost) || !Number.isSafeInteger(kept.tokens))
        throw tampered(this.path, `line ${place.line} is an adjustment without whole amounts`);
      addToTotals(this.sums, kept);
    }
    this.reader.entry?.(kept);
  };

  end(tail: unknown): RollupHeader {
    const h = this.header;
    if (h === undefined) throw tampered(this.path, "is empty");
    if (tail !== undefined) throw tampered(this.path, "ends in an incomplete line");
    if (!sameTotals(this.sums, h.totals)) {
      throw tampered(
        this.path,
        `adds up to ${formatUsd(this.sums.cost)} in ${this.sums.requests} requests and ${formatUsd(this.sums.adjust_cost)} of adjustments, where its header says ${formatUsd(h.totals.cost)}, ${h.totals.requests} and ${formatUsd(h.totals.adjust_cost)}`,
      );
    }
    if (this.hash.digest("hex") !== h.sha256) throw tampered(this.path, "does not match its digest");
    return h;
  }
}

/**
 * Streams a rollup's lines to `reader`, checking them against the header: a
 * rollup whose lines do not add up to its totals, or do not match its digest,
 * is refused (`ledger_corrupt`) — after its lines were handed out, so a
 * caller builds into something it throws away on error.
 */
export function readRollup(path: string, reader: RollupReader): RollupHeader {
  const check = new RollupCheck(path, reader);
  const fd = openSync(path, "r");
  try {
    return check.end(scanLines(fd, check.line));
  } finally {
    closeSync(fd);
  }
}

/** readRollup without blocking the event loop. */
export async function readRollupAsync(path: string, reader: RollupReader): Promise<RollupHeader> {
  const check = new RollupCheck(path, reader);
  return check.end(await scanLinesAsync(path, check.line));
}

/** Just the header of a rollup (its first line); undefined when there is none to read. */
export function readRollupHeader(path: string): RollupHeader | undefined {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, n).toString("utf8");
    const nl = text.indexOf("\n");
    const value: unknown = JSON.parse(nl === -1 ? text : text.slice(0, nl));
    return isHeader(value) ? value : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
