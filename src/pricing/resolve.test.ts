import { describe, expect, it } from "vitest";
import { configFrom } from "../../test/helpers/policy.js";
import { resolveModel, resolvePricing } from "./resolve.js";
import type { PriceTable } from "./table.js";

const TABLE: PriceTable = {
  version: 1,
  revision: 3,
  updated_at: "2026-12-01T00:00:00.000Z",
  sources: {
    openai: {
      source: "https://prices.test/x.json",
      format: "litellm",
      fetched_at: "2026-12-01T00:00:00.000Z",
      sha256: "a".repeat(64),
    },
  },
  entries: {
    "gpt-4o": { provider: "openai", input: 250_000, output: 1_000_000, cached_input: 125_000 },
    "gpt-4o-2024-05-13": { provider: "openai", input: 500_000, output: 1_500_000 },
    "claude-long": {
      provider: "anthropic",
      input: 300_000,
      output: 1_500_000,
      cache_write: 375_000,
      tiers: [{ above_input_tokens: 200_000, input: 600_000, output: 2_250_000 }],
    },
  },
};

const config = configFrom(`
providers:
  openai: { type: openai }
  anthropic: { type: anthropic }
  gateway: { type: openai-compatible, base_url: "http://127.0.0.1:9/v1" }
  mock: { type: mock }
pricing:
  unknown_model: { input_cost_per_1k: 10, output_cost_per_1k: 20 }
models:
  gpt-4o: { provider: openai, estimated_input_cost_per_1k: 9, estimated_output_cost_per_1k: 9 }
  pinned: { provider: openai, upstream_model: gpt-4o, pin_price: true, estimated_input_cost_per_1k: 0.3, estimated_output_cost_per_1k: 1.2 }
  old-4o: { provider: openai, upstream_model: gpt-4o-2024-05-13 }
  bare: { provider: openai }
  estimated: { provider: openai, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 2, cached_input_cost_per_1k: 0.5 }
  on-mock: { provider: mock, upstream_model: gpt-4o, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 }
  via-gateway: { provider: gateway, upstream_model: claude-long }
  claude-on-openai: { provider: openai, upstream_model: claude-long }
`);

const origin = (name: string) => {
  const p = resolveModel(name, config, TABLE);
  return "origin" in p ? p.origin : p.error.code;
};

describe("resolveModel: which price a model gets", () => {
  it("the table wins over estimated_* (the config's are estimates)", () => {
    const p = resolveModel("gpt-4o", config, TABLE);
    expect(p).toMatchObject({
      prices: {
        input: 250_000,
        output: 1_000_000,
        cached_input: 125_000,
        cache_write: 312_500,
        cache_write_1h: 500_000,
      },
      origin: {
        kind: "table",
        provider: "openai",
        source: TABLE.sources.openai,
        match: { name: "gpt-4o", key: "gpt-4o", kind: "exact" },
      },
    });
  });

  it("pin_price: true keeps the config's prices", () => {
    expect(resolveModel("pinned", config, TABLE)).toMatchObject({
      prices: { input: 300_000, output: 1_200_000 },
      origin: { kind: "config", pinned: true },
    });
  });

  it("upstream_model is what is looked up", () => {
    expect(resolveModel("old-4o", config, TABLE)).toMatchObject({
      prices: { input: 500_000, output: 1_500_000 },
    });
  });

  it("estimated_* when the table does not know the model; pricing.unknown_model when neither", () => {
    expect(resolveModel("estimated", config, TABLE)).toMatchObject({
      prices: { input: 1_000_000, output: 2_000_000, cached_input: 500_000 },
      origin: { kind: "config", pinned: false },
    });
    expect(resolveModel("bare", config, TABLE)).toMatchObject({
      prices: { input: 10_000_000, output: 20_000_000 },
      origin: { kind: "unknown_model" },
    });
  });

  it("refuses (model_unpriced), never $0, when there is no price and unknown_model is refuse", () => {
    const refusing = { ...config, pricing: { ...config.pricing, unknown_model: "refuse" as const } };
    const p = resolveModel("bare", refusing, TABLE);
    expect("error" in p && p.error.code).toBe("model_unpriced");
  });

  it("the mock provider is never priced from the table; an OpenAI-compatible gateway may be, from either provider", () => {
    expect(origin("on-mock")).toMatchObject({ kind: "config" });
    expect(origin("via-gateway")).toMatchObject({ kind: "table", provider: "anthropic" });
    expect(origin("claude-on-openai")).toMatchObject({ kind: "unknown_model" });
  });

  it("carries long-context tiers, the missing cache prices filled from the tier's input price", () => {
    const p = resolveModel("via-gateway", config, TABLE);
    expect("prices" in p && p.prices.tiers).toEqual([
      {
        above_input_tokens: 200_000,
        input: 600_000,
        output: 2_250_000,
        cached_input: 600_000,
        cache_write: 750_000,
        cache_write_1h: 1_200_000,
      },
    ]);
  });

  it("without a table, every model is priced from its config", () => {
    const all = resolvePricing(config, undefined);
    expect([...all.keys()]).toEqual(Object.keys(config.models ?? {}));
    expect(all.get("gpt-4o")).toMatchObject({ prices: { input: 9_000_000 }, origin: { kind: "config" } });
  });
});
