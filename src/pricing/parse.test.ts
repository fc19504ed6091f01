import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseSource } from "./parse.js";
import { PRICE_PROVIDERS } from "./table.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/pricing/${name}`, import.meta.url), "utf8");
const LITELLM = fixture("litellm.json");
const OPENROUTER = fixture("openrouter.json");

describe("LiteLLM model_prices_and_context_window.json", () => {
  const parsed = parseSource(LITELLM, "auto", PRICE_PROVIDERS);

  it("is recognised, and keeps only openai and anthropic entries with per-token prices", () => {
    expect(parsed.format).toBe("litellm");
    expect(parsed.total).toBe(25); // sample_spec is not a model
    const keys = Object.keys(parsed.entries);
    expect(keys).toContain("gpt-4o");
    expect(keys).toContain("anthropic/claude-3-5-sonnet-20241022");
    expect(keys).not.toContain("sample_spec");
    expect(keys).not.toContain("azure/gpt-4o"); // litellm_provider azure
    expect(keys).not.toContain("gemini-1.5-pro");
    // an image model has no per-token price: left out, and said why
    expect(parsed.skipped).toEqual([
      { key: "standard/1024-x-1024/dall-e-3", reason: "no input_cost_per_token" },
    ]);
    // text-completion-openai is OpenAI's
    expect(parsed.entries["gpt-3.5-turbo-instruct"]?.provider).toBe("openai");
  });

  it("converts USD per token to µ¢ per 1k exactly, cache prices included", () => {
    expect(parsed.entries["gpt-4o"]).toEqual({
      provider: "openai",
      input: 250_000, // 2.5e-06 $/token = $2.50/M = 0.25¢/1k
      output: 1_000_000,
      cached_input: 125_000,
      max_output_tokens: 16384,
      mode: "chat",
    });
    expect(parsed.entries["gpt-4o-mini"]).toMatchObject({
      input: 15_000,
      output: 60_000,
      cached_input: 7_500,
    });
    expect(parsed.entries["gpt-4"]).toMatchObject({ input: 3_000_000, output: 6_000_000 });
    expect(parsed.entries["gpt-4"]?.cached_input).toBeUndefined();
    expect(parsed.entries["claude-3-5-sonnet-20241022"]).toMatchObject({
      provider: "anthropic",
      input: 300_000,
      output: 1_500_000,
      cached_input: 30_000,
      cache_write: 375_000,
    });
    // an embedding model's output price of 0 is a price, kept
    expect(parsed.entries["text-embedding-3-small"]).toMatchObject({
      input: 2_000,
      output: 0,
      mode: "embedding",
    });
  });

  it("reads _above_200k_tokens keys as a long-context tier", () => {
    expect(parsed.entries["claude-4-sonnet-20250514"]?.tiers).toEqual([
      {
        above_input_tokens: 200_000,
        input: 600_000,
        output: 2_250_000,
        cached_input: 60_000,
        cache_write: 750_000,
      },
    ]);
    const text = JSON.stringify({
      "gemini-like": {
        litellm_provider: "openai",
        input_cost_per_token: 1.25e-6,
        output_cost_per_token: 5e-6,
        input_cost_per_token_above_128k_tokens: 2.5e-6,
        output_cost_per_token_above_128k_tokens: 1e-5,
        output_cost_per_reasoning_token: 3.5e-6,
      },
    });
    expect(parseSource(text, "litellm", ["openai"]).entries["gemini-like"]).toEqual({
      provider: "openai",
      input: 125_000,
      output: 500_000,
      reasoning: 350_000,
      tiers: [{ above_input_tokens: 128_000, input: 250_000, output: 1_000_000, reasoning: 350_000 }],
    });
  });

  it("reads the 1-hour cache write price (cache_creation_input_token_cost_above_1hr), which is no tier", () => {
    const text = JSON.stringify({
      "claude-x": {
        litellm_provider: "anthropic",
        input_cost_per_token: 3e-6,
        output_cost_per_token: 1.5e-5,
        cache_creation_input_token_cost: 3.75e-6,
        cache_creation_input_token_cost_above_1hr: 6e-6,
      },
    });
    expect(parseSource(text, "litellm", ["anthropic"]).entries["claude-x"]).toEqual({
      provider: "anthropic",
      input: 300_000,
      output: 1_500_000,
      cache_write: 375_000,
      cache_write_1h: 600_000,
    });
  });

  it("an entry with a price that is not a number is left out, with the reason", () => {
    const text = JSON.stringify({
      good: { litellm_provider: "openai", input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 },
      bad: { litellm_provider: "openai", input_cost_per_token: "cheap", output_cost_per_token: 2e-6 },
      negative: { litellm_provider: "openai", input_cost_per_token: -1e-6, output_cost_per_token: 2e-6 },
    });
    const p = parseSource(text, "litellm", ["openai"]);
    expect(Object.keys(p.entries)).toEqual(["good"]);
    expect(p.skipped.map((s) => s.key)).toEqual(["bad", "negative"]);
    expect(p.skipped[0]?.reason).toBe('input_cost_per_token is not a price: "cheap"');
  });

  it("--provider narrows what is kept", () => {
    const openai = parseSource(LITELLM, "litellm", ["openai"]);
    expect(Object.values(openai.entries).every((e) => e.provider === "openai")).toBe(true);
    expect(openai.entries["claude-3-5-sonnet-20241022"]).toBeUndefined();
  });
});

