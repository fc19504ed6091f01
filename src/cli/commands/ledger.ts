import type { Command } from "commander";
import type { BadLine, RepairResult } from "../../ledger/repair.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { exitCodeFor } from "../exit-codes.js";
import { commandDataDir } from "../load.js";

interface RepairFlags {
  yes?: boolean;
}

export function registerLedger(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  const ledger = program
    .command("ledger")
    .description("inspect and repair the spend ledger in the data directory");

  ledger
    .command("repair")
    .description("find journal lines replay cannot use; with --yes, move them aside")
    .option("-y, --yes", "move the lines shown to <journal file>.corrupt (without it nothing changes)")
    .addHelpText(
      "after",
      "\nShows every journal line that is not a journal entry (a fragment a failed write left, a line\n" +
        "damaged on disk) as FILE:LINE, and what repair would do. With --yes each one goes to\n" +
        "<file>.corrupt with a record of what was dropped and why; a complete entry glued after a torn\n" +
        "fragment is kept; state.json is reset so the next start rebuilds it from the journal.\n" +
        "--yes takes the ledger lock: stop the daemon first. Exits 0 when the journal is sound or was\n" +
        "repaired, 5 when bad lines were found and left. --json prints {applied, files, entries, bad, moved_to}.",
    )
    .action(async (_flags: RepairFlags, command: Command) => {
      setExitCode(await ledgerRepairCommand(ctx, command.optsWithGlobals<GlobalOptions & RepairFlags>()));
    });

  ledger
    .command("compact")
    .description("fold whole journal months before --before into rollups by day (with --yes)")
    .requiredOption("--before <month>", "compact the months before this one, YYYY-MM")
    .option("-y, --yes", "do it (without it nothing changes: the months and what they hold are shown)")
    .addHelpText(
      "after",
      "\nEach journal month (journal/YYYY-MM.jsonl, UTC months) before --before becomes\n" +
        "journal/YYYY-MM.rollup.jsonl: spend, tokens and requests per local day (budget.timezone) ×\n" +
        "key, user, project, team, run × provider × model, and the month's adjustments as they were.\n" +
        "The rollup is written, fsynced and read back, and its totals must equal the month's, before\n" +
        "the month's file is removed. Reports and the ledger's replay read rollups; reconcile-spend\n" +
        "refuses compacted days (their per-request spend is gone). Months a budget can still count\n" +
        "(this one, or within the longest rolling window) are refused. With the proxy running the\n" +
        "work is done by the proxy, over its control socket; without, under the ledger lock. Exits 0,\n" +
        "1 for a --before that is not allowed, 5 for a journal or rollup that does not add up.\n" +
        "--json prints {before, applied, months: [{month, entries, journal_bytes, rollup_bytes, totals}]}.",
    )
    .action(async (_flags: CompactFlags, command: Command) => {
      setExitCode(await ledgerCompactCommand(ctx, command.optsWithGlobals<GlobalOptions & CompactFlags>()));
    });
}

interface CompactFlags {
  before: string;
  yes?: boolean;
}

function megabytes(bytes: number): string {
  return bytes >= 1_000_000 ? `${(bytes / 1_000_000).toFixed(1)} MB` : `${(bytes / 1000).toFixed(1)} kB`;
}

