import { describe, expect, it } from "vitest";
import { matchEntry } from "./match.js";
import type { PriceEntries, PriceEntry } from "./table.js";

const openai = (input: number, output: number): PriceEntry => ({ provider: "openai", input, output });
const anthropic = (input: number, output: number): PriceEntry => ({ provider: "anthropic", input, output });

const LITELLM_LIKE: PriceEntries = {
  "gpt-4o": openai(250_000, 1_000_000),
  "gpt-4o-2024-05-13": openai(500_000, 1_500_000),
  "gpt-4o-2024-08-06": openai(250_000, 1_000_000),
  "gpt-4o-mini": openai(15_000, 60_000),
  "gpt-4o-mini-2024-07-18": openai(15_000, 60_000),
  "claude-3-5-sonnet-20240620": anthropic(300_000, 1_500_000),
  "claude-3-5-sonnet-20241022": anthropic(300_000, 1_500_000),
  "claude-3-5-sonnet-latest": anthropic(300_000, 1_500_000),
  "anthropic/claude-3-5-sonnet-20241022": anthropic(300_000, 1_500_000),
  "claude-3-opus-20240229": anthropic(1_500_000, 7_500_000),
  "claude-3-opus-latest": anthropic(1_600_000, 7_500_000),
};

const OPENROUTER_LIKE: PriceEntries = {
  "openai/gpt-4o": openai(250_000, 1_000_000),
  "openai/gpt-4o-mini": openai(15_000, 60_000),
  "anthropic/claude-3.5-sonnet": anthropic(300_000, 1_500_000),
};

const both = ["openai", "anthropic"] as const;

function key(names: string[], entries: PriceEntries, providers: readonly ("openai" | "anthropic")[] = both) {
  const r = matchEntry(names, providers, entries);
  return "match" in r
    ? `${r.match.key} (${r.match.kind}, via ${r.match.name})`
    : "ambiguous" in r
      ? "ambiguous"
      : "none";
}

describe("matchEntry", () => {
  it.each([
    // exact
    [["gpt-4o"], LITELLM_LIKE, "gpt-4o (exact, via gpt-4o)"],
    [["gpt-4o-2024-08-06"], LITELLM_LIKE, "gpt-4o-2024-08-06 (exact, via gpt-4o-2024-08-06)"],
    // a provider prefix either way, and `.` for `-` in a version
    [["gpt-4o"], OPENROUTER_LIKE, "openai/gpt-4o (prefixed, via gpt-4o)"],
    [["openai/gpt-4o-mini"], LITELLM_LIKE, "gpt-4o-mini (prefixed, via openai/gpt-4o-mini)"],
    [["claude-3-5-sonnet"], OPENROUTER_LIKE, "anthropic/claude-3.5-sonnet (prefixed, via claude-3-5-sonnet)"],
    [["claude-3.5-sonnet"], OPENROUTER_LIKE, "anthropic/claude-3.5-sonnet (prefixed, via claude-3.5-sonnet)"],
    // dated variants, when every variant the source lists bills the same
    [["claude-3-5-sonnet"], LITELLM_LIKE, "claude-3-5-sonnet-latest (dated_variant, via claude-3-5-sonnet)"],
    [
      ["claude-3-5-sonnet-20250101"],
      LITELLM_LIKE,
      "claude-3-5-sonnet-latest (dated_variant, via claude-3-5-sonnet-20250101)",
    ],
    [["gpt-4o-mini-2025-01-01"], LITELLM_LIKE, "gpt-4o-mini (dated_variant, via gpt-4o-mini-2025-01-01)"],
    [["gpt-4o-2024-08-06"], OPENROUTER_LIKE, "openai/gpt-4o (dated_variant, via gpt-4o-2024-08-06)"],
    // ... and not when they differ: which one is served cannot be known
    [["gpt-4o-2025-01-01"], LITELLM_LIKE, "ambiguous"],
    [["claude-3-opus"], LITELLM_LIKE, "ambiguous"],
    // gpt-4o-mini is not a variant of gpt-4o
    [["gpt-4o-mini-realtime"], LITELLM_LIKE, "none"],
    [["llama-3-70b"], LITELLM_LIKE, "none"],
  ])("%j in its table → %s", (names, entries, expected) => {
    expect(key(names, entries)).toBe(expected);
  });

  it("tries upstream_model first: that is what the provider bills", () => {
    expect(key(["gpt-4o-2024-05-13", "gpt-4o"], LITELLM_LIKE)).toBe(
      "gpt-4o-2024-05-13 (exact, via gpt-4o-2024-05-13)",
    );
    // and falls back to the configured name when the upstream name is unknown
    expect(key(["my-deployment", "gpt-4o-mini"], LITELLM_LIKE)).toBe("gpt-4o-mini (exact, via gpt-4o-mini)");
  });

  it("only among the entries of the model's provider", () => {
    expect(key(["claude-3-5-sonnet-20241022"], LITELLM_LIKE, ["openai"])).toBe("none");
    expect(key(["gpt-4o"], LITELLM_LIKE, ["anthropic"])).toBe("none");
    expect(key(["gpt-4o"], LITELLM_LIKE, [])).toBe("none");
  });

  it("an ambiguous match names the variants", () => {
    expect(matchEntry(["claude-3-opus"], both, LITELLM_LIKE)).toEqual({
      ambiguous: { name: "claude-3-opus", keys: ["claude-3-opus-20240229", "claude-3-opus-latest"] },
    });
  });
});
