import type { Command } from "commander";
import type { Config } from "../../config/types.generated.js";
import { isTokenpakError, TokenpakError } from "../../errors.js";
import { formatUsd } from "../../money/money.js";
import type { LedgerWriter, ReconcileResult } from "../../reconcile/run.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { EXIT_DRIFT, EXIT_OK, exitCodeFor } from "../exit-codes.js";
import { dataDirDespiteConfig, loadCommandConfig } from "../load.js";

interface ReconcileFlags {
  provider: string;
  since?: string;
  until?: string;
  includeToday?: boolean;
  fromFile?: string;
  dryRun?: boolean;
  quiet?: boolean;
  thresholdPct?: string;
}

export function registerReconcileSpend(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  program
    .command("reconcile-spend")
    .description("correct the ledger against what the provider actually billed (run it from cron)")
    .requiredOption("--provider <name>", "the provider to reconcile, as named under providers:")
    .option("--since <date>", "first UTC day (YYYY-MM-DD); default: 3 complete days before --until")
    .option("--until <date>", "last UTC day; default yesterday (UTC)")
    .option(
      "--include-today",
      "add today, provisionally: like a day that ended less than reconcile.settle_hours ago, only ever raised",
    )
    .option("--from-file <file>", "read the costs from a CSV (date,model,cost_usd) instead of the admin API")
    .option("--dry-run", "compare and show, write nothing")
    .option("--quiet", "print nothing unless a day drifted or the run failed")
    .option("--threshold-pct <n>", "a day drifts when the ledger is off by more than this % (default 5)")
    .addHelpText(
      "after",
      "\nCompares the ledger's spend for the provider with the provider's cost report, per UTC day\n" +
        "and model, and writes corrections (journal `adjust` entries) spread over the users, keys,\n" +
        "projects and teams that spent, in proportion. A correction counts in the windows of the day\n" +
        "it corrects. Rerunning writes only what changed since. With the proxy running, the\n" +
        "corrections go through its control socket (<data-dir>/tokenpak.sock); without, this command\n" +
        "takes the ledger lock and writes them itself. Each run appends a line to <data-dir>/reconcile.log.\n" +
        "A day is final settle_hours (providers.<name>.reconcile, default 6) after it ends; until then it\n" +
        "is provisional: only ever raised, never drift.\n" +
        "\nExit codes: 0 every day within --threshold-pct, 12 some day drifted beyond it (corrected unless\n" +
        "--dry-run; a reconcile_drift alert fires once per provider and day, again if its drift turns\n" +
        "or doubles), 1 bad config, arguments,\n" +
        "CSV or an admin key the provider refused, 4 another reconcile-spend running or the ledger\n" +
        "locked, 7 the provider's admin API failed (error, timeout, bad page). See docs/reconcile.md.",
    )
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(
        await reconcileSpendCommand(ctx, command.optsWithGlobals<GlobalOptions & ReconcileFlags>()),
      );
    });
}

function thresholdOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || text.trim() === "") {
    throw new TokenpakError("invalid_argument", `--threshold-pct must be a number ≥ 0, got ${text}`);
  }
  return n;
}

type RunLog = typeof import("../../reconcile/log.js");
type Summary = Parameters<RunLog["appendRunLog"]>[1];

