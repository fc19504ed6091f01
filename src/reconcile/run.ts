import { createHash } from "node:crypto";
import { mkdirSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Config, ResolvedProvider } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { acquireLock, LOCK_FILE, lockHolder } from "../ledger/lock.js";
import { formatUsd, type Micros } from "../money/money.js";
import { DEFAULT_BASE_URL } from "../providers/wire.js";
import type { AdjustmentBatch, BatchResult } from "./apply.js";
import { type Billing, type DayResult, type Diff, diffSpend, type Line, type Mismatch } from "./diff.js";
import { readLedgerFigures } from "./ledger-figures.js";
import { billedNames } from "./models.js";
import { correctionMoment, DEFAULT_SETTLE_HOURS, type Period, reconcilePeriod, utcDay } from "./period.js";
import { anthropicBilling } from "./sources/anthropic.js";
import { csvBilling } from "./sources/csv.js";
import { openaiBilling } from "./sources/openai.js";
import type { Filter, SourceRequest } from "./sources/source.js";

/**
 * One run per provider at a time: `<data-dir>/reconcile-<provider>.lock`. Runs
 * for different providers touch different lines of the ledger and may run
 * side by side (an hourly cron line each, at the same minute).
 */
export function reconcileLockFile(provider: string): string {
  const plain = /^[A-Za-z0-9_.-]{1,64}$/.test(provider);
  const name = plain ? provider : createHash("sha256").update(provider).digest("hex").slice(0, 16);
  return `reconcile-${name}.lock`;
}
const RECONCILE_LOCK_NAME = /^reconcile-[A-Za-z0-9_.-]+\.lock$/;
/** Without a daemon, how long a run waits for another provider's run to let go of the ledger. */
const LEDGER_WAIT_MS = 120_000;
export const DEFAULT_THRESHOLD_PCT = 5;

export interface ReconcileOptions {
  config: Readonly<Config>;
  dataDir: string;
  provider: string;
  since?: string | undefined;
  until?: string | undefined;
  includeToday?: boolean | undefined;
  /** A CSV of the provider's costs instead of its admin API. */
  fromFile?: string | undefined;
  dryRun?: boolean | undefined;
  thresholdPct?: number | undefined;
  now?: number | undefined;
}

/** Whoever writes the ledger: the daemon over its control channel, or this process under the ledger lock. */
export interface LedgerWriter {
  via: "daemon" | "direct";
  pid?: number | undefined;
  write(batch: AdjustmentBatch): Promise<BatchResult>;
  close(): Promise<void>;
}

export interface ReconcileResult {
  provider: string;
  source: string;
  /** provisional: the days not final yet (today, days that ended less than settle_hours ago). */
  period: { since: string; until: string; provisional: string[] };
  filter: Filter | null;
  threshold_pct: number;
  dry_run: boolean;
  via: "daemon" | "direct" | null;
  daemon_pid: number | null;
  days: DayResult[];
  lines: Line[];
  /** µ¢ over the compared days. */
  totals: { ledger_cost: Micros; provider_cost: Micros; delta: Micros; written: Micros };
  drift_days: string[];
  /** Days whose drift alerted in this run (each (provider, day) alerts once). */
  alerted: string[];
  adjustments_written: number;
  /** Days of the period the provider returned no figures for: not compared, left as they were. */
  missing_days: string[];
  warnings: string[];
}

const DAY_MS = 86_400_000;

/** Where the provider's figures come from: its admin API, or a CSV already read and checked. */
type Source = { api: SourceRequest; type: ResolvedProvider["type"] } | { csv: Billing };

function providerOf(config: Readonly<Config>, name: string): ResolvedProvider {
  const provider = config.providers?.[name];
  if (!provider) {
    const known = Object.keys(config.providers ?? {});
    throw new TokenpakError(
      "invalid_argument",
      `no provider ${name} in the config${known.length > 0 ? ` (providers: ${known.join(", ")})` : ""}`,
    );
  }
  return provider;
}

/** The admin-API request for a provider, or why it cannot be made. */
function sourceRequest(name: string, provider: ResolvedProvider, period: Period): SourceRequest {
  if (provider.type !== "openai" && provider.type !== "anthropic") {
    throw new TokenpakError(
      "invalid_argument",
      `provider ${name} is ${provider.type}: only openai and anthropic have a cost API; pass --from-file with a CSV of its costs`,
    );
  }
  const adminKey = provider.admin_api_key;
  if (!adminKey) {
    throw new TokenpakError(
      "invalid_argument",
      `providers.${name}.admin_api_key is not set: reconcile-spend reads the ${provider.type === "openai" ? "organization costs" : "cost report"} with an admin key (use \${ENV}), or pass --from-file`,
    );
  }
  const r = provider.reconcile;
  return {
    provider: name,
    baseUrl: provider.base_url ?? DEFAULT_BASE_URL[provider.type] ?? "",
    adminKey,
    filter: { project_ids: r?.project_ids, workspace_ids: r?.workspace_ids, api_key_ids: r?.api_key_ids },
    timeoutMs: r?.timeout_ms ?? 30_000,
    period,
  };
}

