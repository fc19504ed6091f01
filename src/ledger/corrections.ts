import type { WindowSpec } from "../budget/windows.js";
import { windowInstance } from "../budget/windows.js";

/** The ledger mark that keeps corrections across restarts (saved with the snapshot, like every mark). */
export const CORRECTIONS_MARK = "ledger.corrections";

/** Per scope id, per window instance ("d:2026-03-25", "m:2026-03", "t"): [µ¢, when the window ends or null]. */
export type CorrectionTable = Record<string, Record<string, [number, number | null]>>;

const PRUNE_EVERY_MS = 60_000;
const CALENDAR: readonly WindowSpec[] = [{ kind: "day" }, { kind: "month" }, { kind: "total" }];

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const isHeld = (v: unknown) =>
  Array.isArray(v) && Number.isSafeInteger(v[0]) && (v[1] === null || typeof v[1] === "number");

/** A snapshot's mark as it was written; anything else (a damaged file) starts empty. */
function isTable(value: unknown): value is CorrectionTable {
  return isObject(value) && Object.values(value).every((w) => isObject(w) && Object.values(w).every(isHeld));
}

/**
 * How much of each scope's spend in its current calendar windows came from
 * adjustments (reconcile-spend), so a refusal can say that the budget was
 * corrected rather than spent by the requests the user sees. Rolling windows
 * are not tracked: a correction is to a past day, outside them.
 */
export class Corrections {
  private prunedAt = Number.NEGATIVE_INFINITY;

  private constructor(
    readonly table: CorrectionTable,
    private readonly timeZone: string,
  ) {}

  static from(mark: unknown, timeZone: string): Corrections {
    return new Corrections(isTable(mark) ? mark : {}, timeZone);
  }

  /** Records `micros` in the windows of moment `at` that are still open at `now`. */
  add(scopeIds: readonly string[], micros: number, at: number, now: number): void {
    if (micros === 0) return;
    // A batch of corrections touches thousands of scopes: sweeping the table on every one would be quadratic.
    if (now - this.prunedAt >= PRUNE_EVERY_MS) this.prune(now);
    for (const spec of CALENDAR) {
      const w = windowInstance(spec, at, this.timeZone);
      if (w.end <= now) continue;
      for (const id of scopeIds) {
        const windows = this.table[id] ?? {};
        this.table[id] = windows;
        const held = windows[w.key];
        windows[w.key] = [(held?.[0] ?? 0) + micros, Number.isFinite(w.end) ? w.end : null];
      }
    }
  }

  /** The corrections counted in `scopeId`'s window `spec` at `now` (µ¢). */
  in(scopeId: string, spec: WindowSpec, now: number): number {
    if (spec.kind === "rolling") return 0;
    return this.table[scopeId]?.[windowInstance(spec, now, this.timeZone).key]?.[0] ?? 0;
  }

  private prune(now: number): void {
    this.prunedAt = now;
    for (const [id, windows] of Object.entries(this.table)) {
      for (const [key, [, end]] of Object.entries(windows))
        if (end !== null && end <= now) delete windows[key];
      if (Object.keys(windows).length === 0) delete this.table[id];
    }
  }
}
