import { describe, expect, it } from "vitest";
import { centsToMicros } from "../money/money.js";
import { affordableOutputTokens, costOf, outputCost, pricesAt, pricesFor } from "./cost.js";
import { fromAnthropicUsage, fromOpenAIUsage, totalTokens } from "./usage.js";

const refuse = { stale_after_hours: 24, unknown_model: "refuse" as const };

describe("usage normalisation", () => {
  it("OpenAI prompt_tokens include cached tokens: they are split out", () => {
    const u = fromOpenAIUsage({
      prompt_tokens: 1200,
      completion_tokens: 300,
      prompt_tokens_details: { cached_tokens: 1000 },
      completion_tokens_details: { reasoning_tokens: 120 },
    });
    expect(u).toEqual({ input: 200, cached_input: 1000, cache_write: 0, output: 300, reasoning: 120 });
    expect(totalTokens(u)).toBe(1500);
  });

  it("OpenAI embeddings and the Responses API name them input/output_tokens", () => {
    expect(
      fromOpenAIUsage({ input_tokens: 50, output_tokens: 7, input_tokens_details: { cached_tokens: 10 } }),
    ).toEqual({
      input: 40,
      cached_input: 10,
      cache_write: 0,
      output: 7,
      reasoning: 0,
    });
  });

  it("Anthropic input_tokens exclude cache reads and writes, which come on their own", () => {
    const u = fromAnthropicUsage({
      input_tokens: 20,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 500,
      output_tokens: 80,
    });
    expect(u).toEqual({ input: 20, cached_input: 1000, cache_write: 500, output: 80, reasoning: 0 });
    expect(totalTokens(u)).toBe(1600);
  });
});

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
    expect(
      costOf(
        { input: 1000, cached_input: 0, cache_write: 0, output: 2500, reasoning: 0 },
        pricesFor("gpt-4", config),
      ),
    ).toBe(centsToMicros(18));
    // cached input at its discount: 200 × 0.25 + 1000 × 0.125 + 300 × 1 (¢/1k) = 0.05 + 0.125 + 0.3 = 0.475¢
    const gpt4o = pricesFor("gpt-4o", config);
    expect(
      costOf(
        fromOpenAIUsage({
          prompt_tokens: 1200,
          completion_tokens: 300,
          prompt_tokens_details: { cached_tokens: 1000 },
        }),
        gpt4o,
      ),
    ).toBe(475_000);
    // Anthropic cache writes at their own price: 20×0.3 + 1000×0.03 + 500×0.375 + 80×1.5 = 6+30+187.5+120 = 343.5 (¢/1000)
    const claude = pricesFor("claude", config);
    expect(
      costOf(
        fromAnthropicUsage({
          input_tokens: 20,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 500,
          output_tokens: 80,
        }),
        claude,
      ),
    ).toBe(343_500);
  });

  it("rounds up to a whole micro-cent, so many small requests never undercount", () => {
    const tiny = { input: 1, output: 1, cached_input: 1, cache_write: 1 }; // 1 µ¢ per 1k tokens
    expect(costOf({ input: 1, cached_input: 0, cache_write: 0, output: 0, reasoning: 0 }, tiny)).toBe(1);
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
      pricing: { stale_after_hours: 24, unknown_model: { input_cost_per_1k: 1, output_cost_per_1k: 2 } },
    };
    expect(pricesFor("no-such-model", fallback)).toEqual({
      input: 1_000_000,
      output: 2_000_000,
      cached_input: 1_000_000,
      cache_write: 1_000_000,
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
      },
    ],
  };
  const usage = (input: number, cached: number, write: number, output: number) => ({
    input,
    cached_input: cached,
    cache_write: write,
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
    });
    expect(pricesAt(tiered, 10)).toMatchObject({ input: 300_000, tiers: undefined });
    const flat = { input: 1, output: 2, cached_input: 1, cache_write: 1 };
    expect(pricesAt(flat, 1_000_000)).toBe(flat);
  });

  it("prices reasoning tokens at their own price when there is one, and reserves output at the dearer of the two", () => {
    const prices = {
      input: 100_000,
      output: 400_000,
      cached_input: 100_000,
      cache_write: 100_000,
      reasoning: 800_000,
    };
    const u = { input: 1000, cached_input: 0, cache_write: 0, output: 1000, reasoning: 600 };
    // 1000 × 0.1¢ + 400 × 0.4¢ + 600 × 0.8¢ (per 1k) = 0.1 + 0.16 + 0.48
    expect(costOf(u, prices)).toBe(centsToMicros(0.74));
    // without a price of their own they are output
    expect(costOf(u, { ...prices, reasoning: undefined })).toBe(centsToMicros(0.1 + 0.4));
    expect(outputCost(1000, prices)).toBe(800_000);
    expect(affordableOutputTokens(800_000, prices)).toBe(1000);
  });
});
