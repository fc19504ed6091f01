import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_TOKEN_COUNT,
  readAnthropicUsage,
  readOpenAIUsage,
  totalTokens,
  type UsageReading,
} from "./usage.js";

const ok = (r: UsageReading) => (r.ok ? r.usage : r.reason);

describe("usage readers", () => {
  it("OpenAI prompt_tokens include cached tokens: they are split out", () => {
    const u = readOpenAIUsage({
      prompt_tokens: 1200,
      completion_tokens: 300,
      prompt_tokens_details: { cached_tokens: 1000 },
      completion_tokens_details: { reasoning_tokens: 120 },
    });
    expect(ok(u)).toEqual({
      input: 200,
      cached_input: 1000,
      cache_write: 0,
      cache_write_1h: 0,
      output: 300,
      reasoning: 120,
    });
  });

  it("OpenAI embeddings and the Responses API name them input/output_tokens; embeddings need no output", () => {
    expect(
      ok(
        readOpenAIUsage({ input_tokens: 50, output_tokens: 7, input_tokens_details: { cached_tokens: 10 } }),
      ),
    ).toMatchObject({ input: 40, cached_input: 10, output: 7 });
    expect(ok(readOpenAIUsage({ prompt_tokens: 12, total_tokens: 12 }, "embedding"))).toMatchObject({
      input: 12,
      output: 0,
    });
    expect(readOpenAIUsage({ prompt_tokens: 12, total_tokens: 12 }).ok).toBe(false);
  });

  it("Anthropic input_tokens exclude cache reads and writes, which come on their own", () => {
    const u = readAnthropicUsage({
      input_tokens: 20,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 500,
      output_tokens: 80,
    });
    expect(ok(u)).toEqual({
      input: 20,
      cached_input: 1000,
      cache_write: 500,
      cache_write_1h: 0,
      output: 80,
      reasoning: 0,
    });
    if (u.ok) expect(totalTokens(u.usage)).toBe(1600);
  });

  it("numeric strings are read as counts, null as absent (#10.6)", () => {
    expect(ok(readOpenAIUsage({ prompt_tokens: "50", completion_tokens: "7" }))).toMatchObject({
      input: 50,
      output: 7,
    });
    expect(
      ok(readAnthropicUsage({ input_tokens: 5, output_tokens: 2, cache_read_input_tokens: null })),
    ).toMatchObject({
      cached_input: 0,
    });
  });

  // Each of these once reached the counters: NaN, negative spend, concatenated strings.
  it.each([
    [{ prompt_tokens: 10, completion_tokens: "abc" }, "completion_tokens is not a token count"],
    [{ prompt_tokens: 10, completion_tokens: -1_000_000 }, "completion_tokens is not a token count"],
    [{ prompt_tokens: 10.5, completion_tokens: 1 }, "prompt_tokens is not a token count"],
    [{ prompt_tokens: 10, completion_tokens: MAX_TOKEN_COUNT + 1 }, "completion_tokens is not a token count"],
    [{ prompt_tokens: 10, completion_tokens: Number.NaN }, "completion_tokens is not a token count"],
    [{ prompt_tokens: 10, completion_tokens: { n: 1 } }, "completion_tokens is not a token count"],
    [
      { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: "x" } },
      "cached_tokens",
    ],
    [{ completion_tokens: 5 }, "prompt_tokens is missing"],
    [{ prompt_tokens: 5 }, "completion_tokens is missing"],
  ])("refuses OpenAI usage %j (#10.6)", (raw, reason) => {
    const r = readOpenAIUsage(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  it.each([
    [{ input_tokens: 10, output_tokens: "abc" }],
    [{ input_tokens: -3, output_tokens: 1 }],
    [{ input_tokens: 3 }],
    [{ input_tokens: 3, output_tokens: 1, cache_creation: { ephemeral_1h_input_tokens: -1 } }],
    ["not an object"],
    [[1, 2]],
  ])("refuses Anthropic usage %j (#10.6)", (raw) => {
    expect(readAnthropicUsage(raw).ok).toBe(false);
  });

  it("whatever it is fed, a reading is refused or every count is a non-negative safe integer", () => {
    const count = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.string(),
      fc.constant(null),
      fc.constant(undefined),
      fc.bigInt().map(String),
      fc.nat().map(String),
    );
    const raw = fc.dictionary(
      fc.constantFrom(
        "prompt_tokens",
        "completion_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
      ),
      count,
    );
    fc.assert(
      fc.property(raw, count, (u, nested) => {
        for (const r of [
          readOpenAIUsage({ ...u, prompt_tokens_details: { cached_tokens: nested } }),
          readAnthropicUsage({ ...u, cache_creation: { ephemeral_1h_input_tokens: nested } }),
        ]) {
          if (!r.ok) continue;
          for (const v of Object.values(r.usage)) {
            expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
          }
          expect(r.usage.reasoning).toBeLessThanOrEqual(r.usage.output);
        }
      }),
      { numRuns: 500, seed: 10 },
    );
  });
});
