import { describe, expect, it } from "vitest";
import { centsToMicros } from "../money/money.js";
import {
  affordableOutputTokens,
  costOf,
  outputCost,
  pricesAt,
  pricesFor,
  reservationPrices,
  TIER_MARGIN_PCT,
} from "./cost.js";
import { NO_USAGE, readAnthropicUsage, readOpenAIUsage, type Usage, type UsageReading } from "./usage.js";

function read(r: UsageReading): Usage {
  if (!r.ok) throw new Error(r.reason);
  return r.usage;
}

const refuse = { stale_after_hours: 24, unknown_model: "refuse" as const, unknown_tool: "refuse" as const };

describe("cost", () => {
  const config = {
    models: {
      "gpt-4": { provider: "openai", estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 },
      "gpt-4o": {
        provider: "openai",
        estimated_input_cost_per_1k: 0.25,
        estimated_output_cost_per_1k: 1,
        cached_input_cost_per_1k: 0.125,
      },
      claude: {
        provider: "anthropic",
        estimated_input_cost_per_1k: 0.3,
        estimated_output_cost_per_1k: 1.5,
        cached_input_cost_per_1k: 0.03,
        cache_write_cost_per_1k: 0.375,
      },
      unpriced: { provider: "openai" },
    },
    pricing: refuse,
  };

  it("prices each kind of token at its own rate, in integer micro-cents", () => {
    // the recipe's numbers: 1000 in + 2500 out on gpt-4 = 3¢ + 15¢
    expect(costOf({ ...NO_USAGE, input: 1000, output: 2500 }, pricesFor("gpt-4", config))).toBe(
      centsToMicros(18),
    );
    // cached input at its discount: 200 × 0.25 + 1000 × 0.125 + 300 × 1 (¢/1k) = 0.05 + 0.125 + 0.3 = 0.475¢
    const gpt4o = pricesFor("gpt-4o", config);
    expect(
      costOf(
        read(
          readOpenAIUsage({
            prompt_tokens: 1200,
            completion_tokens: 300,
            prompt_tokens_details: { cached_tokens: 1000 },
          }),
        ),
        gpt4o,
      ),
    ).toBe(475_000);
    // Anthropic cache writes at their own price: 20×0.3 + 1000×0.03 + 500×0.375 + 80×1.5 = 6+30+187.5+120 = 343.5 (¢/1000)
    const claude = pricesFor("claude", config);
    expect(
      costOf(
        read(
          readAnthropicUsage({
            input_tokens: 20,
            cache_read_input_tokens: 1000,
            cache_creation_input_tokens: 500,
            output_tokens: 80,
          }),
        ),
        claude,
      ),
    ).toBe(343_500);
  });

  it("rounds up to a whole micro-cent, so many small requests never undercount", () => {
    const tiny = { input: 1, output: 1, cached_input: 1, cache_write: 1, cache_write_1h: 1 }; // 1 µ¢ per 1k tokens
    expect(costOf({ ...NO_USAGE, input: 1 }, tiny)).toBe(1);
    expect(outputCost(1500, tiny)).toBe(2);
  });

  it("affordableOutputTokens is the inverse of outputCost: never more than the budget pays for", () => {
    const prices = pricesFor("gpt-4", config);
    for (const budget of [0, 1, 5999, 6000, 6001, centsToMicros(7), centsToMicros(123.456)]) {
      const n = affordableOutputTokens(budget, prices);
      expect(outputCost(n, prices)).toBeLessThanOrEqual(budget);
      expect(outputCost(n + 1, prices)).toBeGreaterThan(budget);
    }
  });

  it("refuses a model without a price instead of pricing it at $0", () => {
    expect(() => pricesFor("unpriced", config)).toThrow(
      expect.objectContaining({
        code: "model_unpriced",
        message: expect.stringContaining("estimated_input_cost_per_1k"),
      }),
    );
    expect(() => pricesFor("no-such-model", config)).toThrow(
      expect.objectContaining({ code: "model_unpriced" }),
    );
  });

  it("prices an unknown model by pricing.unknown_model when configured", () => {
    const fallback = {
      ...config,
      pricing: {
        stale_after_hours: 24,
        unknown_model: { input_cost_per_1k: 1, output_cost_per_1k: 2 },
        unknown_tool: "refuse" as const,
      },
    };
    expect(pricesFor("no-such-model", fallback)).toEqual({
      input: 1_000_000,
      output: 2_000_000,
      cached_input: 1_000_000,
      cache_write: 1_250_000,
      cache_write_1h: 2_000_000,
    });
  });

  it("cache writes default to Anthropic's rates, never to the cheaper input price (#10.9)", () => {
    // Anthropic bills 5-minute writes at 1.25× input, 1-hour writes at 2×; reads default to the input price.
    const plain = {
      provider: "anthropic",
      estimated_input_cost_per_1k: 0.3,
      estimated_output_cost_per_1k: 1.5,
    };
    const prices = pricesFor("plain", { models: { plain }, pricing: refuse });
    expect(prices).toMatchObject({ cached_input: 300_000, cache_write: 375_000, cache_write_1h: 600_000 });
    const usage = read(
      readAnthropicUsage({
        input_tokens: 0,
        output_tokens: 0,
        cache_creation_input_tokens: 3000,
        cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      }),
    );
    expect(usage).toMatchObject({ cache_write: 1000, cache_write_1h: 2000 });
    // 1000 × 0.375 + 2000 × 0.6 = 1575 (¢/1000)
    expect(costOf(usage, prices)).toBe(1_575_000);
    const set = { ...plain, cache_write_cost_per_1k: 0.4, cache_write_1h_cost_per_1k: 0.5 };
    expect(pricesFor("set", { models: { set }, pricing: refuse })).toMatchObject({
      cache_write: 400_000,
      cache_write_1h: 500_000,
    });
  });
});

