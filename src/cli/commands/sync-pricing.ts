import { dirname, resolve } from "node:path";
import { type Command, Option } from "commander";
import { TokenpakError } from "../../errors.js";
import { microsToCents } from "../../money/money.js";
import type { DiffRow, Finding } from "../../pricing/diff.js";
import type { FormatOption } from "../../pricing/parse.js";
import type { SyncResult } from "../../pricing/sync.js";
import { PRICE_PROVIDERS, type PriceProvider } from "../../pricing/table.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { exitCodeFor, exitCodesLine } from "../exit-codes.js";
import { loadCommandConfig } from "../load.js";
import { columns } from "../table.js";

interface SyncFlags {
  provider: PriceProvider | "all";
  source?: string;
  format: FormatOption;
  dryRun?: boolean;
  allowZero?: boolean;
  force?: boolean;
  quiet?: boolean;
}

export function registerSyncPricing(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  program
    .command("sync-pricing")
    .description("update the price table from the sources people maintain (LiteLLM, OpenRouter)")
    .addOption(
      new Option("--provider <provider>", "whose prices to update")
        .choices(["openai", "anthropic", "all"])
        .default("all"),
    )
    .option("--source <url|file>", "read prices from here instead of pricing.sources")
    .addOption(
      new Option("--format <format>", "the source's format")
        .choices(["litellm", "openrouter", "auto"])
        .default("auto"),
    )
    .option("--dry-run", "show what would change; write nothing")
    .option("--allow-zero", "accept a $0 price for a model that was paid")
    .option("--force", "accept a price that changes more than 10× at once")
    .option("-q, --quiet", "print nothing on success (for cron); one line on stderr on failure")
    .addHelpText(
      "after",
      "\nPrints old → new prices (cents per 1k tokens) of every configured model the sync covers, and\n" +
        "warns about changes over 50% and models the source does not know. A network or HTTP error, a\n" +
        "timeout, a document that is truncated, in the wrong format, or would drop a configured model's\n" +
        "price leaves the table as it was; so does a $0 price or a >10× change for a paid model, unless\n" +
        "--allow-zero / --force. A running proxy picks the new table up by itself.\n" +
        "--json (global) prints the same as data: {written, dry_run, path, revision, before, sources,\n" +
        "entries, models: [{model, changed, change_pct, before, after}], warnings, refusals, notes, error?}.\n" +
        exitCodesLine([0, 1, 2, 3, 4, 9, 10, 11], {
          0: "updated (or unchanged; also --dry-run)",
          4: "another sync holds the lock",
        }),
    )
    .action(async (_flags: SyncFlags, command: Command) => {
      setExitCode(await syncPricingCommand(ctx, command.optsWithGlobals<GlobalOptions & SyncFlags>()));
    });
}

const cents = (n: number | undefined) => (n === undefined ? "—" : String(n));

function pricesOf(p: DiffRow["before"]) {
  return "prices" in p ? p.prices : undefined;
}

function rowCells(row: DiffRow): string[] {
  const old = pricesOf(row.before);
  const now = pricesOf(row.after);
  const pair = (k: "input" | "output" | "cached_input") => {
    const a = old ? microsToCents(old[k]) : undefined;
    const b = now ? microsToCents(now[k]) : undefined;
    return a === b ? cents(b) : `${cents(a)} → ${cents(b)}`;
  };
  const entry = "origin" in row.after && row.after.origin.kind === "table" ? row.after.origin.match.key : "—";
  const changes = (["input", "output", "cached_input"] as const)
    .map((k) => [k, row.change_pct[k]] as const)
    .filter(([, v]) => v !== null && v !== 0)
    .map(
      ([k, v]) =>
        `${k === "cached_input" ? "cached" : k === "input" ? "in" : "out"} ${(v ?? 0) > 0 ? "+" : ""}${v}%`,
    );
  const from = (p: DiffRow["before"]) => ("origin" in p ? p.origin.kind : "none");
  const moved = from(row.before) !== from(row.after) ? `${from(row.before)} → ${from(row.after)}` : "";
  const change = [moved, ...changes].filter((s) => s !== "").join(", ");
  return [
    row.model,
    entry,
    pair("input"),
    pair("output"),
    pair("cached_input"),
    row.changed ? change || "changed" : "—",
  ];
}

