import { relative, sep } from "node:path";
import type { Command } from "commander";
import type { CheckResult } from "../../config/load.js";
import {
  formatPath,
  problemLine as formatProblem,
  type PathSegment,
  type Problem,
} from "../../config/problem.js";
import type { ConfigSummary, LimitsSummary } from "../../config/summary.js";
import type { Config } from "../../config/types.generated.js";
import { formatCents } from "../../money/money.js";
import type { ModelPricing } from "../../pricing/resolve.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";

export function registerValidateConfig(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  program
    .command("validate-config")
    .description("check a config file and show what it enforces")
    .argument("[file]", "config file (overrides --config)")
    .addHelpText(
      "after",
      "\nPrints every problem as FILE:LINE:COL  json.path  message, with a hint where one helps.\n" +
        "Each model's price is shown as it will be charged, with where it comes from (the price table\n" +
        "in the data directory or bundled with tokenpak, the config, pricing.unknown_model); a model\n" +
        "with no price at all is a warning. Exits 0 when valid (warnings allowed), 1 when not.\n" +
        "--json prints {valid, errors, warnings, summary}.",
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
  const dataDir = result.config
    ? resolveDataDir({
        explicit: options.dataDir,
        storagePath: result.config.storage.path,
        configFile: path,
        cwd: ctx.cwd,
        env: ctx.env,
      })
    : null;
  const pricing = result.config && dataDir !== null ? await priceCheck(result, dataDir) : undefined;
  const summary = result.config ? summarize(result.config, pricing) : null;

  if (options.json) {
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
  const problemLine = (p: Problem) => formatProblem(shown, p, c);

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

/**
 * Where each model's price will come from (the price table in the data
 * directory, or the bundled one), with a warning for every model that has
 * none: its requests would be refused.
 */
async function priceCheck(
  result: CheckResult,
  dataDir: string,
): Promise<Map<string, ModelPricing> | undefined> {
  const { tableInForce } = await import("../../pricing/store.js");
  const { resolvePricing } = await import("../../pricing/resolve.js");
  const { unreadableText } = await import("../../pricing/view.js");
  const config = result.config as Config;
  const warn = (path: PathSegment[], message: string, hint: string) =>
    result.warnings.push({
      severity: "warning",
      path: formatPath(path),
      ...(result.locate?.(path, "key") ?? { line: 1, col: 1 }),
      message,
      hint,
    });
  // The table the proxy would price from: an unreadable store means the bundled snapshot, not no prices.
  const { table, unreadable } = tableInForce(dataDir);
  if (unreadable !== undefined) warn(["pricing"], unreadableText(unreadable), "run tokenpak sync-pricing");
  const pricing = resolvePricing(config, table);
  for (const p of pricing.values()) {
    if (p.note !== undefined) warn(["models", p.model], `${p.model}: ${p.note}`, "or set pin_price: true");
    if ("error" in p) {
      warn(
        ["models", p.model],
        `model ${p.model} has no price: the price table does not know it and it has no estimated_* prices, so its requests are refused`,
        "run tokenpak sync-pricing, name the provider's model in upstream_model, or set estimated_input_cost_per_1k and estimated_output_cost_per_1k (or pricing.unknown_model)",
      );
    }
  }
  result.warnings.sort((a, b) => a.line - b.line || a.col - b.col);
  return pricing;
}

/** A path as the user would write it from `cwd`: relative when inside it. */
export function displayPath(path: string, cwd: string): string {
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
  if (s.models.length > 0) lines.push(`Models: ${s.models.map(modelText).join(", ")}`);
  if (b.enabled) {
    const mode = b.reject_on_exceed
      ? `blocks at ${b.hard_stop_pct}%`
      : "soft mode: serves and records overruns";
    const fallback = b.fallback_model ? `, falls back to ${b.fallback_model}` : "";
    lines.push(`Alerts at ${b.alert_thresholds_pct.map((p) => `${p}%`).join(", ")}; ${mode}${fallback}`);
  }
  return lines;
}

/** "gpt-4 → openai (3¢ in, 6¢ out per 1k, price table: gpt-4)" */
function modelText(m: ConfigSummary["models"][number]): string {
  const price = (n: number | null | undefined) => (n === undefined || n === null ? "?" : `${n}¢`);
  const e = m.effective;
  if (!e)
    return `${m.name} → ${m.provider} (${price(m.input_cost_per_1k)} in, ${price(m.output_cost_per_1k)} out per 1k)`;
  if (e.from === "none") return `${m.name} → ${m.provider} (no price: refused)`;
  const from =
    e.from === "table"
      ? `price table: ${e.entry}`
      : e.from === "pin_price"
        ? "config, pinned"
        : e.from === "unknown_model"
          ? "pricing.unknown_model"
          : "config";
  return `${m.name} → ${m.provider} (${price(e.input_cost_per_1k)} in, ${price(e.output_cost_per_1k)} out per 1k, ${from})`;
}