export async function ledgerCompactCommand(
  ctx: CliContext,
  options: GlobalOptions & CompactFlags,
): Promise<number> {
  const { openAdminSession } = await import("../../server/control-client.js");
  const { compactOp, MONTH_PATTERN } = await import("../../server/admin-compact.js");
  const { loadCommandConfig } = await import("../load.js");
  if (!new RegExp(MONTH_PATTERN).test(options.before)) {
    const { TokenpakError } = await import("../../errors.js");
    throw new TokenpakError(
      "invalid_argument",
      `--before must be a month YYYY-MM (2026-01), got ${JSON.stringify(options.before)}`,
    );
  }
  const { formatUsd } = await import("../../money/money.js");
  const { config, dataDir } = await loadCommandConfig(ctx, options);
  const session = await openAdminSession({
    config,
    dataDir,
    warn: (message) => line(ctx.stderr, `tokenpak: ${message}`),
  });
  let result: Awaited<ReturnType<typeof compactOp.run>>;
  try {
    result = await session.call(compactOp, { before: options.before, apply: options.yes === true });
  } finally {
    await session.close();
  }
  if (options.json) {
    line(ctx.stdout, JSON.stringify({ data_dir: dataDir, via: session.via, ...result }, null, 2));
    return 0;
  }
  const c = paint(ctx, options);
  for (const m of result.months) {
    const t = m.totals;
    const adjusted = t.adjustments > 0 ? `, ${t.adjustments} adjustments ${formatUsd(t.adjust_cost)}` : "";
    line(
      ctx.stdout,
      `${m.month}  ${m.entries.toLocaleString("en-US")} entries, ${megabytes(m.journal_bytes)} → ${megabytes(m.rollup_bytes)}: ${formatUsd(t.cost)} in ${t.requests.toLocaleString("en-US")} requests${adjusted}`,
    );
  }
  const already = result.already.length > 0 ? ` (already rollups: ${result.already.join(", ")})` : "";
  const writer = session.via === "daemon" ? ` by the running proxy (pid ${session.pid ?? "?"})` : "";
  if (result.months.length === 0) line(ctx.stdout, `nothing to compact before ${result.before}${already}`);
  else if (result.applied)
    line(
      ctx.stdout,
      `${c.green("✓")} compacted ${result.months.length} month(s) into rollups${writer}${already}`,
    );
  else
    line(
      ctx.stdout,
      `nothing was changed; \`tokenpak ledger compact --before ${result.before} --yes\` compacts ${result.months.length} month(s)${already}`,
    );
  return 0;
}

function preview(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(shown);
}

function badLine(b: BadLine): string[] {
  const out = [`${b.file}:${b.line}  ${b.reason}, ${b.bytes} bytes: ${preview(b.text)}`];
  if (b.kept)
    out.push(`    keeps the complete ${b.kept.type} entry (seq ${b.kept.seq}) after the torn fragment`);
  return out;
}

export async function ledgerRepairCommand(
  ctx: CliContext,
  options: GlobalOptions & RepairFlags,
): Promise<number> {
  const { repairLedger } = await import("../../ledger/repair.js");
  const dataDir = await commandDataDir(ctx, options);
  const result: RepairResult = await repairLedger(dataDir, { apply: options.yes === true });
  const code = result.bad.length === 0 || result.applied ? 0 : exitCodeFor("ledger_corrupt");
  if (options.json) {
    const { dataDir: data_dir, files, entries, bad, applied, movedTo, snapshotReset } = result;
    const out = { data_dir, applied, files, entries, bad, moved_to: movedTo, snapshot_reset: snapshotReset };
    line(ctx.stdout, JSON.stringify(out, null, 2));
    return code;
  }
  const c = paint(ctx, options);
  const count = (n: number, one: string, many = `${one}s`) =>
    `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
  const where = `${count(result.entries, "entry", "entries")} in ${count(result.files, "journal file")} (${dataDir})`;
  if (result.bad.length === 0) {
    line(ctx.stdout, `${c.green("✓")} the journal is sound: ${where}`);
    return code;
  }
  for (const b of result.bad) for (const text of badLine(b)) line(ctx.stdout, text);
  const lines = count(result.bad.length, "bad line");
  if (result.applied) {
    line(
      ctx.stdout,
      `${c.green("✓")} moved ${lines} to ${result.movedTo.join(", ")} with a record of what was dropped` +
        (result.snapshotReset ? "; the next start rebuilds state.json from the journal" : ""),
    );
  } else {
    const targets = [...new Set(result.bad.map((b) => `${b.file}.corrupt`))].join(", ");
    line(ctx.stderr, `${c.red("✗")} ${lines}; ${where}. Nothing was changed.`);
    line(ctx.stderr, `  Run \`tokenpak ledger repair --yes\` (daemon stopped) to move them to ${targets}.`);
  }
  return code;
}