/** The run's line in reconcile.log, for a run that finished and for one that failed. */
function runRecorder(
  ctx: CliContext,
  appendRunLog: RunLog["appendRunLog"],
  provider: string,
  started: number,
): { record: (dir: string, summary: Summary) => void; failed: (dir: string, error: unknown) => void } {
  // The run's record must not hide what happened to the run itself (a data directory gone read-only).
  const record = (dir: string, summary: Summary) => {
    try {
      appendRunLog(dir, summary);
    } catch (error) {
      line(
        ctx.stderr,
        `tokenpak: cannot append to reconcile.log: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  };
  const failed = (dir: string, error: unknown) => {
    const code = isTokenpakError(error) ? error.code : "internal_error";
    const message = error instanceof Error ? error.message : String(error);
    record(dir, {
      at: started,
      provider,
      outcome: { code, message },
      exitCode: exitCodeFor(code),
    });
  };
  return { record, failed };
}

/** The ledger's writer: the running proxy over its control socket, or this process under the ledger lock. */
function writerOpener(
  ctx: CliContext,
  config: Readonly<Config>,
  dataDir: string,
  openAdminSession: typeof import("../../server/control-client.js")["openAdminSession"],
  adjustmentsOp: typeof import("../../server/admin.js")["adjustmentsOp"],
): () => Promise<LedgerWriter> {
  return async () => {
    const session = await openAdminSession({
      config,
      dataDir,
      warn: (message) => line(ctx.stderr, `tokenpak: ${message}`),
    });
    return {
      via: session.via,
      pid: session.pid,
      write: (batch) => session.call(adjustmentsOp, batch),
      close: () => session.close(),
    };
  };
}

/** JSON, or the warnings, the table and the verdict; --quiet keeps only a verdict that is not OK. */
function printResult(
  ctx: CliContext,
  options: GlobalOptions & ReconcileFlags,
  result: ReconcileResult,
  exitCode: number,
): void {
  if (options.json) {
    line(ctx.stdout, JSON.stringify({ ...result, exit_code: exitCode }, null, 2));
    return;
  }
  const c = paint(ctx, options);
  if (!options.quiet) {
    for (const w of result.warnings) line(ctx.stderr, `${c.yellow("!")} ${w}`);
    for (const text of tableLines(result, c)) line(ctx.stdout, text);
  }
  const verdict = verdictLine(result, c);
  if (exitCode !== EXIT_OK) line(ctx.stderr, verdict);
  else if (!options.quiet) line(ctx.stdout, verdict);
}

export async function reconcileSpendCommand(
  ctx: CliContext,
  options: GlobalOptions & ReconcileFlags,
): Promise<number> {
  const { reconcileSpend } = await import("../../reconcile/run.js");
  const { appendRunLog } = await import("../../reconcile/log.js");
  const { openAdminSession } = await import("../../server/control-client.js");
  const { adjustmentsOp } = await import("../../server/admin.js");
  const started = Date.now();
  const { record, failed } = runRecorder(ctx, appendRunLog, options.provider, started);
  let loaded: Awaited<ReturnType<typeof loadCommandConfig>>;
  try {
    loaded = await loadCommandConfig(ctx, options);
  } catch (error) {
    // An unset ${OPENAI_ADMIN_KEY} in cron's environment is the likeliest failure of all: it is recorded too.
    failed(await dataDirDespiteConfig(ctx, options), error);
    throw error;
  }
  const { config, dataDir } = loaded;
  let result: ReconcileResult;
  try {
    result = await reconcileSpend(
      {
        config,
        dataDir,
        provider: options.provider,
        since: options.since,
        until: options.until,
        includeToday: options.includeToday,
        fromFile: options.fromFile,
        dryRun: options.dryRun,
        thresholdPct: thresholdOf(options.thresholdPct),
        now: started,
      },
      writerOpener(ctx, config, dataDir, openAdminSession, adjustmentsOp),
    );
  } catch (error) {
    failed(dataDir, error);
    throw error;
  }
  const exitCode = result.drift_days.length > 0 ? EXIT_DRIFT : EXIT_OK;
  record(dataDir, { at: started, provider: options.provider, outcome: result, exitCode });
  printResult(ctx, options, result, exitCode);
  return exitCode;
}

type Paint = ReturnType<typeof paint>;

function signed(micros: number): string {
  return micros > 0 ? `+${formatUsd(micros)}` : formatUsd(micros);
}

function percent(delta: number, ledger: number): string {
  if (ledger === 0) return delta === 0 ? "0.0%" : "new";
  const p = (delta / Math.abs(ledger)) * 100;
  return `${p > 0 ? "+" : ""}${p.toFixed(1)}%`;
}

/** The table: one row per day × model, the day's verdict on its last row, and the totals. */
export function tableLines(r: ReconcileResult, c: Paint): string[] {
  const title = `${r.provider} ${r.period.since} … ${r.period.until} (UTC) from ${r.source}${r.filter ? ` — ${describeFilter(r.filter)}` : ""}${r.dry_run ? " — dry run, nothing written" : ""}`;
  const rows: string[][] = [["DAY", "MODEL", "LEDGER", "PROVIDER", "DELTA", "DELTA %", ""]];
  const row = (day: string, model: string, ledger: number, provider: number, delta: number, note: string) =>
    rows.push([
      day,
      model,
      formatUsd(ledger),
      formatUsd(provider),
      signed(delta),
      percent(delta, ledger),
      note,
    ]);
  for (const d of r.days) {
    const lines = r.lines.filter((l) => l.day === d.day);
    for (const l of lines) {
      const note = l.provisional ? (l.written !== l.delta ? "provisional, only raised" : "provisional") : "";
      row(l.day, l.model === "" ? "(whole day)" : l.model, l.ledger_cost, l.provider_cost, l.delta, note);
    }
    // The verdict is per day: on the day's own row, or its only line's.
    const verdict = d.drift ? "DRIFT" : "";
    if (lines.length > 1) row(d.day, "(day)", d.ledger_cost, d.provider_cost, d.delta, verdict);
    else if (verdict) {
      const last = rows.at(-1);
      if (last) last[6] = [last[6], verdict].filter(Boolean).join(", ");
    }
  }
  rows.push([
    "TOTAL",
    `${r.days.length} day${r.days.length === 1 ? "" : "s"}`,
    formatUsd(r.totals.ledger_cost),
    formatUsd(r.totals.provider_cost),
    signed(r.totals.delta),
    percent(r.totals.delta, r.totals.ledger_cost),
    "",
  ]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length))) ?? [];
  const right = new Set([2, 3, 4, 5]);
  const render = (row: string[]) =>
    row
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const out = [c.bold(title)];
  for (const [i, row] of rows.entries()) {
    const text = render(row);
    if (i === 0) out.push(c.dim(text));
    else if (i === rows.length - 1) out.push(c.bold(text));
    else out.push(row[6]?.includes("DRIFT") ? c.red(text) : text);
  }
  if (r.lines.length === 0) out.push(c.dim("no spend in the ledger and nothing billed in this period"));
  return out;
}

function describeFilter(f: NonNullable<ReconcileResult["filter"]>): string {
  const parts: string[] = [];
  if (f.project_ids) parts.push(`projects ${f.project_ids.join(", ")}`);
  if (f.workspace_ids) parts.push(`workspaces ${f.workspace_ids.join(", ")}`);
  if (f.api_key_ids) parts.push(`keys ${f.api_key_ids.join(", ")}`);
  return parts.join("; ");
}

function verdictLine(r: ReconcileResult, c: Paint): string {
  const writer = r.via === "daemon" ? ` through the running proxy (pid ${r.daemon_pid ?? "?"})` : "";
  const wrote = r.dry_run
    ? "dry run: nothing written"
    : r.adjustments_written > 0
      ? `wrote ${r.adjustments_written} correction${r.adjustments_written === 1 ? "" : "s"} (${signed(r.totals.written)})${writer}`
      : "the ledger already matches: nothing written";
  if (r.drift_days.length === 0) return `${c.green("✓")} within ±${r.threshold_pct}% on every day; ${wrote}`;
  return `${c.red("✗")} ${r.provider} drifted beyond ±${r.threshold_pct}% on ${r.drift_days.join(", ")}; ${wrote}`;
}
