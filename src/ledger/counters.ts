import type { Amounts, WindowUsage } from "../budget/decide.js";
import type { Limit, LimitUnit } from "../budget/policy.js";
import {
  bucketIndex,
  firstLiveBucket,
  rollingBucketMs,
  type WindowSpec,
  windowInstance,
} from "../budget/windows.js";
import { TokenpakError } from "../errors.js";

/** Settled and reserved amounts in one window instance of one scope. */
export interface Cell {
  spent: number;
  tokens: number;
  requests: number;
  rSpent: number;
  rTokens: number;
  rRequests: number;
}

interface Bucket {
  spent: number;
  tokens: number;
  requests: number;
}

/** A rolling window's settled amounts in time buckets, plus what is reserved against it now. */
interface RollingCell extends Cell {
  bucketMs: number;
  windowMs: number;
  buckets: Map<number, Bucket>;
}

interface ScopeState {
  /** Calendar and total windows by instance key ("d:2026-03-25", "m:2026-03", "t"). */
  calendar: Map<string, Cell>;
  rolling: Map<string, RollingCell>;
  /** The latest moment spend was booked here (undefined: loaded from a snapshot that did not say). */
  lastAt: number | undefined;
}

const DAY: WindowSpec = { kind: "day" };
const MONTH: WindowSpec = { kind: "month" };
const TOTAL: WindowSpec = { kind: "total" };
const CALENDAR = [DAY, MONTH, TOTAL] as const;

/** Serialised form: calendar cells as [spent, tokens, requests]; rolling buckets likewise by bucket index. */
export type CountersSnapshot = Record<
  string,
  Record<
    string,
    | [number, number, number]
    /** The total cell: also when the scope last booked spend (epoch ms). */
    | [number, number, number, number]
    | { bucket_ms: number; buckets: Record<string, [number, number, number]> }
  >
>;

/**
 * Counters hold integers only (µ¢, tokens, requests). A NaN, a fraction or a
 * string added once would poison every total it reaches, and every decision
 * after it; so nothing that is not a safe integer gets in.
 */
export function assertAmounts(amounts: Amounts): void {
  if (
    Number.isSafeInteger(amounts.micros) &&
    Number.isSafeInteger(amounts.tokens) &&
    Number.isSafeInteger(amounts.requests)
  )
    return;
  throw new TokenpakError(
    "internal_error",
    `refusing a non-integer ledger amount: ${JSON.stringify(amounts)}`,
  );
}

/** A count the ledger can hold: a safe integer, not negative. */
export function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function triple(value: unknown, where: string): [number, number, number] {
  if (Array.isArray(value) && value.length === 3 && value.every((v) => Number.isSafeInteger(v)))
    return value as [number, number, number];
  throw new TokenpakError(
    "ledger_corrupt",
    `snapshot counter ${where} is not three integers: ${JSON.stringify(value)}`,
  );
}

function emptyCell(): Cell {
  return { spent: 0, tokens: 0, requests: 0, rSpent: 0, rTokens: 0, rRequests: 0 };
}

/**
 * Every scope's spend per window, in memory. Each scope keeps its day, month
 * and total windows and every rolling window the policy uses. Windows are
 * found from timestamps: a new day is a new cell, nothing is reset on a timer.
 */
export class Counters {
  private readonly scopes = new Map<string, ScopeState>();

  constructor(
    private readonly timeZone: string,
    private rollingWindows: readonly WindowSpec[],
  ) {}

  /**
   * The rolling windows to keep from now on (a new policy's): a window new
   * here starts empty, so only a scope without spend to miss (a key just
   * created) may count in it; Ledger.usePolicy rebuilds for any other.
   */
  useRollingWindows(windows: readonly WindowSpec[]): void {
    this.rollingWindows = windows;
  }

  scopeIds(): IterableIterator<string> {
    return this.scopes.keys();
  }

  /** How many scopes hold counters. */
  get size(): number {
    return this.scopes.size;
  }

  private state(scopeId: string): ScopeState {
    let s = this.scopes.get(scopeId);
    if (!s) {
      s = { calendar: new Map(), rolling: new Map(), lastAt: undefined };
      this.scopes.set(scopeId, s);
    }
    return s;
  }

  private calendarKeys(ts: number): string[] {
    return CALENDAR.map((spec) => windowInstance(spec, ts, this.timeZone).key);
  }

  private calendarCell(s: ScopeState, key: string): Cell {
    let cell = s.calendar.get(key);
    if (!cell) {
      cell = emptyCell();
      s.calendar.set(key, cell);
    }
    return cell;
  }

