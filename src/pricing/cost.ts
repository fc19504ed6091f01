import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { centsToMicros, type Micros } from "../money/money.js";
import type { Usage } from "./usage.js";

/** Prices in integer micro-cents per 1,000 tokens. */
export interface Prices {
  input: Micros;
  output: Micros;
  cached_input: Micros;
  cache_write: Micros;
}

/**
 * Cost of a usage record, rounded up to a whole micro-cent so that many small
 * requests never add up to less than the provider bills.
 */
export function costOf(usage: Usage, prices: Prices): Micros {
  const perThousand =
    usage.input * prices.input +
    usage.cached_input * prices.cached_input +
    usage.cache_write * prices.cache_write +
    usage.output * prices.output;
  return Math.ceil(perThousand / 1000);
}

/** Cost of `outputTokens` more output; the clamp uses its inverse. */
export function outputCost(outputTokens: number, prices: Prices): Micros {
  return Math.ceil((outputTokens * prices.output) / 1000);
}

/** The most output tokens `budget` micro-cents can pay for. */
export function affordableOutputTokens(budget: Micros, prices: Prices): number {
  if (budget <= 0) return 0;
  if (prices.output === 0) return Number.POSITIVE_INFINITY;
  return Math.floor((budget * 1000) / prices.output);
}

/**
 * A model's prices from the config. A model without a price is refused
 * (`model_unpriced`), or priced by `pricing.unknown_model` — never at $0,
 * which would let spend through every budget unseen.
 */
export function pricesFor(model: string, config: Pick<Config, "models" | "pricing">): Prices {
  const m = config.models?.[model];
  const fallback = config.pricing.unknown_model;
  const input =
    m?.estimated_input_cost_per_1k ?? (fallback === "refuse" ? undefined : fallback.input_cost_per_1k);
  const output =
    m?.estimated_output_cost_per_1k ?? (fallback === "refuse" ? undefined : fallback.output_cost_per_1k);
  if (input === undefined || output === undefined) {
    throw new TokenpakError(
      "model_unpriced",
      `model ${model} has no ${input === undefined ? "input" : "output"} price: set models.${model}.estimated_${input === undefined ? "input" : "output"}_cost_per_1k or pricing.unknown_model`,
      { model },
    );
  }
  return {
    input: centsToMicros(input),
    output: centsToMicros(output),
    cached_input: centsToMicros(m?.cached_input_cost_per_1k ?? input),
    cache_write: centsToMicros(m?.cache_write_cost_per_1k ?? input),
  };
}
