// Ledger.usePolicy: a reloaded config (or a key created) is enforced from the next request on,
// with the counters rebuilt from the journal only when the new limits count in windows they dropped.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { configFrom, policyFrom } from "../../test/helpers/policy.js";
import type { ModelChoice } from "../budget/decide.js";
import { compilePolicy, type Limit } from "../budget/policy.js";
import { centsToMicros } from "../money/money.js";
import { NO_USAGE } from "../pricing/usage.js";
import { Ledger } from "./ledger.js";
import { needsRebuild } from "./retention.js";

const base = (project: string, zone = "UTC") => `
budget: { monthly_limit_cents: 100000, timezone: ${zone} }
projects:
  bot: ${project}
providers: { mock: { type: mock } }
models: { m: { provider: mock, estimated_input_cost_per_1k: 1000, estimated_output_cost_per_1k: 1000 } }
`;
const m: ModelChoice = {
  name: "m",
  provider: "mock",
  prices: { input: 10_000_000, output: 10_000_000, cached_input: 0, cache_write: 0, cache_write_1h: 0 },
  maxOutputTokens: 10,
};
const DAY: Limit = { window: { kind: "day" }, unit: "cents", amount: 0, kind: "budget" };
const T0 = Date.parse("2026-11-20T10:00:00Z");

const open: Ledger[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
});

async function spend(ledger: Ledger, id: string, micros: number): Promise<void> {
  const r = ledger.reserve({
    requestId: id,
    identity: { project: "bot" },
    model: m,
    inputTokens: 1,
    requestedMaxTokens: 1,
  });
  if (r.action !== "allow") throw new Error(`refused: ${JSON.stringify(r)}`);
  await r.written;
  await ledger.settle(id, { usage: { ...NO_USAGE, input: 1, output: 1 }, cost: micros, status: "ok" });
}

describe("needsRebuild", () => {
  const monthly = policyFrom(base("{ monthly_limit_cents: 5000 }"));
  it("only when a scope counts in a window it did not, or the time zone changed", () => {
    expect(needsRebuild(monthly, policyFrom(base("{ monthly_limit_cents: 10 }")), new Set())).toBe(false);
    expect(needsRebuild(monthly, policyFrom(base("{}")), new Set())).toBe(false);
    expect(
      needsRebuild(
        monthly,
        policyFrom(base("{ daily_limit_cents: 10, monthly_limit_cents: 10 }")),
        new Set(),
      ),
    ).toBe(true);
    expect(
      needsRebuild(monthly, policyFrom(base("{ monthly_limit_cents: 5000 }", "Asia/Tokyo")), new Set()),
    ).toBe(true);
    // A key created just now has nothing to miss: its limits need no rebuild.
    const withKey = compilePolicy(configFrom(base("{ monthly_limit_cents: 5000 }")), [
      { name: "ci", daily_limit_cents: 10, rate_limit: { requests_per_minute: 5 } },
    ]);
    expect(withKey.rollingWindows.map((w) => w.kind === "rolling" && w.label)).toEqual(["1m"]);
    expect(needsRebuild(monthly, withKey, new Set(["key:ci"]))).toBe(false);
    expect(needsRebuild(monthly, withKey, new Set())).toBe(true);
  });
});

/** A ledger whose project bot has only a monthly limit (snapshots only when asked). */
async function monthlyOnly(): Promise<Ledger> {
  const dir = await mkdtemp(join(tmpdir(), "tokenpak-use-policy-"));
  const policy = policyFrom(base("{ monthly_limit_cents: 5000 }"));
  const { ledger } = await Ledger.open({ dir, policy, clock: () => T0, snapshotIntervalMs: 0 });
  open.push(ledger);
  return ledger;
}

describe("Ledger.usePolicy", () => {
  it("a lowered limit binds the next request; no rebuild", async () => {
    const ledger = await monthlyOnly();
    await spend(ledger, "a", centsToMicros(30));
    expect(ledger.usePolicy(policyFrom(base("{ monthly_limit_cents: 20 }")))).toEqual({});
    const r = ledger.reserve({ requestId: "b", identity: { project: "bot" }, model: m, inputTokens: 1 });
    expect(r).toMatchObject({ action: "block", breach: { scope: { id: "project:bot" } } });
  });

  it("a new daily limit on a project that spent today: the counters are rebuilt and today's spend counts", async () => {
    const ledger = await monthlyOnly();
    await spend(ledger, "a", centsToMicros(30));
    await ledger.snapshot(); // prunes the day the project's limits did not count in
    expect(ledger.usage("project:bot", DAY).spent).toBe(0);
    // A request in flight across the change settles in the cells it reserved, and counts.
    const open1 = ledger.reserve({
      requestId: "c",
      identity: { project: "bot" },
      model: m,
      inputTokens: 1,
      requestedMaxTokens: 1,
    });
    if (open1.action !== "allow") throw new Error("refused");
    await open1.written;

    const result = ledger.usePolicy(policyFrom(base("{ daily_limit_cents: 40, monthly_limit_cents: 5000 }")));
    expect(result.rebuilt).toBe(3); // reserve a, settle a, and the reservation still open

    expect(ledger.usage("project:bot", DAY)).toEqual({
      spent: centsToMicros(30),
      reserved: open1.reserve.micros,
    });
    await ledger.settle("c", {
      usage: { ...NO_USAGE, input: 1, output: 1 },
      cost: centsToMicros(5),
      status: "ok",
    });
    expect(ledger.usage("project:bot", DAY)).toEqual({ spent: centsToMicros(35), reserved: 0 });
    expect(ledger.openReservations).toBe(0);
    const next = ledger.reserve({
      requestId: "d",
      identity: { project: "bot" },
      model: m,
      inputTokens: 1000,
    });
    expect(next.action).toBe("block");
  });
});
