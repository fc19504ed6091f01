import { relative, sep } from "node:path";
import type { Command } from "commander";
import type { Problem } from "../../config/problem.js";
import type { ConfigSummary, LimitsSummary } from "../../config/summary.js";
import { formatCents } from "../../money/money.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";

export function registerValidateConfig(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  program
    .command("validate-config")
    .description("check a config file and show what it enforces")
    .argument("[file]", "config file (overrides --config)")
    .addHelpText(
      "after",
      "\nPrints every problem as FILE:LINE:COL  json.path  message, with a hint where one helps.\n" +
        "Exits 0 when valid (warnings allowed), 1 when not. --json prints {valid, errors, warnings, summary}.",
    )
    .action(async (file: string | undefined, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<GlobalOptions>();
      setExitCode(await validateConfigCommand(ctx, options, file));
    });
}

export async function validateConfigCommand(
  ctx: CliContext,
  options: GlobalOptions,
  file: string | undefined,
): Promise<number> {
  // Loaded on use so that `tokenpak --help` stays fast.
  const { checkConfig, readConfigText } = await import("../../config/load.js");
  const { resolveConfigPath, resolveDataDir } = await import("../../config/paths.js");
  const { summarize } = await import("../../config/summary.js");

  const path = resolveConfigPath(file ?? options.config, ctx.cwd, ctx.env);
  const shown = displayPath(path, ctx.cwd);
  const result = checkConfig(await readConfigText(path), shown, ctx.env);
  const summary = result.config ? summarize(result.config) : null;

  if (options.json) {
    const dataDir = result.config
      ? resolveDataDir({
          explicit: options.dataDir,
          storagePath: result.config.storage.path,
          configFile: path,
          cwd: ctx.cwd,
          env: ctx.env,
        })
      : null;
    const out = {
      valid: result.valid,
      file: shown,
      errors: result.errors,
      warnings: result.warnings,
      summary: summary && { ...summary, data_dir: dataDir },
    };
    line(ctx.stdout, JSON.stringify(out, null, 2));
    return result.valid ? 0 : 1;
  }

  const c = paint(ctx, options);
  const problemLine = (p: Problem) =>
    `${shown}:${p.line}:${p.col}  ${c.bold(p.path)}  ${p.message}${p.hint ? c.dim(` (${p.hint})`) : ""}`;

  if (!summary) {
    for (const p of result.errors) line(ctx.stderr, `${c.red("✗")} ${problemLine(p)}`);
    for (const p of result.warnings) line(ctx.stderr, `${c.yellow("!")} ${problemLine(p)}`);
    const n = result.errors.length;
    line(ctx.stderr, c.red(`✗ Config invalid: ${n} error${n === 1 ? "" : "s"} in ${shown}`));
    return 1;
  }
  for (const text of summaryLines(summary)) line(ctx.stdout, `${c.green("✓")} ${text}`);
  for (const p of result.warnings) line(ctx.stdout, `${c.yellow("!")} ${problemLine(p)}`);
  return 0;
}

function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel.startsWith(`..${sep}`) || rel === ".." ? path : rel;
}

/** "$3.00/day, $50.00/month, 100,000 tokens/day, $8.00/24h" */
export function describeLimits(l: LimitsSummary): string {
  const parts: string[] = [];
  if (l.daily_limit_cents !== undefined) parts.push(`${formatCents(l.daily_limit_cents)}/day`);
  if (l.monthly_limit_cents !== undefined) parts.push(`${formatCents(l.monthly_limit_cents)}/month`);
  if (l.daily_limit_tokens !== undefined)
    parts.push(`${l.daily_limit_tokens.toLocaleString("en-US")} tokens/day`);
  if (l.monthly_limit_tokens !== undefined) {
    parts.push(`${l.monthly_limit_tokens.toLocaleString("en-US")} tokens/month`);
  }
  for (const r of l.rolling ?? []) {
    if (r.limit_cents !== undefined) parts.push(`${formatCents(r.limit_cents)}/${r.window}`);
    if (r.limit_tokens !== undefined)
      parts.push(`${r.limit_tokens.toLocaleString("en-US")} tokens/${r.window}`);
    if (r.limit_requests !== undefined) parts.push(`${r.limit_requests} requests/${r.window}`);
  }
  return parts.length > 0 ? parts.join(", ") : "no limits";
}

export function summaryLines(s: ConfigSummary): string[] {
  const lines = ["Config valid"];
  const b = s.budget;
  if (!b.enabled) {
    lines.push("Budget tracking disabled: requests are priced and recorded, never blocked");
  } else {
    const windows: string[] = [];
    if (b.daily_limit_cents !== undefined) windows.push(`daily: ${formatCents(b.daily_limit_cents)}`);
    if (b.monthly_limit_cents !== undefined) windows.push(`monthly: ${formatCents(b.monthly_limit_cents)}`);
    lines.push(
      `Budget tracking enabled (${windows.length > 0 ? windows.join(", ") : "no workspace dollar limits"})`,
    );
  }
  const users = s.users.map((u) => `${u.user} (${describeLimits(u)})`);
  if (s.default_user) users.push(`everyone else (${describeLimits(s.default_user)})`);
  if (users.length > 0) lines.push(`Per-user limits: ${users.join(", ")}`);
  if (s.teams.length > 0)
    lines.push(`Teams: ${s.teams.map((t) => `${t.name} (${describeLimits(t)})`).join(", ")}`);
  if (s.projects.length > 0) {
    const projects = s.projects.map(
      (p) => `${p.name}${p.team ? ` in ${p.team}` : ""} (${describeLimits(p)})`,
    );
    lines.push(`Projects: ${projects.join(", ")}`);
  }
  if (s.keys.length > 0) lines.push(`Keys: ${s.keys.map((k) => `${k.name} → ${k.project}`).join(", ")}`);
  if (s.providers.length > 0)
    lines.push(`Providers: ${s.providers.map((p) => `${p.name} (${p.type})`).join(", ")}`);
  if (s.models.length > 0) {
    const price = (n: number | undefined) => (n === undefined ? "?" : `${n}¢`);
    const models = s.models.map(
      (m) =>
        `${m.name} → ${m.provider} (${price(m.input_cost_per_1k)} in, ${price(m.output_cost_per_1k)} out per 1k)`,
    );
    lines.push(`Models: ${models.join(", ")}`);
  }
  if (b.enabled) {
    const mode = b.reject_on_exceed
      ? `blocks at ${b.hard_stop_pct}%`
      : "soft mode: serves and records overruns";
    const fallback = b.fallback_model ? `, falls back to ${b.fallback_model}` : "";
    lines.push(`Alerts at ${b.alert_thresholds_pct.map((p) => `${p}%`).join(", ")}; ${mode}${fallback}`);
  }
  return lines;
}
