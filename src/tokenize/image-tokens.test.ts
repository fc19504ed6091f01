import { describe, expect, it } from "vitest";
import { DEFAULT_IMAGE_TOKENS, imageTokens } from "./image-tokens.js";

describe("imageTokens", () => {
  it.each([
    ["gpt-4o-mini", undefined, 48_200],
    ["gpt-4o-mini-2024-07-18", undefined, 48_200],
    ["ft:gpt-4o-mini-2024-07-18:acme::abc123", undefined, 48_200],
    ["openai/GPT-4o-mini", undefined, 48_200],
    ["gpt-4.1-mini", undefined, 2_489],
    ["gpt-4.1-mini-2025-04-14", undefined, 2_489],
    ["gpt-4.1-nano", undefined, 3_779],
    ["o4-mini-2025-04-16", undefined, 2_642],
    ["gpt-4o", undefined, DEFAULT_IMAGE_TOKENS],
    ["gpt-4o-2024-08-06", undefined, DEFAULT_IMAGE_TOKENS],
    ["gpt-4.1", undefined, DEFAULT_IMAGE_TOKENS],
    ["o3", undefined, DEFAULT_IMAGE_TOKENS],
    ["claude-sonnet-4-5", undefined, DEFAULT_IMAGE_TOKENS],
    ["my-gpt-4o-mini-alias", undefined, DEFAULT_IMAGE_TOKENS],
    ["gpt-4o-mini", 900, 900],
    ["gpt-4o", 5_000, 5_000],
  ] as const)("%s (configured %s) → %i", (name, configured, expected) => {
    expect(imageTokens(name, configured)).toBe(expected);
  });

  it("covers the patch maxima it names", () => {
    expect(imageTokens("gpt-4.1-mini", undefined)).toBeGreaterThanOrEqual(1536 * 1.62);
    expect(imageTokens("gpt-4.1-nano", undefined)).toBeGreaterThanOrEqual(1536 * 2.46);
    expect(imageTokens("o4-mini", undefined)).toBeGreaterThanOrEqual(1536 * 1.72);
    expect(imageTokens("gpt-4o-mini", undefined)).toBeGreaterThanOrEqual(2833 + 8 * 5667);
  });
});
