import type { Command } from "commander";
import type { TargetState } from "../../alerts/outbox.js";
import { parseWindow } from "../../budget/windows.js";
import { TokenpakError } from "../../errors.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { exitCodeFor } from "../exit-codes.js";
import { commandDataDir, loadCommandConfig } from "../load.js";

interface ListFlags {
  since?: string;
}

const DEFAULT_SINCE = "7d";

export function registerAlerts(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  const alerts = program
    .command("alerts")
    .description("test the alert channels, list recent alerts and their delivery")
    .addHelpText(
      "after",
      "\nAlerts go to the alerts log (alerts.log_file, default <data-dir>/alerts.log) and to every\n" +
        "target of budget.alert_webhook: https: webhooks (JSON, signed with alerts.webhook_secret)\n" +
        "and mailto: addresses (through alerts.smtp).",
    );

  alerts
    .command("test")
    .description("send a test alert to the log and every configured target, and report each result")
    .addHelpText(
      "after",
      "\nOne attempt per target, no retries; the daemon need not run. Exits 0 when every channel\n" +
        "took the alert, 8 when any failed. --json prints {id, results: [{channel, target, ok, error?, ms}]}.",
    )
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await alertsTestCommand(ctx, command.optsWithGlobals<GlobalOptions>()));
    });

  alerts
    .command("list")
    .description("show recent alerts and the delivery state of each target")
    .option(
      "--since <when>",
      `how far back: a duration (30m, 24h, 7d) or a date/time (2026-03-25, 2026-03-25T09:00Z); default ${DEFAULT_SINCE}`,
    )
    .addHelpText(
      "after",
      "\nReads the outbox in the data directory (safe while the daemon runs). Each target is\n" +
        "delivered, pending (retrying; next attempt shown), dead (gave up after the last attempt)\n" +
        "or unsent (the channel cannot be used, e.g. mailto: without alerts.smtp).\n" +
        "--json prints {since, alerts: [{...webhook payload, targets: [...]}]}. With --data-dir no config is needed.",
    )
    .action(async (_flags: ListFlags, command: Command) => {
      setExitCode(await alertsListCommand(ctx, command.optsWithGlobals<GlobalOptions & ListFlags>()));
    });
}

export async function alertsTestCommand(ctx: CliContext, options: GlobalOptions): Promise<number> {
  const { sendTestAlert } = await import("../../alerts/test-alert.js");
  const { config, dataDir } = await loadCommandConfig(ctx, options);
  const { alert, results } = await sendTestAlert({ config, dataDir });
  const failed = results.filter((r) => !r.ok).length;
  if (options.json) {
    line(ctx.stdout, JSON.stringify({ id: alert.id, results }, null, 2));
  } else {
    const c = paint(ctx, options);
    const width = Math.max(...results.map((r) => r.channel.length));
    for (const r of results) {
      const mark = r.ok ? c.green("✓") : c.red("✗");
      const outcome = r.ok ? c.dim(`(${r.ms} ms)`) : c.red(r.error ?? "failed");
      line(ctx.stdout, `${mark} ${r.channel.padEnd(width)}  ${r.target}  ${outcome}`);
    }
    if (results.length === 1)
      line(ctx.stdout, c.dim("no targets in budget.alert_webhook: alerts go to the log only"));
    line(
      failed === 0 ? ctx.stdout : ctx.stderr,
      failed === 0
        ? `${c.green("✓")} test alert ${alert.id} reached all ${results.length} channel${results.length === 1 ? "" : "s"}`
        : `${c.red("✗")} ${failed} of ${results.length} channels failed (test alert ${alert.id})`,
    );
  }
  return failed === 0 ? 0 : exitCodeFor("alert_delivery_failed");
}

/** `7d` → now − 7 days; a date or date-time → that instant. */
export function parseSince(text: string, now: number): number {
  const spec = parseWindow(text);
  if (spec?.kind === "rolling") return now - spec.ms;
  const at = Date.parse(text);
  if (Number.isNaN(at)) {
    throw new TokenpakError(
      "invalid_argument",
      `--since must be a duration (30m, 24h, 7d) or a date (2026-03-25), got ${text}`,
    );
  }
  return at;
}

export async function alertsListCommand(
  ctx: CliContext,
  options: GlobalOptions & ListFlags,
): Promise<number> {
  const { listAlerts } = await import("../../alerts/outbox.js");
  const { webhookPayload, logLine } = await import("../../alerts/format.js");
  const since = parseSince(options.since ?? DEFAULT_SINCE, Date.now());
  const dataDir = await commandDataDir(ctx, options);
  const records = listAlerts(dataDir, since);
  if (options.json) {
    const alerts = records.map((r) => ({ ...webhookPayload(r.alert), targets: r.targets }));
    line(ctx.stdout, JSON.stringify({ since: new Date(since).toISOString(), alerts }, null, 2));
    return 0;
  }
  const c = paint(ctx, options);
  if (records.length === 0) {
    line(ctx.stdout, `no alerts since ${new Date(since).toISOString()} (${dataDir})`);
    return 0;
  }
  for (const record of records) {
    line(ctx.stdout, logLine(record.alert));
    for (const t of record.targets) line(ctx.stdout, `    ${targetLine(t, c)}`);
  }
  return 0;
}

function targetLine(t: TargetState, c: ReturnType<typeof paint>): string {
  const tries = `${t.attempts} attempt${t.attempts === 1 ? "" : "s"}`;
  switch (t.state) {
    case "delivered":
      return `${c.green("delivered")}  ${t.label}  ${c.dim(`after ${tries}`)}`;
    case "pending":
      return `${c.yellow("pending  ")}  ${t.label}  ${tries}${t.last_error ? `, last: ${t.last_error}` : ""}${t.next_at ? `; next ${t.next_at}` : ""}`;
    case "dead":
      return `${c.red("dead     ")}  ${t.label}  after ${tries}: ${t.last_error ?? "failed"}`;
    case "unsent":
      return `${c.red("unsent   ")}  ${t.label}  ${t.last_error ?? ""}`;
  }
}