  private rollingCell(s: ScopeState, spec: WindowSpec & { kind: "rolling" }): RollingCell {
    let cell = s.rolling.get(spec.label);
    if (!cell) {
      cell = { ...emptyCell(), bucketMs: rollingBucketMs(spec.ms), windowMs: spec.ms, buckets: new Map() };
      s.rolling.set(spec.label, cell);
    }
    return cell;
  }

  /** The cells of every window of every scope at time `ts`, created as needed. */
  private cellsFor(scopeIds: readonly string[], ts: number): Cell[] {
    const cells: Cell[] = [];
    const keys = this.calendarKeys(ts);
    for (const id of scopeIds) {
      const s = this.state(id);
      if (s.lastAt === undefined || ts > s.lastAt) s.lastAt = ts;
      for (const key of keys) cells.push(this.calendarCell(s, key));
      for (const spec of this.rollingWindows) {
        if (spec.kind === "rolling") cells.push(this.rollingCell(s, spec));
      }
    }
    return cells;
  }

  /** Books a reservation in every window of every scope; returns the cells, so settle and release hit exactly these. */
  reserve(scopeIds: readonly string[], amounts: Amounts, ts: number): Cell[] {
    assertAmounts(amounts);
    const cells = this.cellsFor(scopeIds, ts);
    for (const cell of cells) {
      cell.rSpent += amounts.micros;
      cell.rTokens += amounts.tokens;
      cell.rRequests += amounts.requests;
    }
    return cells;
  }

  unreserve(cells: readonly Cell[], amounts: Amounts): void {
    for (const cell of cells) {
      cell.rSpent -= amounts.micros;
      cell.rTokens -= amounts.tokens;
      cell.rRequests -= amounts.requests;
    }
  }

  /** Adds settled spend (or an adjustment, possibly negative) at time `ts`. */
  add(scopeIds: readonly string[], amounts: Amounts, ts: number): void {
    this.addToCells(this.cellsFor(scopeIds, ts), amounts, ts);
  }

  /** Adds settled spend to cells a reservation holds (its windows), bucketing rolling ones at `ts`. */
  addToCells(cells: readonly Cell[], amounts: Amounts, ts: number): void {
    assertAmounts(amounts);
    for (const cell of cells) {
      if ("buckets" in cell) {
        const rolling = cell as RollingCell;
        const index = bucketIndex(ts, rolling.bucketMs);
        const bucket = rolling.buckets.get(index);
        if (bucket) {
          bucket.spent += amounts.micros;
          bucket.tokens += amounts.tokens;
          bucket.requests += amounts.requests;
        } else {
          rolling.buckets.set(index, {
            spent: amounts.micros,
            tokens: amounts.tokens,
            requests: amounts.requests,
          });
        }
      } else {
        cell.spent += amounts.micros;
        cell.tokens += amounts.tokens;
        cell.requests += amounts.requests;
      }
    }
  }

  /** Usage of one limit's current window for decide(). */
  usage(scopeId: string, limit: Limit, now: number): WindowUsage {
    const s = this.scopes.get(scopeId);
    if (!s) return { spent: 0, reserved: 0 };
    const w = limit.window;
    if (w.kind === "rolling") {
      const cell = s.rolling.get(w.label);
      if (!cell) return { spent: 0, reserved: 0 };
      return { spent: this.rollingSum(cell, limit.unit, now), reserved: pick(cell, limit.unit, true) };
    }
    const cell = s.calendar.get(windowInstance(w, now, this.timeZone).key);
    return cell
      ? { spent: pick(cell, limit.unit, false), reserved: pick(cell, limit.unit, true) }
      : { spent: 0, reserved: 0 };
  }

  /** The bucket index of a rolling window's oldest spend still counted at `now`; undefined when none is. */
  oldestLiveBucket(scopeId: string, w: WindowSpec, now: number): number | undefined {
    if (w.kind !== "rolling") return undefined;
    const cell = this.scopes.get(scopeId)?.rolling.get(w.label);
    if (!cell) return undefined;
    const first = firstLiveBucket(now, cell.windowMs, cell.bucketMs);
    let oldest: number | undefined;
    for (const index of cell.buckets.keys())
      if (index >= first && (oldest === undefined || index < oldest)) oldest = index;
    return oldest;
  }

  private rollingSum(cell: RollingCell, unit: LimitUnit, now: number): number {
    const first = firstLiveBucket(now, cell.windowMs, cell.bucketMs);
    let sum = 0;
    for (const [index, bucket] of cell.buckets) {
      if (index >= first)
        sum += unit === "cents" ? bucket.spent : unit === "tokens" ? bucket.tokens : bucket.requests;
    }
    return sum;
  }