/** With a CSV and no --since/--until, the period is the file's days up to the last complete one. */
function csvPeriod(billing: Billing, options: ReconcileOptions, now: number, settleHours: number): Period {
  const first = billing.days[0];
  const last = billing.days.at(-1);
  if (options.since !== undefined || options.until !== undefined || !first || !last) {
    return reconcilePeriod({ ...options, settleHours, now });
  }
  const latest = options.includeToday ? utcDay(now) : utcDay(now - DAY_MS);
  return reconcilePeriod({
    since: first,
    until: last < latest ? last : latest,
    includeToday: options.includeToday,
    settleHours,
    now,
  });
}

/** Consecutive days as ranges: "2026-03-01 … 2026-03-03, 2026-03-07". */
function dayList(days: readonly string[]): string {
  const ranges: string[][] = [];
  for (const d of days) {
    const run = ranges.at(-1);
    const prev = run?.at(-1);
    if (run && prev && Date.parse(`${d}T00:00:00Z`) - Date.parse(`${prev}T00:00:00Z`) === DAY_MS) run.push(d);
    else ranges.push([d]);
  }
  return ranges.map((r) => (r.length > 2 ? `${r[0]} … ${r.at(-1)}` : r.join(", "))).join(", ");
}

/** The days of the period the provider returned no figures for: compared with nothing, so left as they are. */
function uncovered(billing: Billing, period: Period): string[] {
  const covered = new Set(billing.days);
  return period.days.filter((d) => !covered.has(d));
}

/** One warning per name mismatch, over all the days it occurred on. */
function mismatchWarnings(provider: string, mismatches: readonly Mismatch[]): string[] {
  const byNames = new Map<string, { m: Mismatch; days: string[] }>();
  for (const m of mismatches) {
    const key = JSON.stringify([m.ledger, m.billed]);
    const held = byNames.get(key);
    if (held) held.days.push(m.day);
    else byNames.set(key, { m, days: [m.day] });
  }
  return [...byNames.values()].map(({ m, days }) => {
    const ours = m.ledger
      .map((name) => (m.compared[name] === name ? name : `${name} (compared as ${m.compared[name]})`))
      .join(", ");
    const theirs = m.billed_as.join(", ");
    const one = m.ledger.length === 1 && m.billed_as.length === 1;
    const fix = one
      ? `models.${m.ledger[0]}.upstream_model: ${m.billed_as[0]}`
      : "models.<name>.upstream_model to the snapshot billed";
    return `${provider} billed ${theirs} on ${dayList(days)}, which matches no model in the ledger, while the ledger's ${ours} matches nothing billed: compared as one whole-day line instead of correcting ${m.ledger.length === 1 ? "it" : "them"} to $0. If they are the same model, pin it with ${fix} (what the proxy sends upstream)`;
  });
}

function withoutLeaks(billing: Billing, period: Period): { billing: Billing; ignored: number } {
  const days = new Set(period.days);
  const costs = billing.costs.filter((c) => days.has(c.day));
  return {
    billing: { ...billing, days: billing.days.filter((d) => days.has(d)), costs },
    ignored: billing.costs.length - costs.length,
  };
}

function pct(p: number | null): string {
  return p === null ? "new" : `${p >= 0 ? "+" : ""}${p.toFixed(1)}%`;
}

function signedUsd(micros: Micros): string {
  return micros > 0 ? `+${formatUsd(micros)}` : formatUsd(micros);
}

function driftMessage(provider: string, d: DayResult, threshold: number): string {
  return `${provider} billed ${formatUsd(d.provider_cost)} on ${d.day} (UTC) where the ledger had ${formatUsd(d.ledger_cost)}: ${signedUsd(d.delta)} (${pct(d.delta_pct)}), beyond ±${threshold}%; reconcile-spend corrected the ledger`;
}

