import { readFileSync } from "node:fs";
import chalk from "chalk";
import { Command, CommanderError } from "commander";
import { isTokenpakError } from "../errors.js";
import { registerAlerts } from "./commands/alerts.js";
import { registerPricing } from "./commands/pricing.js";
import { registerProxy } from "./commands/proxy.js";
import { registerReconcileSpend } from "./commands/reconcile-spend.js";
import { registerSyncPricing } from "./commands/sync-pricing.js";
import { registerValidateConfig } from "./commands/validate-config.js";
import type { CliContext, GlobalOptions, SetExitCode } from "./context.js";
import { EXIT_OK, EXIT_USAGE, exitCodeFor } from "./exit-codes.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

export function createProgram(ctx: CliContext, setExitCode: SetExitCode = () => {}): Command {
  const program = new Command("tokenpak")
    .description("Hard, honest spending limits for LLM API traffic.")
    .version(version, "-V, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .option("-c, --config <file>", "config file (default ./tokenpak.yaml, then $TOKENPAK_CONFIG)")
    .option(
      "--data-dir <dir>",
      "data directory (default storage.path, then $TOKENPAK_HOME, then ~/.tokenpak)",
    )
    .option("--json", "print machine-readable JSON instead of text")
    .option("--no-color", "no colours in output (also NO_COLOR=1)")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 invalid input (config, arguments), 2 usage error, 3 I/O error, 4 locked by another process,\n" +
        "7 provider failed, 8 alert delivery failed, 9 price source unreachable, 10 price document invalid, 11 prices\n" +
        "refused by a safety rule, 12 spend drift (reconcile-spend), 70 internal error.",
    );

  registerValidateConfig(program, ctx, setExitCode);
  registerProxy(program, ctx, setExitCode);
  registerAlerts(program, ctx, setExitCode);
  registerSyncPricing(program, ctx, setExitCode);
  registerPricing(program, ctx, setExitCode);
  registerReconcileSpend(program, ctx, setExitCode);
  return program;
}

/** Runs the CLI and returns the exit code; never calls process.exit. */
export async function main(argv: readonly string[], ctx: CliContext = processContext()): Promise<number> {
  let exitCode = EXIT_OK;
  const program = createProgram(ctx, (code) => {
    exitCode = code;
  });
  if (argv.length <= 2) {
    ctx.stderr.write(program.helpInformation());
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    const json = (program.opts() as GlobalOptions).json === true;
    if (isTokenpakError(error)) {
      if (json)
        ctx.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
      ctx.stderr.write(`tokenpak: ${error.message}\n`);
      return exitCodeFor(error.code);
    }
    ctx.stderr.write(`tokenpak: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitCodeFor("internal");
  }
}

function processContext(): CliContext {
  // `tokenpak … | head` closes the pipe early: that is the reader's choice, not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(0);
      throw error;
    });
  }
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    env: process.env,
    colorLevel: chalk.level,
  };
}
