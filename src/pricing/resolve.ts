import type { Config, ResolvedModel } from "../config/types.generated.js";
import { isTokenpakError, type TokenpakError } from "../errors.js";
import { completePrices, type Prices, pricesFor } from "./cost.js";
import { type Match, type MatchResult, matchEntry } from "./match.js";
import {
  type EntryRates,
  PRICE_PROVIDERS,
  type PriceEntry,
  type PriceProvider,
  type PriceTable,
  type SourceInfo,
} from "./table.js";

/** Where a model's price comes from. */
export type PriceOrigin =
  | { kind: "config"; pinned: boolean }
  | { kind: "table"; provider: PriceProvider; source: SourceInfo | undefined; match: Omit<Match, "entry"> }
  | { kind: "unknown_model" };

export type ModelPricing =
  | { model: string; prices: Prices; origin: PriceOrigin; note?: string }
  | { model: string; error: TokenpakError; note?: string };

export type PricingConfig = Pick<Config, "models" | "providers" | "pricing">;

/** The price-table providers a configured model may be priced from, by its provider's type. */
export function tableProviders(model: ResolvedModel, config: Pick<Config, "providers">): PriceProvider[] {
  const type = config.providers?.[model.provider]?.type;
  if (type === "openai" || type === "anthropic") return [type];
  // An OpenAI-compatible endpoint may serve either's models (a gateway); the mock bills nothing real.
  return type === "openai-compatible" ? [...PRICE_PROVIDERS] : [];
}

/** The names a configured model is known by upstream: upstream_model first (that is what is billed). */
export function billedNames(name: string, model: ResolvedModel): string[] {
  return model.upstream_model !== undefined && model.upstream_model !== name
    ? [model.upstream_model, name]
    : [name];
}

/** The table entry a configured model is priced from, if any. */
export function tableMatch(
  name: string,
  model: ResolvedModel,
  config: PricingConfig,
  table: PriceTable,
): MatchResult {
  const providers = tableProviders(model, config);
  if (providers.length === 0) return { none: true };
  return matchEntry(billedNames(name, model), providers, table.entries);
}

function ratesPrices(r: EntryRates): Prices {
  const prices = completePrices(r);
  if (r.reasoning !== undefined) prices.reasoning = r.reasoning;
  return prices;
}

/** A table entry as the prices the ledger charges. */
export function entryPrices(entry: PriceEntry): Prices {
  const prices = ratesPrices(entry);
  if (entry.tiers && entry.tiers.length > 0) {
    prices.tiers = entry.tiers.map((t) => ({ above_input_tokens: t.above_input_tokens, ...ratesPrices(t) }));
  }
  return prices;
}

function fromConfig(name: string, config: PricingConfig, pinned: boolean): ModelPricing {
  const m = config.models?.[name];
  const own = m?.estimated_input_cost_per_1k !== undefined && m.estimated_output_cost_per_1k !== undefined;
  try {
    const prices = pricesFor(name, config);
    return { model: name, prices, origin: own ? { kind: "config", pinned } : { kind: "unknown_model" } };
  } catch (error) {
    if (isTokenpakError(error)) return { model: name, error };
    throw error;
  }
}

/**
 * One model's price, by precedence: `pin_price: true` keeps the config's
 * prices; otherwise the price table's entry wins over `estimated_*`; with
 * neither, `pricing.unknown_model` prices it or it is refused — never $0. Pure.
 */
export function resolveModel(
  name: string,
  config: PricingConfig,
  table: PriceTable | undefined,
): ModelPricing {
  const model = config.models?.[name];
  if (!model) return fromConfig(name, config, false);
  if (model.pin_price === true) return fromConfig(name, config, true);
  if (table) {
    const found = tableMatch(name, model, config, table);
    if ("match" in found) {
      const { entry, ...match } = found.match;
      return {
        model: name,
        prices: entryPrices(entry),
        origin: { kind: "table", provider: entry.provider, source: table.sources[entry.provider], match },
      };
    }
    if ("ambiguous" in found) {
      const note = `the price table lists ${found.ambiguous.keys.join(", ")} at different prices: name one in upstream_model`;
      return { ...fromConfig(name, config, false), note };
    }
  }
  return fromConfig(name, config, false);
}

/** Every configured model's price. */
export function resolvePricing(
  config: PricingConfig,
  table: PriceTable | undefined,
): Map<string, ModelPricing> {
  return new Map(Object.keys(config.models ?? {}).map((name) => [name, resolveModel(name, config, table)]));
}