function batchOf(
  provider: string,
  billing: Billing,
  lines: Line[],
  drift: DayResult[],
  threshold: number,
  now: number,
  timeZone: string,
) {
  const batch: AdjustmentBatch = {
    provider,
    source: billing.source,
    adjustments: lines.flatMap((l) =>
      l.parts.map((p) => ({
        identity: p.identity,
        ...(p.model !== "" ? { model: p.model } : {}),
        cost: p.cost,
        tokens: p.tokens,
        at: new Date(correctionMoment(l.day, now, timeZone)).toISOString(),
        reconcile: {
          day: l.day,
          model: l.model,
          delta: l.written,
          provider_cost: l.provider_cost,
          ledger_cost: l.ledger_cost,
        },
      })),
    ),
    drift: drift.map((d) => ({
      day: d.day,
      message: driftMessage(provider, d, threshold),
      off_by: d.provider_cost - d.metered_cost,
    })),
  };
  return batch;
}

function takeReconcileLock(dataDir: string, provider: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  try {
    const lock = acquireLock(dataDir, process.pid, reconcileLockFile(provider));
    return () => lock.release();
  } catch (error) {
    if (error instanceof TokenpakError && error.code === "ledger_locked") {
      const pid = error.details.pid;
      throw new TokenpakError(
        "reconcile_running",
        `another reconcile-spend --provider ${provider} is running on ${dataDir}${pid !== undefined ? ` (pid ${String(pid)})` : ""}; runs for one provider never overlap, try again when it is done`,
        { dir: dataDir, ...(pid !== undefined ? { pid } : {}) },
      );
    }
    throw error;
  }
}

/** What a run compares and how, settled before the lock is taken. */
interface RunPlan {
  now: number;
  name: string;
  threshold: number;
  dryRun: boolean;
  period: Period;
  source: Source;
  request: SourceRequest | undefined;
  warnings: string[];
}

/**
 * The provider, the period and where its figures come from. Everything here
 * can fail on bad input, and it fails before the lock is taken or anything
 * fetched.
 */
async function planRun(options: ReconcileOptions): Promise<RunPlan> {
  const now = options.now ?? Date.now();
  const name = options.provider;
  const provider = providerOf(options.config, name);
  const threshold = options.thresholdPct ?? DEFAULT_THRESHOLD_PCT;
  const dryRun = options.dryRun === true;
  const warnings: string[] = [];

  // A CSV is read and checked whole before anything else: a bad row stops the run with nothing done.
  const fromCsv = options.fromFile !== undefined ? await readCsv(options.fromFile) : undefined;
  const settleHours = provider.reconcile?.settle_hours ?? DEFAULT_SETTLE_HOURS;
  const period = fromCsv
    ? csvPeriod(fromCsv, options, now, settleHours)
    : reconcilePeriod({ ...options, settleHours, now });
  const source: Source = fromCsv
    ? { csv: fromCsv }
    : { api: sourceRequest(name, provider, period), type: provider.type };
  const request = "api" in source ? source.api : undefined;
  if (request && !request.filter.project_ids && !request.filter.workspace_ids) {
    const filter = provider.type === "openai" ? "project_ids" : "workspace_ids";
    warnings.push(
      `no providers.${name}.reconcile.${filter}: comparing the whole organisation's bill, including traffic that never went through tokenpak`,
    );
  }
  return { now, name, threshold, dryRun, period, source, request, warnings };
}

/** The provider's figures for the period only, and the period's days it has none for. */
async function fetchBilling(
  source: Source,
  period: Period,
  warnings: string[],
): Promise<{ billing: Billing; missing: string[] }> {
  let billing: Billing;
  if ("api" in source) {
    billing = source.type === "openai" ? await openaiBilling(source.api) : await anthropicBilling(source.api);
  } else {
    const kept = withoutLeaks(source.csv, period);
    if (kept.ignored > 0)
      warnings.push(`${kept.ignored} CSV row(s) outside ${period.since} … ${period.until} ignored`);
    billing = kept.billing;
  }
  const missing = uncovered(billing, period);
  if (missing.length > 0)
    warnings.push(`${billing.source} returned no figures for ${dayList(missing)} (UTC); left unchanged`);
  return { billing, missing };
}

