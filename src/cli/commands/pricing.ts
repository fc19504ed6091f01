import type { Command } from "commander";
import { TokenpakError } from "../../errors.js";
import type { ModelPricing } from "../../pricing/resolve.js";
import type { PricesView, RatesView } from "../../pricing/view.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { exitCodesLine } from "../exit-codes.js";
import { loadCommandConfig } from "../load.js";
import { columns } from "../table.js";

export function registerPricing(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  const pricing = program.command("pricing").description("show the prices requests are charged at");
  pricing
    .command("show")
    .description("the effective price of every configured model, and where it comes from")
    .argument("[model]", "only this configured model")
    .addHelpText(
      "after",
      "\nCents per 1,000 tokens: input, output, cached input, cache writes (5-minute, 1-hour), reasoning (when\n" +
        "priced apart from output) and long-context tiers (a request whose input is above the threshold is priced\n" +
        "at the tier, all of it). FROM says where each price comes from: the synced table (the source\n" +
        "entry matched, the source and when it was fetched), the config (estimated_*, or pin_price),\n" +
        "or pricing.unknown_model. --json (global) prints {table: {from, path, revision, updated_at, sources,\n" +
        "stale, unreadable?}, models: [{model, prices, origin, error?, note?}]}.\n" +
        exitCodesLine([0, 1, 2, 3], { 1: "invalid input (the config, or MODEL is not configured)" }),
    )
    .action(async (model: string | undefined, _flags: unknown, command: Command) => {
      setExitCode(await pricingShowCommand(ctx, command.optsWithGlobals<GlobalOptions>(), model));
    });
}

const n = (v: number | undefined) => (v === undefined ? "—" : String(v));

function tierText(t: RatesView & { above_input_tokens: number }): string {
  return `>${t.above_input_tokens / 1000}k: ${t.input}/${t.output}/${t.cached_input}/${t.cache_write}`;
}

function cells(p: ModelPricing, view: PricesView | undefined, origin: string): string[] {
  if (!view)
    return [p.model, "—", "—", "—", "—", "—", "—", "—", `refused: ${"error" in p ? p.error.message : ""}`];
  return [
    p.model,
    n(view.input),
    n(view.output),
    n(view.cached_input),
    n(view.cache_write),
    n(view.cache_write_1h),
    n(view.reasoning),
    view.tiers?.map(tierText).join("; ") ?? "—",
    origin,
  ];
}

export async function pricingShowCommand(
  ctx: CliContext,
  options: GlobalOptions,
  model: string | undefined,
): Promise<number> {
  const { tableInForce, storePath } = await import("../../pricing/store.js");
  const { resolvePricing } = await import("../../pricing/resolve.js");
  const { tableStatus } = await import("../../pricing/book.js");
  const { originText, pricesView, pricingJson, unreadableText } = await import("../../pricing/view.js");
  const { config, dataDir } = await loadCommandConfig(ctx, options);
  const configured = Object.keys(config.models ?? {});
  if (model !== undefined && !configured.includes(model)) {
    throw new TokenpakError(
      "unknown_model",
      `model ${model} is not configured${configured.length > 0 ? ` (configured: ${configured.join(", ")})` : ""}`,
    );
  }
  // The table and the staleness exactly as the proxy has them.
  const { unreadable, ...loaded } = tableInForce(dataDir);
  const { table, from } = loaded;
  const all = resolvePricing(config, table);
  const shown = [...all.values()].filter((p) => model === undefined || p.model === model);
  const { stale } = tableStatus(loaded, all.values(), Date.now(), config.pricing.stale_after_hours);
  const tableInfo = {
    from,
    path: from === "store" ? storePath(dataDir) : null,
    revision: table.revision,
    updated_at: table.updated_at,
    sources: table.sources,
    stale,
    ...(unreadable !== undefined ? { unreadable } : {}),
  };

  if (options.json) {
    line(ctx.stdout, JSON.stringify({ table: tableInfo, models: shown.map(pricingJson) }, null, 2));
    return 0;
  }
  const c = paint(ctx, options);
  const where =
    from === "store"
      ? `synced table ${tableInfo.path} (revision ${table.revision})`
      : unreadable !== undefined
        ? "bundled snapshot (the synced table cannot be read)"
        : "bundled snapshot (nothing synced yet)";
  line(ctx.stdout, `Prices in cents per 1k tokens. Table: ${where}`);
  if (unreadable !== undefined) line(ctx.stderr, `${c.yellow("!")} ${unreadableText(unreadable)}`);
  for (const [provider, info] of Object.entries(table.sources)) {
    if (info)
      line(ctx.stdout, c.dim(`  ${provider}: ${info.source} (${info.format}), fetched ${info.fetched_at}`));
  }
  if (stale) {
    line(
      ctx.stdout,
      `${c.yellow("!")} the table is older than pricing.stale_after_hours (${config.pricing.stale_after_hours} h): run tokenpak sync-pricing`,
    );
  }
  const header = [
    "MODEL",
    "INPUT",
    "OUTPUT",
    "CACHED",
    "CACHE WRITE",
    "WRITE 1H",
    "REASONING",
    "LONG CONTEXT (in/out/cached/write)",
    "FROM",
  ];
  const rows = shown.map((p) =>
    cells(p, "prices" in p ? pricesView(p.prices) : undefined, "origin" in p ? originText(p.origin) : ""),
  );
  const [head, ...body] = columns([header, ...rows]);
  line(ctx.stdout, c.bold(head ?? ""));
  for (const l of body) line(ctx.stdout, l);
  for (const p of shown) if (p.note !== undefined) line(ctx.stdout, `${c.yellow("!")} ${p.model}: ${p.note}`);
  return 0;
}