function resultJson(r: SyncResult, pricingJson: (p: DiffRow["before"]) => Record<string, unknown>) {
  return {
    written: r.written,
    dry_run: r.dry_run,
    path: r.path,
    revision: r.revision,
    before: r.before,
    sources: r.sources,
    entries: r.diff.entries,
    models: r.diff.rows.map((row) => ({
      model: row.model,
      changed: row.changed,
      change_pct: row.change_pct,
      before: pricingJson(row.before),
      after: pricingJson(row.after),
    })),
    warnings: r.diff.warnings,
    refusals: r.diff.refusals,
    notes: r.notes,
  };
}

function refusalError(refusals: Finding[]): TokenpakError {
  const [first] = refusals as [Finding, ...Finding[]];
  const more = refusals.length > 1 ? ` (and ${refusals.length - 1} more)` : "";
  const hint = first.override ? `; pass ${first.override} to accept it` : "";
  return new TokenpakError(
    "pricing_refused",
    `sync-pricing refused: ${first.message}${more}${hint}; the price table is unchanged`,
  );
}

export async function syncPricingCommand(
  ctx: CliContext,
  options: GlobalOptions & SyncFlags,
): Promise<number> {
  const { syncPricing } = await import("../../pricing/sync.js");
  const { pricingJson } = await import("../../pricing/view.js");
  const { file, config, dataDir } = await loadCommandConfig(ctx, options);
  const providers = options.provider === "all" ? [...PRICE_PROVIDERS] : [options.provider];
  // A path typed on the command line is relative to where it was typed; pricing.sources' to the config file.
  // A URL of any scheme is left as typed: the fetch names an unsupported one.
  const source =
    options.source === undefined || /^[a-z][a-z0-9+.-]+:/i.test(options.source)
      ? options.source
      : resolve(ctx.cwd, options.source);
  const result = await syncPricing({
    config,
    dataDir,
    baseDir: dirname(file),
    providers,
    source,
    format: options.format,
    dryRun: options.dryRun === true,
    allowZero: options.allowZero === true,
    force: options.force === true,
  });
  const refused = result.diff.refusals.length > 0;

  if (options.json) {
    const out: Record<string, unknown> = resultJson(result, pricingJson);
    if (refused) {
      const error = refusalError(result.diff.refusals);
      out.error = { code: error.code, message: error.message };
      line(ctx.stdout, JSON.stringify(out, null, 2));
      return exitCodeFor(error.code);
    }
    line(ctx.stdout, JSON.stringify(out, null, 2));
    return 0;
  }
  if (refused && options.quiet) throw refusalError(result.diff.refusals);
  if (options.quiet) return 0;

  const c = paint(ctx, options);
  for (const s of result.sources) {
    line(
      ctx.stdout,
      `${s.source} (${s.format}, sha256 ${s.sha256.slice(0, 12)}…): ${s.models} ${s.providers.join(" + ")} models${s.skipped > 0 ? `, ${s.skipped} without per-token prices left out` : ""}`,
    );
  }
  for (const note of result.notes) line(ctx.stderr, `${c.yellow("!")} ${note}`);
  if (result.diff.rows.length > 0) {
    const header = ["MODEL", "ENTRY", "INPUT ¢/1k", "OUTPUT ¢/1k", "CACHED ¢/1k", "CHANGE"];
    const [head, ...body] = columns([header, ...result.diff.rows.map(rowCells)]);
    line(ctx.stdout, c.bold(head ?? ""));
    for (const l of body) line(ctx.stdout, l);
  } else {
    line(ctx.stdout, c.dim(`no configured model is priced from ${providers.join(" or ")} prices`));
  }
  for (const w of result.diff.warnings) line(ctx.stdout, `${c.yellow("!")} ${w.message}`);
  if (refused) {
    // The error line names the first; list them all when there are more.
    if (result.diff.refusals.length > 1) {
      for (const f of result.diff.refusals)
        line(ctx.stderr, `${c.red("✗")} ${f.message}${f.override ? ` (${f.override} accepts it)` : ""}`);
    }
    throw refusalError(result.diff.refusals);
  }
  const changed = result.diff.rows.filter((r) => r.changed).length;
  const e = result.diff.entries;
  const summary = `${changed} of ${result.diff.rows.length} configured model${result.diff.rows.length === 1 ? "" : "s"} changed; ${e.total} entries (${e.changed} changed, ${e.added} new, ${e.removed} gone)`;
  line(
    ctx.stdout,
    result.dry_run
      ? `${c.cyan("·")} dry run: nothing written (${summary}; would be revision ${result.revision} of ${result.path})`
      : `${c.green("✓")} prices updated: ${summary}; revision ${result.revision} written to ${result.path}`,
  );
  return 0;
}
