import type { Command } from "commander";
import { TokenpakError } from "../../errors.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { loadCommandConfig } from "../load.js";
import { describeLimits } from "./validate-config.js";

interface ProxyFlags {
  host?: string;
  port?: string;
  insecure?: boolean;
}

export function registerProxy(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  program
    .command("proxy")
    .description("run the budget-enforcing proxy (OpenAI and Anthropic compatible)")
    .option("--host <host>", "listen address (default server.host, 127.0.0.1)")
    .option("--port <port>", "listen port (default server.port, 8000; 0 = any free port)")
    .option("--insecure", "allow open mode (no client keys) on a non-loopback address")
    .addHelpText(
      "after",
      "\nPoint clients at the printed URL: OpenAI SDK baseURL <url>/v1, Anthropic SDK baseURL <url>.\n" +
        "SIGINT/SIGTERM stop accepting, let requests in flight finish (up to 10 s), settle and flush.\n" +
        "SIGHUP re-reads the config and the key store (as `tokenpak reload` does); a config that is not\n" +
        "valid is refused and the one in force keeps serving. Each start, reload and stop is logged to\n" +
        'stderr as one JSON line: {"ts", "event": "start"|"reload"|"stop", …}.',
    )
    .action(async (_flags: ProxyFlags, command: Command) => {
      const options = command.optsWithGlobals<GlobalOptions & ProxyFlags>();
      setExitCode(await proxyCommand(ctx, options));
    });
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TokenpakError("invalid_argument", `--port must be a whole number from 0 to 65535, got ${text}`);
  }
  return port;
}

export async function proxyCommand(ctx: CliContext, options: GlobalOptions & ProxyFlags): Promise<number> {
  const { summarize } = await import("../../config/summary.js");
  const { startProxy } = await import("../../server/serve.js");

  const { config, warnings, dataDir, file } = await loadCommandConfig(ctx, options);
  const c = paint(ctx, options);
  // One JSON line per start, reload and stop: what a service manager's journal keeps.
  const log = (event: object) => line(ctx.stderr, JSON.stringify({ ts: new Date().toISOString(), ...event }));
  const proxy = await startProxy({
    config,
    dataDir,
    host: options.host,
    port: parsePort(options.port),
    insecure: options.insecure,
    configFile: file,
    env: ctx.env,
    log,
  });

  const s = summarize(config);
  const budgets = [`workspace ${describeLimits(s.budget)}`];
  if (s.users.length > 0) budgets.push(`${s.users.length} user limit${s.users.length === 1 ? "" : "s"}`);
  if (s.default_user) budgets.push(`other users ${describeLimits(s.default_user)}`);
  if (s.projects.length > 0)
    budgets.push(`${s.projects.length} project${s.projects.length === 1 ? "" : "s"}`);
  if (s.budget.fallback_model) budgets.push(`fallback ${s.budget.fallback_model}`);
  if (options.json) {
    line(
      ctx.stdout,
      JSON.stringify({
        url: proxy.url,
        data_dir: dataDir,
        open_mode: proxy.openMode,
        recovery: proxy.recovery,
        pricing: { ...proxy.prices.status(Date.now()), stale_notice: proxy.pricingStale ?? null },
      }),
    );
  } else {
    line(
      ctx.stdout,
      `${c.green("✓")} tokenpak proxy on ${c.bold(proxy.url)} — ${s.budget.enabled ? budgets.join("; ") : "budgets disabled"}`,
    );
    if (proxy.recovery.recovered > 0) {
      line(
        ctx.stderr,
        `${c.yellow("!")} charged ${proxy.recovery.recovered} request(s) at their reservation: in flight when tokenpak last stopped, their end never reached the journal (a crash, or a full disk)`,
      );
    }
    for (const w of proxy.recovery.warnings) line(ctx.stderr, `${c.yellow("!")} ${w}`);
    const { withStoredKeys } = await import("../../config/semantic.js");
    for (const w of proxy.openMode ? warnings : withStoredKeys(warnings))
      line(ctx.stderr, `${c.yellow("!")} ${w.path}  ${w.message}`);
    if (proxy.pricingStale) line(ctx.stderr, `${c.yellow("!")} ${proxy.pricingStale}`);
  }

  // The reload logs its own line, done or refused: nothing more to say here.
  const hangup = () => void proxy.reload("SIGHUP").catch(() => {});
  process.on("SIGHUP", hangup);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  process.off("SIGHUP", hangup);
  const { interrupted } = await proxy.close();
  if (!options.json) {
    const cut =
      interrupted > 0
        ? ` (${interrupted} request(s) still in flight after the drain charged at their reservation)`
        : "";
    line(ctx.stderr, `tokenpak proxy stopped; ledger flushed${cut}`);
  }
  return 0;
}