  /**
   * Drops what can no longer matter: windows that have ended, expired rolling
   * buckets, and every window the scope does not keep (`kept`, asked with the
   * scope's last activity). So a scope idle past its longest window leaves
   * memory altogether. A cell holding a reservation stays until the
   * reservation ends.
   */
  prune(now: number, kept: KeptWindows): void {
    const current = new Set(this.calendarKeys(now));
    for (const [id, s] of this.scopes) {
      s.lastAt ??= now;
      const keeps = kept(id, s.lastAt);
      for (const [key, cell] of s.calendar) {
        if (!(current.has(key) && keeps.has(key.charAt(0))) && !isReserved(cell)) s.calendar.delete(key);
      }
      for (const [label, cell] of s.rolling) {
        if (keeps.has(`r:${label}`)) {
          const first = firstLiveBucket(now, cell.windowMs, cell.bucketMs);
          for (const index of cell.buckets.keys()) if (index < first) cell.buckets.delete(index);
        } else {
          cell.buckets.clear();
        }
        if (cell.buckets.size === 0 && !isReserved(cell)) s.rolling.delete(label);
      }
      if (s.calendar.size === 0 && s.rolling.size === 0) this.scopes.delete(id);
    }
  }

  /** Settled amounts only: reservations are saved separately and booked again on load. */
  toJSON(): CountersSnapshot {
    const out: CountersSnapshot = {};
    for (const [id, s] of this.scopes) {
      const entry: CountersSnapshot[string] = {};
      for (const [key, c] of s.calendar) {
        // A total cell also says when the scope was last active: it is dropped after a long idle time.
        entry[key] =
          key === "t" && s.lastAt !== undefined
            ? [c.spent, c.tokens, c.requests, s.lastAt]
            : [c.spent, c.tokens, c.requests];
      }
      for (const [label, c] of s.rolling) {
        const buckets: Record<string, [number, number, number]> = {};
        for (const [index, b] of c.buckets) buckets[index] = [b.spent, b.tokens, b.requests];
        entry[`r:${label}`] = { bucket_ms: c.bucketMs, buckets };
      }
      out[id] = entry;
    }
    return out;
  }

  static fromJSON(data: CountersSnapshot, timeZone: string, rollingWindows: readonly WindowSpec[]): Counters {
    const counters = new Counters(timeZone, rollingWindows);
    const specs = new Map(
      rollingWindows.flatMap((w) => (w.kind === "rolling" ? [[w.label, w] as const] : [])),
    );
    for (const [id, entry] of Object.entries(data)) {
      const s = counters.state(id);
      for (const [key, value] of Object.entries(entry)) {
        if (Array.isArray(value)) {
          // A total cell also carries when its scope last booked spend.
          const total = key === "t" && value.length === 4;
          const [spent, tokens, requests] = triple(total ? value.slice(0, 3) : value, `${id} ${key}`);
          s.calendar.set(key, { ...emptyCell(), spent, tokens, requests });
          const lastAt: unknown = total ? value[3] : undefined;
          if (Number.isSafeInteger(lastAt)) s.lastAt = lastAt as number;
          continue;
        }
        const spec = specs.get(key.slice(2));
        if (spec?.kind !== "rolling") continue;
        const cell = counters.rollingCell(s, spec);
        for (const [index, bucket] of Object.entries(value.buckets)) {
          const [spent, tokens, requests] = triple(bucket, `${id} ${key} ${index}`);
          cell.buckets.set(Number(index), { spent, tokens, requests });
        }
      }
    }
    return counters;
  }
}

function isReserved(cell: Cell): boolean {
  return cell.rSpent !== 0 || cell.rTokens !== 0 || cell.rRequests !== 0;
}

/**
 * The windows a scope keeps, asked by prune() with the scope's last activity:
 * "d", "m", "t" (the first letter of the calendar keys) and "r:<label>".
 */
export type KeptWindows = (scopeId: string, lastAt: number) => ReadonlySet<string>;

const countedCache = new WeakMap<readonly Limit[], ReadonlySet<string>>();
/** The windows a list of limits counts in, in prune()'s terms. */
export function countedWindows(limits: readonly Limit[] | undefined): ReadonlySet<string> {
  if (limits === undefined) return new Set();
  let set = countedCache.get(limits);
  if (!set) {
    set = new Set(
      limits.map((l) => (l.window.kind === "rolling" ? `r:${l.window.label}` : (l.window.kind[0] ?? ""))),
    );
    countedCache.set(limits, set);
  }
  return set;
}

function pick(cell: Cell, unit: LimitUnit, reserved: boolean): number {
  if (unit === "cents") return reserved ? cell.rSpent : cell.spent;
  if (unit === "tokens") return reserved ? cell.rTokens : cell.tokens;
  return reserved ? cell.rRequests : cell.requests;
}
