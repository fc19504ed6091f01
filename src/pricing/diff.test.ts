import { describe, expect, it } from "vitest";
import { configFrom } from "../../test/helpers/policy.js";
import { diffTables } from "./diff.js";
import type { PriceEntries, PriceTable } from "./table.js";

function table(entries: PriceEntries, revision = 1): PriceTable {
  return { version: 1, revision, updated_at: "2026-12-01T00:00:00.000Z", sources: {}, entries };
}

const config = configFrom(`
providers:
  openai: { type: openai }
  anthropic: { type: anthropic }
  mock: { type: mock }
models:
  gpt-4o: { provider: openai }
  mini: { provider: openai, upstream_model: gpt-4o-mini }
  own: { provider: openai, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 2 }
  pinned: { provider: openai, upstream_model: gpt-4o, pin_price: true, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 2 }
  claude: { provider: anthropic, upstream_model: claude-x }
  demo: { provider: mock, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 }
`);

const BEFORE = table({
  "gpt-4o": { provider: "openai", input: 250_000, output: 1_000_000, cached_input: 125_000 },
  "gpt-4o-mini": { provider: "openai", input: 15_000, output: 60_000 },
  "claude-x": { provider: "anthropic", input: 300_000, output: 1_500_000 },
  unused: { provider: "openai", input: 1, output: 1 },
});

const none = { allowZero: false, force: false };

