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
  /** Reasoning tokens, when priced apart from output (else they are output). */
  reasoning?: Micros;
  /**
   * Long-context tiers, ascending: a request whose input (cached and cache
   * writes included) is above a tier's threshold is priced at that tier,
   * all of it, as the providers bill it.
   */
  tiers?: readonly PriceTier[];
}

export type PriceTier = Omit<Prices, "tiers"> & { above_input_tokens: number };

/** The flat prices a request with `inputTokens` of input pays: its tier's, or the base ones. */
export function pricesAt(prices: Prices, inputTokens: number): Prices {
  const tiers = prices.tiers;
  if (tiers === undefined) return prices;
  let chosen: Prices = { ...prices, tiers: undefined };
  for (const { above_input_tokens, ...rates } of tiers) if (inputTokens > above_input_tokens) chosen = rates;
  return chosen;
}

/**
 * How far past its input estimate (in %) a reservation looks for a
 * long-context tier. The estimate is not the bill: OpenAI-family counts are
 * exact for text but approximate structure and images, other families carry
 * a 25% margin that a tokenizer can still exceed. A tier reprices the whole
 * request at up to twice the base rates, so a request estimated just under a
 * threshold and billed just over it would settle at nearly twice what was
 * reserved — past a hard cap. Within this margin of a threshold, the
 * reservation is made (and max_tokens clamped) at the tier.
 */
export const TIER_MARGIN_PCT = 10;

/**
 * The prices a reservation for `estimatedInput` tokens is made at: the
 * dearer, rate by rate, of the tier the estimate reaches and the tier the
 * estimate plus TIER_MARGIN_PCT reaches. The settle prices the real usage
 * (`costOf`), which may be the lower tier after all.
 */
export function reservationPrices(prices: Prices, estimatedInput: number): Prices {
  const reachTokens = Math.ceil((estimatedInput * (100 + TIER_MARGIN_PCT)) / 100);
  const near = (prices.tiers ?? []).some(
    (t) => estimatedInput <= t.above_input_tokens && reachTokens > t.above_input_tokens,
  );
  const at = pricesAt(prices, estimatedInput);
  if (!near) return at;
  const reach = pricesAt(prices, reachTokens);
  const dearer: Prices = {
    input: Math.max(at.input, reach.input),
    output: Math.max(at.output, reach.output),
    cached_input: Math.max(at.cached_input, reach.cached_input),
    cache_write: Math.max(at.cache_write, reach.cache_write),
    cache_write_1h: Math.max(at.cache_write_1h, reach.cache_write_1h),
  };
  if (at.reasoning !== undefined || reach.reasoning !== undefined)
    dearer.reasoning = Math.max(at.reasoning ?? at.output, reach.reasoning ?? reach.output);
  return dearer;
}

/** The dearer of output and reasoning: what a reserved output token may cost. */
function worstOutput(prices: Prices): Micros {
  return prices.reasoning !== undefined && prices.reasoning > prices.output
    ? prices.reasoning
    : prices.output;
}

/**
 * Cost of a usage record, at the tier its input reaches, rounded up to a
 * whole micro-cent so that many small requests never add up to less than the
 * provider bills.
 */
export function costOf(usage: Usage, prices: Prices): Micros {
  const p = pricesAt(prices, usage.input + usage.cached_input + usage.cache_write + usage.cache_write_1h);
  const reasoning = p.reasoning === undefined ? 0 : Math.min(usage.reasoning, usage.output);
  const perThousand =
    usage.input * p.input +
    usage.cached_input * p.cached_input +
    usage.cache_write * p.cache_write +
    usage.cache_write_1h * p.cache_write_1h +
    (usage.output - reasoning) * p.output +
    reasoning * (p.reasoning ?? p.output);
  return Math.ceil(perThousand / 1000);
}

/** Worst-case cost of `outputTokens` more output (reasoning or not); the clamp uses its inverse. */
export function outputCost(outputTokens: number, prices: Prices): Micros {
  return Math.ceil((outputTokens * worstOutput(prices)) / 1000);
}

/** The most output tokens `budget` micro-cents can pay for. */
export function affordableOutputTokens(budget: Micros, prices: Prices): number {
  if (budget <= 0) return 0;
  const rate = worstOutput(prices);
  if (rate === 0) return Number.POSITIVE_INFINITY;
  return Math.floor((budget * 1000) / rate);
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
 * Fills the prices a source or the config leaves out: cached reads at the
 * input price (they cost less than input everywhere, so that is safe), cache
 * writes at Anthropic's factors of it.
 */
export function completePrices(p: {
  input: Micros;
  output: Micros;
  cached_input?: Micros | undefined;
  cache_write?: Micros | undefined;
  cache_write_1h?: Micros | undefined;
}): Prices {
  return {
    input: p.input,
    output: p.output,
    cached_input: p.cached_input ?? p.input,
    cache_write: p.cache_write ?? scaled(p.input, CACHE_WRITE_FACTOR.fiveMinutes),
    cache_write_1h: p.cache_write_1h ?? scaled(p.input, CACHE_WRITE_FACTOR.oneHour),
  };
}

/**
 * A model's prices from the config. A model without a price is refused
 * (`model_unpriced`), or priced by `pricing.unknown_model` — never at $0,
 * which would let spend through every budget unseen.
 */
export function pricesFor(
  model: string,
  config: { models?: Config["models"]; pricing: Pick<Config["pricing"], "unknown_model"> },
): Prices {
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
  const cents = (price: number | undefined) => (price === undefined ? undefined : centsToMicros(price));
  return completePrices({
    input: centsToMicros(input),
    output: centsToMicros(output),
    cached_input: cents(m?.cached_input_cost_per_1k),
    cache_write: cents(m?.cache_write_cost_per_1k),
    cache_write_1h: cents(m?.cache_write_1h_cost_per_1k),
  });
}
