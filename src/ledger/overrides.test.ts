import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { policyFrom } from "../../test/helpers/policy.js";
import { decide, type ModelChoice } from "../budget/decide.js";
import type { Limit } from "../budget/policy.js";
import { centsToMicros } from "../money/money.js";
import { refusal } from "../server/refusal.js";
import { readJournal } from "./journal.js";
import { Ledger } from "./ledger.js";
import { type Override, Overrides, planOverride } from "./overrides.js";

const CONFIG = `
budget:
  timezone: Europe/Berlin
  rolling_limits: [{ window: 24h, limit_cents: 100000 }]
projects:
  client-a: { daily_limit_cents: 5000, monthly_limit_cents: 100000 }
  tokens-only: { daily_limit_tokens: 1000 }
providers: { mock: { type: mock } }
models: { m: { provider: mock, estimated_input_cost_per_1k: 100, estimated_output_cost_per_1k: 100, max_output_tokens: 100 } }
`;
const policy = policyFrom(CONFIG);
const T0 = Date.parse("2026-11-20T10:00:00Z"); // 11:00 in Berlin
const DAY: Limit["window"] = { kind: "day" };
const MONTH: Limit["window"] = { kind: "month" };

const override = (over: Partial<Override>): Override => ({
  id: "ov-1",
  scope: "project:client-a",
  micros: centsToMicros(5000),
  from: T0,
  until: T0 + 3_600_000,
  reason: "launch",
  by: "alice",
  ...over,
});

describe("Overrides", () => {
  it("raise a scope's limit in their window while in force, summed, with the soonest end", () => {
    const table = new Overrides();
    table.add(override({ window: "daily" }), T0);
    table.add(override({ id: "ov-2", micros: centsToMicros(1000), until: T0 + 60_000 }), T0);
    expect(table.raise("project:client-a", DAY, T0)).toEqual({
      micros: centsToMicros(6000),
      until: T0 + 60_000,
    });
    // ov-1 is the daily one; ov-2 (every window) also raises the month.
    expect(table.raise("project:client-a", MONTH, T0)).toEqual({
      micros: centsToMicros(1000),
      until: T0 + 60_000,
    });
    expect(table.raise("project:client-a", DAY, T0 + 60_000)).toEqual({
      micros: centsToMicros(5000),
      until: T0 + 3_600_000,
    });
    expect(table.raise("project:client-a", DAY, T0 + 3_600_000)).toBeUndefined();
    expect(table.raise("project:other", DAY, T0)).toBeUndefined();
    expect(table.active(T0 + 3_600_000)).toEqual([]);
    expect(table.size).toBe(0);
  });

  it("round-trip through the snapshot's mark; a damaged mark starts empty", () => {
    const table = new Overrides();
    table.add(override({}), T0);
    const again = Overrides.from(JSON.parse(JSON.stringify(table)));
    expect(again.active(T0)).toEqual([override({})]);
    expect(Overrides.from({ not: "a list" }).size).toBe(0);
    expect(Overrides.from([{ id: 1 }]).size).toBe(0);
  });
});

describe("planOverride", () => {
  const ask = { scope: "project:client-a", micros: centsToMicros(5000), reason: "launch", by: "alice" };

  it("ends by default when the shortest window raised ends, in the budget's time zone", () => {
    // Every dollar limit: the day's end is the soonest (midnight in Berlin = 23:00 UTC).
    expect(planOverride(policy, ask, T0, "ov-a").until).toBe(Date.parse("2026-11-20T23:00:00Z"));
    expect(planOverride(policy, { ...ask, window: "monthly" }, T0, "ov-a").until).toBe(
      Date.parse("2026-11-30T23:00:00Z"),
    );
    expect(planOverride(policy, { ...ask, scope: "workspace", window: "24h" }, T0, "ov-a").until).toBe(
      T0 + 86_400_000,
    );
    expect(planOverride(policy, { ...ask, until: T0 + 5000 }, T0, "ov-a")).toMatchObject({
      id: "ov-a",
      from: T0,
      until: T0 + 5000,
      by: "alice",
    });
  });

  it.each([
    [{ scope: "project:nobody" }, "project:nobody has no dollar limit for an override to raise", "scope"],
    [{ scope: "nonsense" }, '"nonsense" is not a scope', "scope"],
    [{ scope: "project:tokens-only" }, "has no dollar limit", "scope"],
    [{ window: "24h" }, "project:client-a has no 24h dollar limit (it has: daily, monthly)", "window"],
    [{ micros: 0 }, "more than zero", "add_cents"],
    [{ reason: " " }, "needs a reason", "reason"],
    [{ until: T0 }, "is not in the future", "until"],
  ])("refuses %j", (change, message, field) => {
    expect(() => planOverride(policy, { ...ask, ...change }, T0, "x")).toThrow(
      expect.objectContaining({ message: expect.stringContaining(message), details: { field } }),
    );
  });
});

