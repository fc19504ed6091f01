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
