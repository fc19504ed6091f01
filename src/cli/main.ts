import { readFileSync } from "node:fs";
import chalk from "chalk";
import { Command, CommanderError } from "commander";
import { registerAlerts } from "./commands/alerts.js";
import { registerBudget } from "./commands/budget.js";
import { registerKeys } from "./commands/keys.js";
import { registerLedger } from "./commands/ledger.js";
import { registerPricing } from "./commands/pricing.js";
import { registerProxy } from "./commands/proxy.js";
import { registerReconcileSpend } from "./commands/reconcile-spend.js";
import { registerReload } from "./commands/reload.js";
import { registerReport } from "./commands/report.js";
import { registerStatus } from "./commands/status.js";
import { registerSyncPricing } from "./commands/sync-pricing.js";
import { registerValidateConfig } from "./commands/validate-config.js";
import type { CliContext, GlobalOptions, SetExitCode } from "./context.js";
import { asTokenpakError, EXIT_OK, EXIT_USAGE, exitCodeFor, exitCodesHelp } from "./exit-codes.js";

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
    .addHelpText("after", `\n${exitCodesHelp()}`);

  registerValidateConfig(program, ctx, setExitCode);
  registerProxy(program, ctx, setExitCode);
  registerAlerts(program, ctx, setExitCode);
  registerSyncPricing(program, ctx, setExitCode);
  registerPricing(program, ctx, setExitCode);
  registerReconcileSpend(program, ctx, setExitCode);
  registerLedger(program, ctx, setExitCode);
  registerKeys(program, ctx, setExitCode);
  registerBudget(program, ctx, setExitCode);
  registerReload(program, ctx, setExitCode);
  registerStatus(program, ctx, setExitCode);
  registerReport(program, ctx, setExitCode);
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
    const failure = asTokenpakError(error);
    if (json)
      ctx.stdout.write(`${JSON.stringify({ error: { code: failure.code, message: failure.message } })}\n`);
    ctx.stderr.write(`tokenpak: ${failure.message}\n`);
    return exitCodeFor(failure.code);
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