describe("an override in decide() and in the refusal", () => {
  const scope = policy.scopeById("project:client-a");
  const limit = scope?.limits.find((l) => l.window.kind === "day") as Limit;
  const m: ModelChoice = {
    name: "m",
    provider: "mock",
    prices: { input: 1_000_000, output: 1_000_000, cached_input: 0, cache_write: 0, cache_write_1h: 0 },
    maxOutputTokens: 100,
  };
  const rules = { hardStopPct: 100, rejectOnExceed: true, perRequest: {} };
  const spent = centsToMicros(5000);
  const ask = (raised?: { micros: number; until: number }) =>
    decide(
      { scopes: scope ? [scope] : [], inputTokens: 10, model: m },
      (_s, l) =>
        l === limit ? { spent, reserved: 0, ...(raised ? { raised } : {}) } : { spent: 0, reserved: 0 },
      rules,
    );

  it("a $50 daily limit spent: refused; with a $50 override: allowed, and the cap is $100", () => {
    const blocked = ask();
    expect(blocked.action).toBe("block");
    const raised = ask({ micros: centsToMicros(5000), until: Date.parse("2026-11-20T23:00:00Z") });
    expect(raised).toMatchObject({ action: "allow", maxOutputTokens: 100 });
  });

  it("the refusal names the override and when it ends", () => {
    const until = Date.parse("2026-11-20T23:00:00Z");
    const d = decide(
      { scopes: scope ? [scope] : [], inputTokens: 10, model: m },
      (_s, l) =>
        l === limit
          ? { spent: 2 * spent, reserved: 0, raised: { micros: spent, until } }
          : { spent: 0, reserved: 0 },
      rules,
    );
    expect(d.action).toBe("block");
    if (d.action !== "block") return;
    expect(d.breach.cap).toBe(2 * spent);
    const error = refusal(d, T0);
    expect(error.message).toBe(
      "Project client-a has reached daily budget limit ($50.00 + override $50.00 until 2026-11-20T23:00:00.000Z). Rejecting request.",
    );
    expect(error.details).toMatchObject({
      limit_cents: 5000,
      override_cents: 5000,
      override_until: "2026-11-20T23:00:00.000Z",
    });
    expect(error.details).not.toHaveProperty("hard_stop_cents");
  });
});

describe("overrides in the ledger", () => {
  const open: Ledger[] = [];
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
  });
  let now = T0;
  const clock = () => now;
  async function start(dir: string, snapshotIntervalMs = 0) {
    const { ledger } = await Ledger.open({ dir, policy, clock, snapshotIntervalMs });
    open.push(ledger);
    return ledger;
  }

  it("are journal entries that survive a restart, from the snapshot and from a full replay, and end on their own", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-overrides-"));
    now = T0;
    const ledger = await start(dir);
    const made = await ledger.addOverride({
      scope: "project:client-a",
      window: "daily",
      micros: centsToMicros(2500),
      until: T0 + 60_000,
      reason: "launch day",
      by: "alice",
    });
    expect(
      ledger.status().find((s) => s.scope === "project:client-a" && s.window.kind === "day"),
    ).toMatchObject({
      limit: centsToMicros(5000),
      cap: centsToMicros(7500),
      raised: { micros: centsToMicros(2500), until: T0 + 60_000, ids: [made.id] },
    });
    const entries: unknown[] = [];
    readJournal(join(dir, "journal"), (e) => entries.push(e));
    expect(entries).toEqual([
      {
        type: "override",
        seq: 1,
        ts: "2026-11-20T10:00:00.000Z",
        id: made.id,
        scope: "project:client-a",
        window: "daily",
        add: centsToMicros(2500),
        until: "2026-11-20T10:01:00.000Z",
        reason: "launch day",
        by: "alice",
      },
    ]);
    await ledger.close();
    open.length = 0;

    // From the snapshot's mark (the journal has nothing after it).
    now = T0 + 30_000;
    const again = await start(dir);
    expect(again.overrides().map((o) => o.id)).toEqual([made.id]);
    await again.cancelOverride(made.id, "bob");
    expect(again.overrides()).toEqual([]);
    await expect(again.cancelOverride(made.id, "bob")).rejects.toMatchObject({ code: "not_found" });
    const second = await again.addOverride({
      scope: "workspace",
      micros: 1,
      until: T0 + 45_000,
      reason: "r",
      by: "c",
    });
    await again.close();
    open.length = 0;

    // A full replay (no snapshot) rebuilds the same: the cancelled one stays cancelled.
    const { rmSync } = await import("node:fs");
    rmSync(join(dir, "state.json"));
    const replayed = await start(dir);
    expect(replayed.overrides().map((o) => o.id)).toEqual([second.id]);
    now = T0 + 45_000;
    expect(replayed.overrides()).toEqual([]);
  });
});
