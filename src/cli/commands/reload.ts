import type { Command } from "commander";
import { type Problem, problemLine } from "../../config/problem.js";
import { isTokenpakError } from "../../errors.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { exitCodeFor } from "../exit-codes.js";
import { loadCommandConfig } from "../load.js";
import { displayPath } from "./validate-config.js";

export function registerReload(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  program
    .command("reload")
    .description("make the running proxy re-read its config and key store (as SIGHUP does)")
    .addHelpText(
      "after",
      "\nLimits, models, prices, keys and alert targets serve the next request; requests in flight finish\n" +
        "under the config they started with. An invalid config is refused with the errors validate-config\n" +
        "prints, and the config in force keeps serving (exit 1). server.host, server.port, storage and\n" +
        "alerts.log_file take effect only at the next start: the answer says so. Exit 4 when no proxy runs.",
    )
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await reloadCommand(ctx, command.optsWithGlobals<GlobalOptions>()));
    });
}

/** The data directory even when the config is invalid (the daemon says what is wrong with it). */
async function dataDirOf(ctx: CliContext, options: GlobalOptions): Promise<string> {
  const { resolveConfigPath, resolveDataDir } = await import("../../config/paths.js");
  try {
    return (await loadCommandConfig(ctx, options)).dataDir;
  } catch (error) {
    if (!isTokenpakError(error) || error.code !== "config_invalid") throw error;
    const { parse } = await import("yaml");
    const { readConfigText } = await import("../../config/load.js");
    const file = resolveConfigPath(options.config, ctx.cwd, ctx.env);
    let storagePath: unknown;
    try {
      storagePath = (parse(await readConfigText(file)) as { storage?: { path?: unknown } } | null)?.storage
        ?.path;
    } catch {
      storagePath = undefined;
    }
    return resolveDataDir({
      explicit: options.dataDir,
      storagePath: typeof storagePath === "string" && !storagePath.includes("${") ? storagePath : undefined,
      configFile: file,
      cwd: ctx.cwd,
      env: ctx.env,
    });
  }
}

export async function reloadCommand(ctx: CliContext, options: GlobalOptions): Promise<number> {
  const { connectDaemon } = await import("../../server/control-client.js");
  const { reloadOp } = await import("../../server/admin-reload.js");
  const dataDir =
    options.dataDir !== undefined
      ? (await import("node:path")).resolve(ctx.cwd, options.dataDir)
      : await dataDirOf(ctx, options);
  const session = await connectDaemon(dataDir);
  const c = paint(ctx, options);
  try {
    const result = await session.call(reloadOp, {});
    if (options.json) {
      line(ctx.stdout, JSON.stringify({ ok: true, pid: session.pid, ...result }, null, 2));
      return 0;
    }
    const shown = displayPath(result.file, ctx.cwd);
    const what = result.changed.length > 0 ? `${result.changed.join(", ")} changed` : "nothing changed";
    const rebuilt =
      result.rebuilt_from_journal !== null
        ? `; the counters were rebuilt from the journal (${result.rebuilt_from_journal.toLocaleString("en-US")} entries) for windows the new limits count in`
        : "";
    line(
      ctx.stdout,
      `${c.green("✓")} the proxy (pid ${session.pid}) reloaded ${shown}: ${what}; ${result.keys} client key${result.keys === 1 ? "" : "s"}${result.open_mode ? " (open mode)" : ""}${rebuilt}`,
    );
    for (const r of result.restart_required)
      line(ctx.stderr, `${c.yellow("!")} ${r}: takes effect at the next start`);
    for (const w of result.warnings) line(ctx.stderr, `${c.yellow("!")} ${problemLine(shown, w, c)}`);
    return 0;
  } catch (error) {
    if (!isTokenpakError(error) || error.code !== "reload_refused") throw error;
    const problems = (error.details.problems ?? []) as Problem[];
    const file = typeof error.details.file === "string" ? displayPath(error.details.file, ctx.cwd) : "config";
    if (options.json) {
      line(ctx.stdout, JSON.stringify({ ok: false, pid: session.pid, file, errors: problems }, null, 2));
    } else {
      for (const p of problems) line(ctx.stderr, `${c.red("✗")} ${problemLine(file, p, c)}`);
      const n = problems.length;
      line(ctx.stderr, c.red(`✗ Config invalid: ${n} error${n === 1 ? "" : "s"} in ${file}`));
      line(ctx.stderr, "  The proxy keeps serving with the config it had.");
    }
    return exitCodeFor("reload_refused");
  } finally {
    await session.close();
  }
}
