import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { formatUsd } from "../money/money.js";
import type { ReconcileResult } from "./run.js";

export const RECONCILE_LOG = "reconcile.log";

export interface RunSummary {
  at: number;
  provider: string;
  /** The run's result, or the error that stopped it. */
  outcome: ReconcileResult | { code: string; message: string };
  exitCode: number;
}

function quoted(text: string): string {
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** One line per run, logfmt-style: what cron leaves behind to read the next morning. */
export function summaryLine(s: RunSummary): string {
  const fields: [string, string][] = [["provider", s.provider]];
  const o = s.outcome;
  if ("code" in o) {
    fields.push(["error", o.code], ["message", o.message]);
  } else {
    const delta = o.totals.delta;
    fields.push(
      ["source", o.source],
      ["period", `${o.period.since}..${o.period.until}`],
      ["days", String(o.days.length)],
      ["ledger", formatUsd(o.totals.ledger_cost)],
      ["billed", formatUsd(o.totals.provider_cost)],
      ["delta", delta > 0 ? `+${formatUsd(delta)}` : formatUsd(delta)],
      ["adjustments", String(o.adjustments_written)],
    );
    if (o.period.provisional.length > 0) fields.push(["provisional", o.period.provisional.join(",")]);
    if (o.drift_days.length > 0) fields.push(["drift", o.drift_days.join(",")]);
    if (o.missing_days.length > 0) fields.push(["no_figures", o.missing_days.join(",")]);
    if (o.warnings.length > 0) fields.push(["warnings", String(o.warnings.length)]);
    if (o.dry_run) fields.push(["dry_run", "true"]);
    if (o.via) fields.push(["via", o.via]);
  }
  fields.push(["exit", String(s.exitCode)]);
  return `${new Date(s.at).toISOString()} ${fields.map(([k, v]) => `${k}=${quoted(v)}`).join(" ")}`;
}

/** Appends the run's line to <data-dir>/reconcile.log. */
export function appendRunLog(dataDir: string, summary: RunSummary): void {
  mkdirSync(dataDir, { recursive: true });
  appendFileSync(join(dataDir, RECONCILE_LOG), `${summaryLine(summary)}\n`, { mode: 0o600 });
}