/** The run as reported: totals over the compared lines; nothing counts as written in a dry run. */
function resultOf(
  plan: RunPlan,
  billing: Billing,
  missing: string[],
  diff: Diff,
  drift: DayResult[],
  writer: LedgerWriter | undefined,
  result: BatchResult,
): ReconcileResult {
  const sum = (field: "ledger_cost" | "provider_cost" | "delta" | "written") =>
    diff.lines.reduce((s, l) => s + l[field], 0);
  return {
    provider: plan.name,
    source: billing.source,
    period: { since: plan.period.since, until: plan.period.until, provisional: plan.period.provisional },
    filter: plan.request ? filterOf(plan.request.filter) : null,
    threshold_pct: plan.threshold,
    dry_run: plan.dryRun,
    via: writer?.via ?? null,
    daemon_pid: writer?.pid ?? null,
    days: diff.days,
    lines: diff.lines,
    totals: {
      ledger_cost: sum("ledger_cost"),
      provider_cost: sum("provider_cost"),
      delta: sum("delta"),
      written: plan.dryRun ? 0 : sum("written"),
    },
    drift_days: drift.map((d) => d.day),
    alerted: result.alerted,
    adjustments_written: result.written,
    missing_days: missing,
    warnings: plan.warnings,
  };
}

/**
 * One reconciliation: the provider's figures for the period (admin API or
 * CSV), compared per UTC day and model with the ledger, and — unless a dry
 * run — the corrections written by whoever owns the ledger. The whole run
 * holds <data-dir>/reconcile-<provider>.lock, so two runs for one provider
 * never interleave and the later run's figures win. Anything failing before
 * the write writes nothing.
 */
export async function reconcileSpend(
  options: ReconcileOptions,
  openWriter: () => Promise<LedgerWriter>,
): Promise<ReconcileResult> {
  const { config, dataDir } = options;
  const plan = await planRun(options);
  const { name, period, threshold, dryRun, warnings } = plan;

  const release = dryRun ? () => {} : takeReconcileLock(dataDir, name);
  let writer: LedgerWriter | undefined;
  try {
    const { billing, missing } = await fetchBilling(plan.source, period, warnings);

    // The ledger's owner first, then its figures: without a daemon, opening the ledger replays the
    // journal and charges what a crash left in flight, and that spend must be in the comparison.
    if (!dryRun) writer = await patiently(openWriter, dataDir);
    const ledger = readLedgerFigures(dataDir, name, period);
    const diff = diffSpend({
      billing,
      days: period.days,
      provisional: period.provisional,
      ledger: ledger.days,
      billedName: billedNames(config, name),
      thresholdPct: threshold,
    });
    warnings.push(...mismatchWarnings(name, diff.mismatches));
    const drift = diff.days.filter((d) => d.drift);
    let result: BatchResult = { written: 0, cost: 0, tokens: 0, alerted: [] };
    if (writer) {
      const batch = batchOf(name, billing, diff.lines, drift, threshold, plan.now, config.budget.timezone);
      if (batch.adjustments.length > 0 || batch.drift.length > 0) result = await writer.write(batch);
    }
    return resultOf(plan, billing, missing, diff, drift, writer, result);
  } finally {
    await writer?.close();
    release();
  }
}

/** Whether the ledger is held by another provider's reconcile-spend (which lets go within seconds). */
function heldByReconcile(dataDir: string): boolean {
  const holder = lockHolder(dataDir, LOCK_FILE);
  if (holder === undefined) return false;
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch {
    return false;
  }
  return names.some((n) => RECONCILE_LOCK_NAME.test(n) && lockHolder(dataDir, n) === holder);
}

/**
 * The ledger's writer; without a daemon, another provider's run may hold the
 * ledger lock for its own write (a few seconds): wait for it rather than fail.
 * Anything else holding the lock (a proxy starting, `ledger compact`) fails
 * at once, as before.
 */
async function patiently(openWriter: () => Promise<LedgerWriter>, dataDir: string): Promise<LedgerWriter> {
  const until = Date.now() + LEDGER_WAIT_MS;
  for (;;) {
    try {
      return await openWriter();
    } catch (error) {
      const locked = error instanceof TokenpakError && error.code === "ledger_locked";
      if (!locked || Date.now() >= until || !heldByReconcile(dataDir)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(Math.random() * 100)));
    }
  }
}

function filterOf(f: Filter): Filter | null {
  const out: Filter = {};
  if (f.project_ids) out.project_ids = f.project_ids;
  if (f.workspace_ids) out.workspace_ids = f.workspace_ids;
  if (f.api_key_ids) out.api_key_ids = f.api_key_ids;
  return Object.keys(out).length > 0 ? out : null;
}

async function readCsv(file: string): Promise<Billing> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new TokenpakError(
      code === "ENOENT" ? "invalid_argument" : "io_error",
      code === "ENOENT"
        ? `--from-file ${file}: no such file`
        : `cannot read ${file}: ${code ?? String(cause)}`,
      { file },
    );
  }
  return csvBilling(text, file);
}
