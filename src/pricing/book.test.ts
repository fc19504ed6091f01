import { describe, expect, it } from "vitest";
import { configFrom } from "../../test/helpers/policy.js";
import { tableStatus } from "./book.js";
import { resolvePricing } from "./resolve.js";
import type { PriceTable, SourceInfo } from "./table.js";

const HOUR = 3_600_000;
const NOW = Date.parse("2026-12-31T00:00:00.000Z");

const source = (name: string, hoursAgo: number): SourceInfo => ({
  source: name,
  format: "litellm",
  fetched_at: new Date(NOW - hoursAgo * HOUR).toISOString(),
  sha256: "a".repeat(64),
});

// openai synced an hour ago (the recipe's cron line); anthropic still the bundled snapshot of a month ago
const TABLE: PriceTable = {
  version: 1,
  revision: 5,
  updated_at: new Date(NOW - HOUR).toISOString(),
  sources: { openai: source("https://prices.test/x.json", 1), anthropic: source("bundled snapshot", 720) },
  entries: {
    "gpt-4": { provider: "openai", input: 3_000_000, output: 6_000_000 },
    "claude-x": { provider: "anthropic", input: 300_000, output: 1_500_000 },
  },
};
const loaded = { table: TABLE, from: "store" as const };

const status = (models: string) => {
  const config = configFrom(`
providers:
  openai: { type: openai }
  anthropic: { type: anthropic }
  mock: { type: mock }
models:${models}`);
  return tableStatus(loaded, resolvePricing(config, TABLE).values(), NOW, 48);
};

describe("tableStatus", () => {
  it("an openai-only config is judged by the openai source alone, not by an old anthropic one", () => {
    expect(status("\n  gpt-4: { provider: openai }")).toEqual({
      source: "https://prices.test/x.json",
      fetched_at: TABLE.sources.openai?.fetched_at,
      stale: false,
      from: "store",
      revision: 5,
    });
  });

  it("a configured model priced from the old provider makes it stale, and names that source", () => {
    expect(
      status("\n  gpt-4: { provider: openai }\n  claude: { provider: anthropic, upstream_model: claude-x }"),
    ).toMatchObject({
      source: "bundled snapshot",
      fetched_at: TABLE.sources.anthropic?.fetched_at,
      stale: true,
    });
  });

  it("with no configured model priced from the table: never stale; the table's oldest source is shown", () => {
    const own =
      "\n  gpt-4: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 2 }";
    expect(status(own)).toMatchObject({ source: "bundled snapshot", stale: false });
    expect(
      status("\n  demo: { provider: mock, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 2 }"),
    ).toMatchObject({
      stale: false,
    });
  });
});
