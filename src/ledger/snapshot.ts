import { closeSync, fsyncSync, openSync } from "node:fs";
import { open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { type Adapter, Low } from "lowdb";
import type { Policy } from "../budget/policy.js";
import type { ReserveEntry } from "./booking.js";
import { Counters, type CountersSnapshot } from "./counters.js";
import { journalFiles } from "./journal.js";
import { readRollupHeader, rollupMonths, rollupPath } from "./rollup.js";

export const STATE_FILE = "state.json";
const VERSION = 1;

/**
 * state.json: a cache of what the journal adds up to, so that start-up
 * replays only the journal's tail. Never the truth: when it is missing, torn
 * or from another version, the journal alone rebuilds everything.
 */
export interface LedgerState {
  version: 1;
  /** The last journal entry this snapshot includes. */
  seq: number;
  /** Journal month of that entry, so replay can skip older files. */
  month: string | null;
  timezone: string;
  rolling: string[];
  /** Policy.windowsKey: the windows kept per scope. Absent in snapshots that kept every window. */
  windows?: string;
  saved_at: string;
  counters: CountersSnapshot;
  /** Reservations open at `seq`; booked again on load. */
  reservations: ReserveEntry[];
  /** Named facts later features keep with the ledger (alerts fired, reconciliation marks). */
  marks: Record<string, unknown>;
}

/** When the last periodic snapshot ended and how long it took (performance.now() milliseconds). */
export interface LastSnapshot {
  endedAt: number;
  tookMs: number;
}

/**
 * Writing a snapshot holds the event loop while it is captured and
 * serialised: well under a millisecond for a few thousand scopes, most of a
 * second for 200,000 identities active the same day. The snapshot is only a
 * cache, so a large one is written less often: the periodic writes take at
 * most 1/SNAPSHOT_SHARE of the time, and requests meet such a pause that much
 * less often.
 */
export const SNAPSHOT_SHARE = 20;

export function snapshotDue(now: number, last: LastSnapshot | undefined): boolean {
  return last === undefined || now - last.endedAt >= (SNAPSHOT_SHARE - 1) * last.tookMs;
}

/** Makes a rename in `dir` durable. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some systems cannot fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A lowdb adapter that survives a power cut: the JSON goes to a temp file
 * (mode 0600), is fsynced, renamed over the old file, and the directory is
 * fsynced, so state.json is always either the old snapshot or the new one.
 * lowdb's own writer renames without fsync: a crash can leave it torn.
 */
export class DurableJsonFile<T> implements Adapter<T> {
  constructor(readonly path: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
    return JSON.parse(text) as T;
  }

  async write(data: T): Promise<void> {
    const temp = `${this.path}.tmp`;
    try {
      const file = await open(temp, "w", 0o600);
      try {
        await file.writeFile(JSON.stringify(data));
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.path);
    } catch (error) {
      await rm(temp, { force: true }); // a half-written temp file would only take space
      throw error;
    }
    fsyncDirectory(dirname(this.path));
  }
}

/** Why a parsed state.json cannot be used as it is, if it cannot. */
function problemOf(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "is not a JSON object";
  const s = value as Partial<LedgerState>;
  if (s.version !== VERSION)
    return `has version ${JSON.stringify(s.version)}, this tokenpak writes ${VERSION}`;
  const ok =
    Number.isSafeInteger(s.seq) &&
    (s.month === null || typeof s.month === "string") &&
    typeof s.timezone === "string" &&
    Array.isArray(s.rolling) &&
    s.counters !== null &&
    typeof s.counters === "object" &&
    Array.isArray(s.reservations) &&
    s.marks !== null &&
    typeof s.marks === "object";
  return ok ? undefined : "lacks fields a snapshot has";
}

export type SnapshotRead =
  | { state: LedgerState; problem?: undefined }
  /** `problem` when there was a file that could not be used (torn, another version, unreadable). */
  | { state: null; problem?: string };

/** The snapshot store: lowdb over a DurableJsonFile. */
export class SnapshotStore {
  private readonly db: Low<LedgerState | null>;

  constructor(readonly path: string) {
    this.db = new Low<LedgerState | null>(new DurableJsonFile<LedgerState | null>(path), null);
  }

  /** Reads state.json; never throws: whatever is wrong with it is returned as the problem. */
  async read(): Promise<SnapshotRead> {
    try {
      await this.db.read();
    } catch (error) {
      const what = error instanceof SyntaxError ? "is not valid JSON (torn by a crash?)" : String(error);
      return { state: null, problem: what };
    }
    const state = this.db.data;
    if (state === null) return { state: null };
    const problem = problemOf(state);
    return problem === undefined ? { state } : { state: null, problem };
  }

  async write(state: LedgerState): Promise<void> {
    this.db.data = state;
    await this.db.write();
  }
}

/** Why a sound snapshot still does not fit this policy, so that only a full replay is right. */
export function mismatchOf(state: LedgerState, policy: Policy): string | undefined {
  if (state.timezone !== policy.timeZone) return `budget.timezone changed from ${state.timezone}`;
  if (state.rolling.join(",") !== rollingLabels(policy).join(",")) return "the rolling windows changed";
  if (state.windows !== undefined && state.windows !== policy.windowsKey)
    return "the windows the limits count in changed";
  return undefined;
}

export function rollingLabels(policy: Policy): string[] {
  return policy.rollingWindows.flatMap((w) => (w.kind === "rolling" ? [w.label] : [])).sort();
}

/** Whether months were compacted with entries this snapshot does not have: only a full replay has them. */
function compactedPast(state: LedgerState, journalDir: string): string | undefined {
  const newer = rollupMonths(journalDir).filter(
    (m) => (readRollupHeader(rollupPath(journalDir, m))?.last_seq ?? Number.POSITIVE_INFINITY) > state.seq,
  );
  return newer.length > 0 ? `journal months ${newer.join(", ")} were compacted` : undefined;
}

/**
 * The snapshot to start from, with its counters. When it cannot be used as it
 * is — missing while there is a journal, torn, another version, or kept for
 * other windows than the policy's — `why` says so and the state starts empty
 * (only the marks are kept), for a full replay.
 */
export async function loadSnapshot(
  store: SnapshotStore,
  policy: Policy,
  journalDir: string,
): Promise<{ state: LedgerState | null; why?: string; counters: Counters }> {
  const fresh = () => new Counters(policy.timeZone, policy.rollingWindows);
  const read = await store.read();
  const { state } = read;
  if (state === null) {
    if (read.problem !== undefined) return { state, why: `${store.path} ${read.problem}`, counters: fresh() };
    const why = journalFiles(journalDir).length > 0 ? `${store.path} is missing` : undefined;
    return { state, ...(why !== undefined ? { why } : {}), counters: fresh() };
  }
  const empty = { ...state, seq: 0, month: null, reservations: [], counters: {} };
  const mismatch = mismatchOf(state, policy) ?? compactedPast(state, journalDir);
  if (mismatch !== undefined)
    return { state: empty, why: `${mismatch} since the last snapshot`, counters: fresh() };
  try {
    return { state, counters: Counters.fromJSON(state.counters, policy.timeZone, policy.rollingWindows) };
  } catch (error) {
    const what = error instanceof Error ? error.message : String(error);
    const why = `${store.path} holds counters that cannot be used (${what})`;
    return { state: empty, why, counters: fresh() };
  }
}
