import type { AlertMonitor } from "../alerts/monitor.js";
import type { ReconcileRef } from "../ledger/journal.js";
import type { Ledger } from "../ledger/ledger.js";
import type { Unit } from "./ledger-figures.js";

/** One correction as it travels to whoever writes the ledger (the daemon, or the command itself). */
export interface Adjustment {
  identity: Unit["identity"];
  /** The ledger's model name; absent for a correction of a whole day nobody spent on. */
  model?: string;
  /** Signed µ¢. */
  cost: number;
  tokens: number;
  /** ISO moment whose windows it counts in. */
  at: string;
  reconcile: ReconcileRef;
}

/** What `POST /admin/adjustments` takes: one reconcile-spend run's corrections and the days that drifted. */
export interface AdjustmentBatch {
  provider: string;
  source: string;
  adjustments: Adjustment[];
  drift: DriftDay[];
}

/** A day that drifted beyond the threshold in this run. */
export interface DriftDay {
  day: string;
  message: string;
  /**
   * Provider − metered spend (µ¢): how far the ledger's own metering was off
   * that day, whatever earlier runs corrected. A day alerts again when this
   * changes sign or doubles. Absent from older clients: then it alerts once.
   */
  off_by?: number;
}

export interface BatchResult {
  written: number;
  /** µ¢ */
  cost: number;
  tokens: number;
  /** Days whose drift raised an alert now (once per (provider, day), unless its drift turns or doubles). */
  alerted: string[];
}

/**
 * The ledger mark holding the (provider, day) drifts that alerted:
 * { "openai|2026-03-24": { at: "<when>", off_by: µ¢ } } (older marks: "<when>").
 */
export const DRIFT_MARK = "reconcile.drift_alerted";
const KEEP_DAYS = 92;
/** Corrections booked per event-loop turn (about 10 ms of work). */
const SLICE = 500;

/**
 * Writes one run's corrections to the ledger and raises its drift alerts.
 * The daemon's control channel and the command without a daemon both call
 * this, so the effect is the same journal entries either way. They are booked
 * a slice at a time, letting requests through between slices (a batch for
 * thousands of users would otherwise hold the daemon for a good part of a
 * second); the result waits until all are in the journal. A crash halfway
 * leaves part of a batch, which the next run completes: it writes what is
 * still missing from each identity's correction, whatever was written before.
 */
export async function writeAdjustments(
  target: { ledger: Ledger; alerts: AlertMonitor },
  batch: AdjustmentBatch,
  now: number,
): Promise<BatchResult> {
  const { ledger } = target;
  const written: Promise<void>[] = [];
  let cost = 0;
  let tokens = 0;
  for (const [i, a] of batch.adjustments.entries()) {
    if (i > 0 && i % SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    written.push(
      ledger.adjust({
        // The identity as recorded: no team means none, not the project's team of today.
        identity: { ...a.identity, team: a.identity.team ?? null },
        ...(a.model !== undefined ? { model: a.model } : {}),
        provider: batch.provider,
        cost: a.cost,
        tokens: a.tokens,
        reason: "reconcile",
        source: batch.source,
        at: Date.parse(a.at),
        reconcile: a.reconcile,
      }),
    );
    cost += a.cost;
    tokens += a.tokens;
  }
  const alerted = raiseDrift(target, batch, now);
  await Promise.all(written);
  return { written: written.length, cost, tokens, alerted };
}

interface Alerted {
  at: string;
  off_by?: number;
}

function alertedOf(value: unknown): Alerted | undefined {
  if (typeof value === "string") return { at: value };
  if (value === null || typeof value !== "object") return undefined;
  const { at, off_by } = value as Record<string, unknown>;
  if (typeof at !== "string") return undefined;
  return typeof off_by === "number" ? { at, off_by } : { at };
}

/**
 * Whether a day that alerted before alerts again: only when its drift has
 * turned the other way or at least doubled since — the same drift seen by
 * the next hourly run is not news, a day going wrong again is.
 */
export function alertsAgain(before: Alerted, offBy: number | undefined): boolean {
  if (before.off_by === undefined || offBy === undefined) return false;
  if (Math.sign(offBy) !== Math.sign(before.off_by) && offBy !== 0) return true;
  return Math.abs(offBy) >= 2 * Math.abs(before.off_by);
}

function raiseDrift(
  target: { ledger: Ledger; alerts: AlertMonitor },
  batch: AdjustmentBatch,
  now: number,
): string[] {
  const held = target.ledger.mark(DRIFT_MARK);
  const fired: Record<string, Alerted> = {};
  if (held !== null && typeof held === "object") {
    for (const [key, value] of Object.entries(held)) {
      const a = alertedOf(value);
      if (a) fired[key] = a;
    }
  }
  const oldest = new Date(now - KEEP_DAYS * 86_400_000).toISOString().slice(0, 10);
  for (const key of Object.keys(fired)) if ((key.split("|")[1] ?? "") < oldest) delete fired[key];
  const alerted: string[] = [];
  for (const { day, message, off_by } of batch.drift) {
    const key = `${batch.provider}|${day}`;
    const before = fired[key];
    if (before !== undefined && !alertsAgain(before, off_by)) continue;
    target.alerts.raise({ event: "reconcile_drift", message });
    fired[key] = { at: new Date(now).toISOString(), ...(off_by !== undefined ? { off_by } : {}) };
    alerted.push(day);
  }
  // Into the outbox before the mark can reach a snapshot: a crash then repeats an alert, never loses one.
  target.alerts.flush();
  target.ledger.setMark(DRIFT_MARK, fired);
  return alerted;
}