describe("OpenRouter GET /api/v1/models", () => {
  const parsed = parseSource(OPENROUTER, "auto", PRICE_PROVIDERS);

  it("is recognised; keeps openai/ and anthropic/ models under their ids", () => {
    expect(parsed.format).toBe("openrouter");
    expect(parsed.total).toBe(12);
    expect(Object.keys(parsed.entries)).not.toContain("google/gemini-2.5-pro");
    expect(Object.keys(parsed.entries)).not.toContain("openrouter/auto");
    expect(parsed.entries["openai/gpt-4o"]).toEqual({
      provider: "openai",
      input: 250_000,
      output: 1_000_000,
      cached_input: 125_000,
      max_output_tokens: 16384,
    });
    expect(parsed.entries["anthropic/claude-3.5-sonnet"]).toEqual({
      provider: "anthropic",
      input: 300_000,
      output: 1_500_000,
      cached_input: 30_000,
      cache_write: 375_000,
      max_output_tokens: 8192,
    });
  });

  it('"0" for an optional price means none (priced as input / output); a reasoning price of its own is kept', () => {
    expect(parsed.entries["openai/gpt-4"]?.reasoning).toBeUndefined();
    expect(parsed.entries["openai/gpt-4"]?.cached_input).toBeUndefined();
    expect(parsed.entries["openai/o4-reasoner"]?.reasoning).toBe(800_000);
  });

  it("a negative price (OpenRouter's -1 for a router) leaves the model out", () => {
    const text = JSON.stringify({
      data: [{ id: "openai/router", pricing: { prompt: "-1", completion: "-1" } }],
    });
    const p = parseSource(text, "openrouter", ["openai"]);
    expect(p.entries).toEqual({});
    expect(p.skipped).toEqual([{ key: "openai/router", reason: 'prompt is not a price: "-1"' }]);
  });
});

describe("documents that are not price tables", () => {
  it.each([
    ["", "not valid JSON (empty)"],
    [LITELLM.slice(0, LITELLM.length / 2), "not valid JSON (truncated)"],
    ["root:x:0:0:root:/root:/bin/bash\n", "not valid JSON (an unexpected character)"],
    ['{"a": 1} trailing', "not valid JSON (at character 9)"],
    ["[1, 2, 3]", "in neither known format"],
    ['{"hello": "world"}', "in neither known format"],
    ['{"data": [{"name": "x"}]}', "in neither known format"],
  ])("%j → pricing_invalid", (text, message) => {
    expect(() => parseSource(text, "auto", PRICE_PROVIDERS)).toThrow(
      expect.objectContaining({ code: "pricing_invalid", message: expect.stringContaining(message) }),
    );
  });

  it("never quotes the document in the error (a --source may be any file)", () => {
    for (const text of ["root:x:0:0:root:/root:/bin/bash\n", '{"secret-token-123": tru}']) {
      let message = "";
      try {
        parseSource(text, "auto", PRICE_PROVIDERS);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^not valid JSON \((an unexpected character|at character \d+)\)$/);
      expect(message).not.toMatch(/root|secret/);
    }
  });

  it("a document in the other format than --format says is refused, naming the one it is in", () => {
    expect(() => parseSource(OPENROUTER, "litellm", PRICE_PROVIDERS)).toThrow(
      expect.objectContaining({
        code: "pricing_invalid",
        message:
          "not a LiteLLM price table (it looks like an OpenRouter models list: use --format openrouter or auto)",
      }),
    );
    expect(() => parseSource(LITELLM, "openrouter", PRICE_PROVIDERS)).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/^not an OpenRouter \/api\/v1\/models document/),
      }),
    );
  });
});
