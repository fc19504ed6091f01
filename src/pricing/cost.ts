import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { centsToMicros, type Micros } from "../money/money.js";
import { ownValue } from "../own.js";
import type { Usage } from "./usage.js";

/** Prices in integer micro-cents per 1,000 tokens. */
export interface Prices {
  input: Micros;
  output: Micros;
  cached_input: Micros;
  /** 5-minute cache writes (the only kind OpenAI-format usage reports). */
  cache_write: Micros;
  cache_write_1h: Micros;
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
    usage.cache_write_1h * prices.cache_write_1h +
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
 * Anthropic bills a 5-minute cache write at 1.25× the input price and a
 * 1-hour write at 2×. These are the defaults when the config sets no price of
 * its own: defaulting to the input price would under-charge every write.
 * OpenAI reports no cache writes, so for its models they never apply.
 */
const CACHE_WRITE_FACTOR = { fiveMinutes: [5, 4], oneHour: [2, 1] } as const;

function scaled(micros: Micros, [num, den]: readonly [number, number]): Micros {
  return Math.ceil((micros * num) / den);
}

/**
 * A model's prices from the config. A model without a price is refused
 * (`model_unpriced`), or priced by `pricing.unknown_model` — never at $0,
 * which would let spend through every budget unseen.
 */
export function pricesFor(model: string, config: Pick<Config, "models" | "pricing">): Prices {
  const m = ownValue(config.models, model);
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
  const inputMicros = centsToMicros(input);
  const set = (price: number | undefined) => (price === undefined ? undefined : centsToMicros(price));
  return {
    input: inputMicros,
    output: centsToMicros(output),
    // Cached reads cost less than input everywhere; the input price is the safe default.
    cached_input: set(m?.cached_input_cost_per_1k) ?? inputMicros,
    cache_write: set(m?.cache_write_cost_per_1k) ?? scaled(inputMicros, CACHE_WRITE_FACTOR.fiveMinutes),
    cache_write_1h: set(m?.cache_write_1h_cost_per_1k) ?? scaled(inputMicros, CACHE_WRITE_FACTOR.oneHour),
  };
}
