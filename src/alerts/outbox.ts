import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Alert } from "./alert.js";
import type { Channel } from "./channels.js";
import type { Level } from "./crossing.js";

export const OUTBOX_FILE = "alerts-outbox.jsonl";

export function outboxPath(dataDir: string): string {
  return join(dataDir, OUTBOX_FILE);
}

/** The mark an alert set: its fired key, window instance and level, so a restart knows it fired. */
export type MarkRef = [key: string, instance: string, level: Level];

export type TargetRef = Pick<Channel, "id" | "label" | "kind">;

/**
 * The outbox: one JSON line per fired alert (written before anything else
 * happens to it) and one per delivery attempt. Replaying it tells which
 * alerts fired and which deliveries are still owed, across restarts and
 * crashes. It holds target digests and labels, never a URL.
 */
export type OutboxRecord =
  | { type: "alert"; alert: Alert; targets: TargetRef[]; mark?: MarkRef }
  | {
      type: "attempt";
      id: string;
      target: string;
      n: number;
      at: string;
      /** delivered; failed (retried at next_at); dead (no attempts left); unsent (the channel cannot be used). */
      result: "delivered" | "failed" | "dead" | "unsent";
      error?: string;
      next_at?: string;
    };

export type DeliveryState = "pending" | "delivered" | "dead" | "unsent";

export interface TargetState extends TargetRef {
  state: DeliveryState;
  attempts: number;
  last_attempt_at?: string;
  last_error?: string;
  /** pending: when the next attempt is due. */
  next_at?: string;
}

export interface AlertRecord {
  alert: Alert;
  mark?: MarkRef;
  targets: TargetState[];
}

/**
 * Every alert in the outbox with each target's delivery state, oldest first.
 * A torn last line (a crash mid-write) is skipped.
 */
export function readOutbox(path: string): AlertRecord[] {
  if (!existsSync(path)) return [];
  const byId = new Map<string, AlertRecord>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line === "") continue;
    let record: OutboxRecord;
    try {
      record = JSON.parse(line) as OutboxRecord;
    } catch {
      continue;
    }
    if (record.type === "alert") {
      byId.set(record.alert.id, {
        alert: record.alert,
        ...(record.mark ? { mark: record.mark } : {}),
        targets: record.targets.map((t) => ({ ...t, state: "pending", attempts: 0 })),
      });
      continue;
    }
    const target = byId.get(record.id)?.targets.find((t) => t.id === record.target);
    if (!target) continue;
    target.attempts = Math.max(target.attempts, record.n);
    target.last_attempt_at = record.at;
    if (record.error !== undefined) target.last_error = record.error;
    else delete target.last_error;
    if (record.result === "failed") {
      target.state = "pending";
      if (record.next_at !== undefined) target.next_at = record.next_at;
    } else {
      target.state = record.result;
      delete target.next_at;
    }
  }
  return [...byId.values()];
}

/** The lines that rebuild `records` exactly (for compaction). */
function recordLines(records: readonly AlertRecord[]): string[] {
  const lines: string[] = [];
  for (const r of records) {
    const targets = r.targets.map(({ id, label, kind }) => ({ id, label, kind }));
    lines.push(
      JSON.stringify({ type: "alert", alert: r.alert, targets, ...(r.mark ? { mark: r.mark } : {}) }),
    );
    for (const t of r.targets) {
      if (t.attempts === 0 || t.last_attempt_at === undefined) continue;
      const result = t.state === "pending" ? "failed" : t.state;
      lines.push(
        JSON.stringify({
          type: "attempt",
          id: r.alert.id,
          target: t.id,
          n: t.attempts,
          at: t.last_attempt_at,
          result,
          ...(t.last_error !== undefined ? { error: t.last_error } : {}),
          ...(t.next_at !== undefined ? { next_at: t.next_at } : {}),
        }),
      );
    }
  }
  return lines;
}

/**
 * Rewrites the outbox (temp file + rename) without alerts older than
 * `keepSince` whose deliveries are all finished, once it is larger than
 * `maxBytes`. Their marks live on in the ledger; their lines in alerts.log.
 * Only the daemon, holding the ledger lock, may call this.
 */
export function compactOutbox(path: string, keepSince: number, maxBytes: number): boolean {
  if (!existsSync(path) || statSync(path).size <= maxBytes) return false;
  const kept = readOutbox(path).filter(
    (r) => Date.parse(r.alert.at) >= keepSince || r.targets.some((t) => t.state === "pending"),
  );
  const lines = recordLines(kept);
  const temp = `${path}.tmp`;
  writeFileSync(temp, lines.length > 0 ? `${lines.join("\n")}\n` : "", { mode: 0o600 });
  renameSync(temp, path);
  return true;
}

/** Alerts fired at or after `since` (epoch ms), oldest first, with their delivery state: `tokenpak alerts list`. */
export function listAlerts(dataDir: string, since: number): AlertRecord[] {
  return readOutbox(outboxPath(dataDir)).filter((r) => Date.parse(r.alert.at) >= since);
}
