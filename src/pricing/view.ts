import { microsToCents } from "../money/money.js";
import type { Prices } from "./cost.js";
import type { MatchKind } from "./match.js";
import type { ModelPricing, PriceOrigin } from "./resolve.js";

/** Prices as people read them: US cents per 1,000 tokens. */
export interface RatesView {
  input: number;
  output: number;
  cached_input: number;
  cache_write: number;
  cache_write_1h: number;
  reasoning?: number;
}

export interface PricesView extends RatesView {
  tiers?: (RatesView & { above_input_tokens: number })[];
}

function rates(p: Omit<Prices, "tiers">): RatesView {
  const out: RatesView = {
    input: microsToCents(p.input),
    output: microsToCents(p.output),
    cached_input: microsToCents(p.cached_input),
    cache_write: microsToCents(p.cache_write),
    cache_write_1h: microsToCents(p.cache_write_1h),
  };
  if (p.reasoning !== undefined) out.reasoning = microsToCents(p.reasoning);
  return out;
}

export function pricesView(p: Prices): PricesView {
  const view: PricesView = rates(p);
  if (p.tiers && p.tiers.length > 0)
    view.tiers = p.tiers.map((t) => ({ above_input_tokens: t.above_input_tokens, ...rates(t) }));
  return view;
}

const KIND_TEXT: Record<MatchKind, string> = {
  exact: "exact",
  prefixed: "same name, other spelling",
  dated_variant: "dated variant, same price",
};

/**
 * "table (openai, fetched 2026-12-01T06:18:43Z): gpt-4o-2024-08-06, dated
 * variant, same price", "config (estimated_*)", "pricing.unknown_model".
 */
export function originText(origin: PriceOrigin): string {
  switch (origin.kind) {
    case "config":
      return origin.pinned ? "config (pin_price)" : "config (estimated_*)";
    case "unknown_model":
      return "pricing.unknown_model";
    case "table": {
      const fetched = origin.source ? `, fetched ${origin.source.fetched_at}` : "";
      const via = origin.match.name === origin.match.key ? "" : ` for ${origin.match.name}`;
      return `table (${origin.provider}${fetched}): ${origin.match.key}, ${KIND_TEXT[origin.match.kind]}${via}`;
    }
  }
}

/** One model's price as JSON: prices in cents per 1k, or the error a request for it gets. */
export function pricingJson(p: ModelPricing): Record<string, unknown> {
  const base: Record<string, unknown> = { model: p.model };
  if ("error" in p) {
    base.prices = null;
    base.origin = null;
    base.error = { code: p.error.code, message: p.error.message };
  } else {
    base.prices = pricesView(p.prices);
    base.origin = p.origin;
  }
  if (p.note !== undefined) base.note = p.note;
  return base;
}

/** What an unreadable store means for the prices: said alike by pricing show and validate-config. */
export function unreadableText(why: string): string {
  return `${why}: a proxy starting now prices from the bundled snapshot (a running one keeps the prices it has) until tokenpak sync-pricing replaces the file`;
}
