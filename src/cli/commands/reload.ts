import type { ChalkInstance } from "chalk";
import type { Command } from "commander";
import { type Problem, problemLine } from "../../config/problem.js";
import { isTokenpakError, TokenpakError } from "../../errors.js";
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
        "alerts.log_file take effect only at the next start: the answer says so. The proxy is looked for\n" +
        "in the data directory the file names (or --data-dir): after editing storage.path, pass the\n" +
        "directory the proxy started with. Exit 4 when no proxy answers there (1 when the file is invalid).",
    )
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await reloadCommand(ctx, command.optsWithGlobals<GlobalOptions>()));
    });
}

/** Where to look for the daemon, and what is wrong with the config file if it does not load. */
interface Target {
  dataDir: string;
  /** The data directory came from --data-dir (else from the config file's storage.path, or the default). */
  explicit: boolean;
  file?: string;
  /** The file's problems, when it is invalid: the daemon reports them too, if one runs. */
  problems?: Problem[];
}

/**
 * storage.path of a file that does not load: read from the YAML tree the
 * parser recovers around a syntax error (most errors leave it readable),
 * with ${VAR} filled in from the environment; undefined when it is not there.
 */
async function lenientStoragePath(file: string, env: CliContext["env"]): Promise<string | undefined> {
  const { parseDocument } = await import("yaml");
  const { readConfigText } = await import("../../config/load.js");
  const { interpolate } = await import("../../config/interpolate.js");
  let raw: unknown;
  try {
    raw = parseDocument(await readConfigText(file)).getIn(["storage", "path"]);
  } catch {
    return undefined;
  }
  if (typeof raw !== "string") return undefined;
  const filled = interpolate(raw, env);
  return filled.missing.length === 0 && typeof filled.data === "string" ? filled.data : undefined;
}

async function targetOf(ctx: CliContext, options: GlobalOptions): Promise<Target> {
  const { resolve } = await import("node:path");
  if (options.dataDir !== undefined) return { dataDir: resolve(ctx.cwd, options.dataDir), explicit: true };
  try {
    const loaded = await loadCommandConfig(ctx, options);
    return { dataDir: loaded.dataDir, explicit: false, file: loaded.file };
  } catch (error) {
    if (!isTokenpakError(error) || error.code !== "config_invalid") throw error;
    const { resolveConfigPath, resolveDataDir } = await import("../../config/paths.js");
    const file = resolveConfigPath(options.config, ctx.cwd, ctx.env);
    const dataDir = resolveDataDir({
      explicit: undefined,
      storagePath: await lenientStoragePath(file, ctx.env),
      configFile: file,
      cwd: ctx.cwd,
      env: ctx.env,
    });
    return { dataDir, explicit: false, file, problems: (error.details.problems ?? []) as Problem[] };
  }
}

/** The file's problems, as a refused reload shows them. */
function printProblems(ctx: CliContext, c: ChalkInstance, file: string, problems: readonly Problem[]): void {
  for (const p of problems) line(ctx.stderr, `${c.red("✗")} ${problemLine(file, p, c)}`);
  const n = problems.length;
  line(ctx.stderr, c.red(`✗ Config invalid: ${n} error${n === 1 ? "" : "s"} in ${file}`));
}

/**
 * No daemon answers where the config says: with an invalid file its errors
 * are what to fix (the next start reads it); else say which directory was
 * tried, and that a proxy started before storage.path changed is still on
 * its old one.
 */
function noDaemon(ctx: CliContext, options: GlobalOptions, target: Target): number {
  const c = paint(ctx, options);
  if (target.problems !== undefined && target.file !== undefined) {
    const file = displayPath(target.file, ctx.cwd);
    if (options.json) {
      line(ctx.stdout, JSON.stringify({ ok: false, pid: null, file, errors: target.problems }, null, 2));
    } else {
      printProblems(ctx, c, file, target.problems);
      line(
        ctx.stderr,
        `  No proxy answers on ${target.dataDir} either: fix the file; the next start reads it.`,
      );
    }
    return exitCodeFor("config_invalid");
  }
  const hint = target.explicit
    ? "there is nothing to reload; the next start reads the config"
    : "if storage.path was changed since the proxy started, the proxy still runs on the data directory it started with (that change takes effect only at a restart): pass --data-dir DIR to reach it; if no proxy runs, there is nothing to reload";
  throw new TokenpakError(
    "daemon_unavailable",
    `no proxy is running on ${target.dataDir} (no control socket answers there); ${hint}`,
    { data_dir: target.dataDir },
  );
}

export async function reloadCommand(ctx: CliContext, options: GlobalOptions): Promise<number> {
  const { daemonSession } = await import("../../server/control-client.js");
  const { reloadOp } = await import("../../server/admin-reload.js");
  const target = await targetOf(ctx, options);
  const session = await daemonSession(target.dataDir);
  if (!session) return noDaemon(ctx, options, target);
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
      printProblems(ctx, c, file, problems);
      line(ctx.stderr, "  The proxy keeps serving with the config it had.");
    }
    return exitCodeFor("reload_refused");
  } finally {
    await session.close();
  }
}