describe("long-context tiers and reasoning prices", () => {
  const tiered = {
    input: 300_000,
    output: 1_500_000,
    cached_input: 30_000,
    cache_write: 375_000,
    tiers: [
      {
        above_input_tokens: 200_000,
        input: 600_000,
        output: 2_250_000,
        cached_input: 60_000,
        cache_write: 750_000,
        cache_write_1h: 1_200_000,
      },
    ],
    cache_write_1h: 600_000,
  };
  const usage = (input: number, cached: number, write: number, output: number) => ({
    input,
    cached_input: cached,
    cache_write: write,
    cache_write_1h: 0,
    output,
    reasoning: 0,
  });

  it("prices the whole request at the tier once its input, cache reads and writes included, is above the threshold", () => {
    // 200,000 in: base. 0.3¢ × 200 + 1.5¢ × 1 = 61.5¢
    expect(costOf(usage(200_000, 0, 0, 1000), tiered)).toBe(centsToMicros(61.5));
    // 250,000 in: all of it at the tier. 0.6¢ × 250 + 2.25¢ × 1 = 152.25¢
    expect(costOf(usage(250_000, 0, 0, 1000), tiered)).toBe(centsToMicros(152.25));
    // 150k fresh + 40k cached + 20k written = 210k: tier for every kind
    expect(costOf(usage(150_000, 40_000, 20_000, 1000), tiered)).toBe(
      centsToMicros(150 * 0.6 + 40 * 0.06 + 20 * 0.75 + 2.25),
    );
  });

  it("pricesAt picks the highest tier passed, flat; a model without tiers is its own prices", () => {
    expect(pricesAt(tiered, 200_001)).toEqual({
      input: 600_000,
      output: 2_250_000,
      cached_input: 60_000,
      cache_write: 750_000,
      cache_write_1h: 1_200_000,
    });
    expect(pricesAt(tiered, 10)).toMatchObject({ input: 300_000, tiers: undefined });
    const flat = { input: 1, output: 2, cached_input: 1, cache_write: 1, cache_write_1h: 2 };
    expect(pricesAt(flat, 1_000_000)).toBe(flat);
  });

  it("reservationPrices: the tier once the estimate is within TIER_MARGIN_PCT of its threshold", () => {
    expect(TIER_MARGIN_PCT).toBe(10);
    const tier = pricesAt(tiered, 200_001);
    expect(reservationPrices(tiered, 250_000)).toEqual(tier);
    expect(reservationPrices(tiered, 190_000)).toEqual(tier); // 209,000 with the margin
    expect(reservationPrices(tiered, 181_819)).toEqual(tier); // 200,001
    expect(reservationPrices(tiered, 181_818)).toEqual(pricesAt(tiered, 10)); // 200,000: not above it
    const flat = { input: 1, output: 2, cached_input: 1, cache_write: 1, cache_write_1h: 2 };
    expect(reservationPrices(flat, 1_000_000)).toBe(flat);
    // rate by rate the dearer: a (never seen) tier cheaper in some rate does not lower the reservation
    const odd = { ...tiered, tiers: [{ ...tier, above_input_tokens: 200_000, output: 1_000 }] };
    expect(reservationPrices(odd, 190_000)).toMatchObject({ input: 600_000, output: 1_500_000 });
  });

  it("prices reasoning tokens at their own price when there is one, and reserves output at the dearer of the two", () => {
    const prices = {
      input: 100_000,
      output: 400_000,
      cached_input: 100_000,
      cache_write: 125_000,
      cache_write_1h: 200_000,
      reasoning: 800_000,
    };
    const u = { ...NO_USAGE, input: 1000, output: 1000, reasoning: 600 };
    // 1000 × 0.1¢ + 400 × 0.4¢ + 600 × 0.8¢ (per 1k) = 0.1 + 0.16 + 0.48
    expect(costOf(u, prices)).toBe(centsToMicros(0.74));
    // without a price of their own they are output
    expect(costOf(u, { ...prices, reasoning: undefined })).toBe(centsToMicros(0.1 + 0.4));
    expect(outputCost(1000, prices)).toBe(800_000);
    expect(affordableOutputTokens(800_000, prices)).toBe(1000);
  });
});