describe("diffTables", () => {
  it("old → new per configured model the sync covers, with % changes; other providers and the mock are left out", () => {
    const after = table({
      ...BEFORE.entries,
      "gpt-4o": { provider: "openai", input: 500_000, output: 1_000_000, cached_input: 125_000 },
      added: { provider: "openai", input: 2, output: 2 },
    });
    delete after.entries.unused;
    const d = diffTables(config, BEFORE, after, ["openai"], none);
    expect(d.rows.map((r) => r.model)).toEqual(["gpt-4o", "mini", "own", "pinned"]);
    const row = d.rows[0];
    expect(row?.changed).toBe(true);
    expect(row?.change_pct).toEqual({ input: 100, output: 0, cached_input: 0 });
    expect(d.rows.slice(1).map((r) => r.changed)).toEqual([false, false, false]);
    expect(d.refusals).toEqual([]);
    // over 50%: a warning; a model the source does not know: a warning
    expect(d.warnings.map((w) => [w.model, w.rule])).toEqual([
      ["gpt-4o", "large_change"],
      ["own", "not_in_source"],
    ]);
    // the cache writes priced from the input price move with it: named in the same warning
    expect(d.warnings[0]?.message).toBe(
      "gpt-4o: input price changes by +100% (0.25¢ → 0.5¢ per 1k; also cache write price +100%, 1-hour cache write price +100%)",
    );
    expect(d.warnings[1]?.message).toBe("own: not in the source; it stays priced by its config prices");
    expect(d.entries).toEqual({ total: 3, added: 1, removed: 1, changed: 1 });
  });

  it("refuses a document that drops the price of a configured model", () => {
    const after = table({ "gpt-4o": BEFORE.entries["gpt-4o"] as PriceEntries[string] });
    const d = diffTables(config, BEFORE, after, ["openai"], { allowZero: true, force: true });
    expect(d.refusals).toEqual([
      {
        model: "mini",
        rule: "dropped",
        message: "mini: the source no longer has a price for it (it was priced from gpt-4o-mini)",
      },
    ]);
  });

  it("refuses $0 for a paid model unless --allow-zero", () => {
    const after = table({ ...BEFORE.entries, "gpt-4o-mini": { provider: "openai", input: 0, output: 0 } });
    const refused = diffTables(config, BEFORE, after, ["openai"], none);
    expect(refused.refusals.map((f) => [f.model, f.rule, f.override])).toEqual([
      ["mini", "zero_price", "--allow-zero"],
    ]);
    const accepted = diffTables(config, BEFORE, after, ["openai"], { allowZero: true, force: false });
    expect(accepted.refusals).toEqual([]);
    expect(
      accepted.warnings.some(
        (w) => w.rule === "zero_price" && w.message.endsWith("(accepted: --allow-zero)"),
      ),
    ).toBe(true);
    // one price dropping to $0 while the other stays is refused too
    const half = table({
      ...BEFORE.entries,
      "gpt-4o-mini": { provider: "openai", input: 15_000, output: 0 },
    });
    expect(diffTables(config, BEFORE, half, ["openai"], none).refusals[0]?.message).toBe(
      "mini: output price would drop from 0.06¢ to $0 per 1k",
    );
  });

  it("refuses a change of more than 10× at once unless --force, either way", () => {
    const up = table({
      ...BEFORE.entries,
      "gpt-4o-mini": { provider: "openai", input: 150_001, output: 60_000 },
    });
    expect(diffTables(config, BEFORE, up, ["openai"], none).refusals.map((f) => f.rule)).toEqual([
      "tenfold_change",
    ]);
    expect(diffTables(config, BEFORE, up, ["openai"], { allowZero: false, force: true }).refusals).toEqual(
      [],
    );
    const exactlyTen = table({
      ...BEFORE.entries,
      "gpt-4o-mini": { provider: "openai", input: 150_000, output: 60_000 },
    });
    expect(diffTables(config, BEFORE, exactlyTen, ["openai"], none).refusals).toEqual([]);
    const down = table({
      ...BEFORE.entries,
      "gpt-4o": { provider: "openai", input: 24_999, output: 1_000_000 },
    });
    expect(diffTables(config, BEFORE, down, ["openai"], none).refusals[0]).toMatchObject({
      model: "gpt-4o",
      rule: "tenfold_change",
      override: "--force",
      message:
        "gpt-4o: input price would change more than 10× at once, 0.25¢ → 0.024999¢ per 1k (also cache write price, 1-hour cache write price)",
      rates: ["input price", "cache write price", "1-hour cache write price"],
    });
  });

  it("a pinned model is never refused or warned about", () => {
    const after = table({ "gpt-4o-mini": BEFORE.entries["gpt-4o-mini"] as PriceEntries[string] });
    const d = diffTables(
      { ...config, models: { pinned: config.models?.pinned as NonNullable<typeof config.models>[string] } },
      BEFORE,
      after,
      ["openai"],
      none,
    );
    expect(d.refusals).toEqual([]);
    expect(d.warnings).toEqual([]);
  });

  describe("every rate and every tier, not only input and output", () => {
    const CLAUDE = {
      provider: "anthropic" as const,
      input: 300_000,
      output: 1_500_000,
      cached_input: 30_000,
      cache_write: 375_000,
      cache_write_1h: 600_000,
      reasoning: 1_500_000,
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
    const before = table({ "claude-x": CLAUDE });
    const judged = (entry: Partial<typeof CLAUDE>, options = none) =>
      diffTables(config, before, table({ "claude-x": { ...CLAUDE, ...entry } }), ["anthropic"], options);

    it("refuses cache prices collapsing 30,000× (LiteLLM at 1e-12 USD per token) unless --force", () => {
      // cache_read_input_token_cost and cache_creation_input_token_cost at 1e-12: 1 µ¢ per 1k, rounded up
      const d = judged({ cached_input: 1, cache_write: 1 });
      expect(d.refusals).toEqual([
        {
          model: "claude",
          rule: "tenfold_change",
          override: "--force",
          message:
            "claude: cached input price would change more than 10× at once, 0.03¢ → 0.000001¢ per 1k (also cache write price)",
          rates: ["cached input price", "cache write price"],
        },
      ]);
      expect(judged({ cached_input: 1, cache_write: 1 }, { allowZero: false, force: true }).refusals).toEqual(
        [],
      );
    });

    it("refuses a cache, reasoning or 1-hour price dropping to $0 unless --allow-zero", () => {
      const d = judged({ cache_write_1h: 0, reasoning: 0 });
      expect(d.refusals.map((f) => [f.rule, f.rates])).toEqual([
        ["zero_price", ["1-hour cache write price", "reasoning price"]],
      ]);
      expect(judged({ cache_write_1h: 0, reasoning: 0 }, { allowZero: true, force: false }).refusals).toEqual(
        [],
      );
    });

    it("judges the rates of every tier the model had, and a tier that disappears", () => {
      const collapsed = judged({ tiers: [{ ...CLAUDE.tiers[0], output: 2_250 }] as typeof CLAUDE.tiers });
      expect(collapsed.refusals[0]).toMatchObject({
        rule: "tenfold_change",
        message:
          "claude: output price above 200k tokens would change more than 10× at once, 2.25¢ → 0.00225¢ per 1k",
      });
      // without the tier a long request pays the base rates: -50% exactly is not over 50%, -60% is
      const gone = judged({ tiers: [] });
      expect(gone.refusals).toEqual([]);
      expect(gone.rows[0]?.changed).toBe(true);
      expect(gone.warnings).toEqual([]); // 0.6¢ → 0.3¢ in, 0.75¢ → 0.375¢ cache write: -50%
      const cheaper = judged({ tiers: [{ ...CLAUDE.tiers[0], input: 240_000 }] as typeof CLAUDE.tiers });
      expect(cheaper.warnings).toEqual([
        expect.objectContaining({
          rule: "large_change",
          // the tier gives no 1-hour write price: it is 2 × the tier's input, and follows it
          message:
            "claude: input price above 200k tokens changes by -60% (0.6¢ → 0.24¢ per 1k; also 1-hour cache write price above 200k tokens -60%)",
        }),
      ]);
    });

    it("warns over 50% on a cache price alone", () => {
      const d = judged({ cached_input: 60_000 });
      expect(d.refusals).toEqual([]);
      expect(d.warnings.map((w) => w.message)).toEqual([
        "claude: cached input price changes by +100% (0.03¢ → 0.06¢ per 1k)",
      ]);
    });
  });
});
