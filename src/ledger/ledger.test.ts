import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { policyFrom } from "../../test/helpers/policy.js";
import type { ModelChoice } from "../budget/decide.js";
import type { Limit } from "../budget/policy.js";
import { centsToMicros } from "../money/money.js";
import { costOf, pricesFor } from "../pricing/cost.js";
import type { Usage } from "../pricing/usage.js";
import type { JournalEntry } from "./journal.js";
import { Ledger, type Reserved } from "./ledger.js";
import { spendReport } from "./report.js";

const CONFIG = `
budget:
  daily_limit_cents: 1000
  monthly_limit_cents: 20000
  timezone: America/New_York
  fallback_model_on_exceed: gpt-3.5-turbo
  rolling_limits:
    - window: 1h
      limit_cents: 900
  per_user_limits:
    enabled: true
    default:
      monthly_limit_cents: 100000
    user_limits:
      user-a:
        daily_limit_cents: 300
        monthly_limit_cents: 100000 # so the ledger keeps user-a's months, which tests read
providers:
  openai: { type: openai, api_key: sk-test }
models:
  gpt-4: { provider: openai, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6, max_output_tokens: 4096 }
  gpt-3.5-turbo: { provider: openai, estimated_input_cost_per_1k: 0.5, estimated_output_cost_per_1k: 1.5, max_output_tokens: 4096 }
`;
const policy = policyFrom(CONFIG);
const config = {
  models: policyConfigModels(),
  pricing: { stale_after_hours: 24, unknown_model: "refuse" as const, unknown_tool: "refuse" as const },
};
function policyConfigModels() {
  return {
    "gpt-4": { provider: "openai", estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 },
    "gpt-3.5-turbo": {
      provider: "openai",
      estimated_input_cost_per_1k: 0.5,
      estimated_output_cost_per_1k: 1.5,
    },
  };
}
const model = (name: string): ModelChoice => ({
  name,
  provider: "openai",
  prices: pricesFor(name, config),
  maxOutputTokens: 4096,
});
const DAY_CENTS: Limit = { window: { kind: "day" }, unit: "cents", amount: 0, kind: "budget" };
const MONTH_CENTS: Limit = { window: { kind: "month" }, unit: "cents", amount: 0, kind: "budget" };

const open: Ledger[] = [];
let clockNow = Date.parse("2026-03-25T13:45:00Z");
const clock = () => clockNow;

async function fresh(dir?: string) {
  const d = dir ?? (await mkdtemp(join(tmpdir(), "tokenpak-ledger-")));
  const { ledger, report } = await Ledger.open({ dir: d, policy, clock, snapshotIntervalMs: 0 });
  open.push(ledger);
  return { ledger, report, dir: d };
}

afterEach(async () => {
  for (const l of open.splice(0)) await l.close().catch(() => {});
  clockNow = Date.parse("2026-03-25T13:45:00Z");
});

function journal(dir: string): JournalEntry[] {
  const files = readFileSync(join(dir, "journal", "2026-03.jsonl"), "utf8");
  return files
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);
}

const usage = (input: number, output: number): Usage => ({
  input,
  output,
  cached_input: 0,
  cache_write: 0,
  cache_write_1h: 0,
  reasoning: 0,
});

function mustAllow(r: ReturnType<Ledger["reserve"]>): Reserved {
  if (r.action !== "allow") throw new Error(`expected allow, got ${JSON.stringify(r)}`);
  return r;
}

describe("Ledger", () => {
  it("reserves the worst case, settles the real cost, and journals both", async () => {
    const { ledger, dir } = await fresh();
    const r = mustAllow(
      ledger.reserve({
        requestId: "r1",
        identity: { user: "user-a" },
        model: model("gpt-4"),
        inputTokens: 1000,
        requestedMaxTokens: 500,
      }),
    );
    await r.written;
    expect(ledger.usage("user:user-a", DAY_CENTS)).toEqual({ spent: 0, reserved: centsToMicros(6) });
    const cost = costOf(usage(1000, 200), model("gpt-4").prices);
    await ledger.settle("r1", { usage: usage(1000, 200), cost, status: "ok" });
    expect(ledger.usage("user:user-a", DAY_CENTS)).toEqual({ spent: centsToMicros(4.2), reserved: 0 });
    expect(ledger.usage("workspace", MONTH_CENTS)).toEqual({ spent: centsToMicros(4.2), reserved: 0 });
    const lines = journal(dir);
    expect(lines.map((l) => l.type)).toEqual(["reserve", "settle"]);
    expect(lines[1]).toMatchObject({
      seq: 2,
      request_id: "r1",
      user: "user-a",
      model: "gpt-4",
      cost,
      status: "ok",
      reserved: centsToMicros(6),
    });
  });

  it("blocks with the scope, window and reset time when the user's daily cap is spent", async () => {
    const { ledger } = await fresh();
    for (let i = 0; i < 100; i++) {
      const r = ledger.reserve({
        requestId: `r${i}`,
        identity: { user: "user-a" },
        model: model("gpt-4"),
        inputTokens: 1000,
        requestedMaxTokens: 1000,
      });
      if (r.action === "block") {
        expect(r.reason).toBe("budget");
        expect(r.breach.scope.id).toBe("user:user-a");
        expect(r.breach.limit.window.kind).toBe("day");
        // next local midnight in New York (EDT, UTC−4)
        expect(r.resetsAt).toBe(Date.parse("2026-03-26T04:00:00Z"));
        return;
      }
      await ledger.settle(r.requestId, { usage: usage(1000, 1000), cost: r.reserve.micros, status: "ok" });
    }
    throw new Error("never blocked");
  });

  it("a release frees the reservation without charging", async () => {
    const { ledger } = await fresh();
    const r = mustAllow(
      ledger.reserve({ requestId: "x", identity: { user: "u" }, model: model("gpt-4"), inputTokens: 10 }),
    );
    expect(ledger.usage("workspace", DAY_CENTS).reserved).toBeGreaterThan(0);
    await ledger.release(r.requestId, "upstream_unreachable");
    expect(ledger.usage("workspace", DAY_CENTS)).toEqual({ spent: 0, reserved: 0 });
    expect(ledger.openReservations).toBe(0);
  });

  it("a new local day is a new window; the month keeps counting", async () => {
    const { ledger } = await fresh();
    clockNow = Date.parse("2026-03-26T03:59:00Z"); // 23:59 in New York
    const a = mustAllow(
      ledger.reserve({
        requestId: "a",
        identity: { user: "user-a" },
        model: model("gpt-4"),
        inputTokens: 1000,
        requestedMaxTokens: 100,
      }),
    );
    await ledger.settle(a.requestId, { usage: usage(1000, 100), cost: a.reserve.micros, status: "ok" });
    expect(ledger.usage("user:user-a", DAY_CENTS).spent).toBe(a.reserve.micros);
    clockNow = Date.parse("2026-03-26T04:00:00Z"); // midnight
    expect(ledger.usage("user:user-a", DAY_CENTS).spent).toBe(0);
    expect(ledger.usage("user:user-a", MONTH_CENTS).spent).toBe(a.reserve.micros);
  });

  it("a request reserved before midnight and settled after it counts in the day it was reserved", async () => {
    const { ledger } = await fresh();
    clockNow = Date.parse("2026-03-26T03:59:00Z"); // 23:59 in New York
    const before = mustAllow(
      ledger.reserve({
        requestId: "late",
        identity: { user: "user-a" },
        model: model("gpt-4"),
        inputTokens: 1000,
        requestedMaxTokens: 4096,
      }),
    );
    clockNow = Date.parse("2026-03-26T04:01:00Z"); // 00:01: a new day, whose window never counted "late"
    const after = mustAllow(
      ledger.reserve({
        requestId: "early",
        identity: { user: "user-a" },
        model: model("gpt-4"),
        inputTokens: 1000,
        requestedMaxTokens: 4096,
      }),
    );
    await ledger.settle(before.requestId, {
      usage: usage(1000, 4096),
      cost: before.reserve.micros,
      status: "ok",
    });
    const today = ledger.usage("user:user-a", DAY_CENTS);
    expect(today).toEqual({ spent: 0, reserved: after.reserve.micros });
    clockNow = Date.parse("2026-03-26T03:00:00Z");
    expect(ledger.usage("user:user-a", DAY_CENTS).spent).toBe(before.reserve.micros);
  });

  it("the TTL sweep releases forgotten reservations", async () => {
    const { ledger } = await fresh();
    mustAllow(ledger.reserve({ requestId: "lost", identity: {}, model: model("gpt-4"), inputTokens: 10 }));
    expect(ledger.sweep()).toBe(0);
    clockNow += 11 * 60_000;
    expect(ledger.sweep()).toBe(1);
    expect(ledger.openReservations).toBe(0);
    expect(ledger.usage("workspace", DAY_CENTS)).toEqual({ spent: 0, reserved: 0 });
  });

  it("reopening replays to the same counters, from the snapshot or from the journal alone", async () => {
    const { ledger, dir } = await fresh();
    for (let i = 0; i < 20; i++) {
      const r = mustAllow(
        ledger.reserve({
          requestId: `r${i}`,
          identity: { user: `u${i % 3}`, project: undefined },
          model: model("gpt-3.5-turbo"),
          inputTokens: 100,
          requestedMaxTokens: 50,
        }),
      );
      await ledger.settle(r.requestId, { usage: usage(100, 40), cost: 100 + i, status: "ok" });
    }
    const before = ledger.usage("workspace", MONTH_CENTS);
    await ledger.close();
    const again = await fresh(dir);
    expect(again.report.replayed).toBe(0); // the snapshot had it all
    expect(again.ledger.usage("workspace", MONTH_CENTS)).toEqual(before);
    await again.ledger.close();
    writeFileSync(join(dir, "state.json"), ""); // lost snapshot: a full replay must rebuild it
    const { unlinkSync } = await import("node:fs");
    unlinkSync(join(dir, "state.json"));
    const rebuilt = await fresh(dir);
    expect(rebuilt.report).toMatchObject({ fullReplay: true, replayed: 40 });
    expect(rebuilt.ledger.usage("workspace", MONTH_CENTS)).toEqual(before);
    expect(rebuilt.ledger.usage("user:u1", MONTH_CENTS).spent).toBe(
      [1, 4, 7, 10, 13, 16, 19].reduce((s, i) => s + 100 + i, 0),
    );
  });

  it("after a crash, requests in flight are charged at their reservation and flagged", async () => {
    const { ledger, dir } = await fresh();
    const r = mustAllow(
      ledger.reserve({
        requestId: "inflight",
        identity: { user: "user-a" },
        model: model("gpt-4"),
        inputTokens: 500,
        requestedMaxTokens: 100,
      }),
    );
    await r.written;
    ledger.abandon(); // kill -9: no close, no snapshot
    open.pop();
    const { ledger: after, report } = await fresh(dir);
    expect(report.recovered).toBe(1);
    expect(after.usage("user:user-a", DAY_CENTS)).toEqual({ spent: r.reserve.micros, reserved: 0 });
    const last = journal(dir).at(-1);
    expect(last).toMatchObject({
      type: "settle",
      request_id: "inflight",
      status: "recovered",
      cost: r.reserve.micros,
    });
  });

  it("tolerates a torn last journal line and cuts it off", async () => {
    const { ledger, dir } = await fresh();
    const r = mustAllow(
      ledger.reserve({
        requestId: "a",
        identity: {},
        model: model("gpt-4"),
        inputTokens: 10,
        requestedMaxTokens: 10,
      }),
    );
    await ledger.settle(r.requestId, { usage: usage(10, 10), cost: 5, status: "ok" });
    ledger.abandon();
    open.pop();
    const file = join(dir, "journal", "2026-03.jsonl");
    writeFileSync(file, `${readFileSync(file, "utf8")}{"type":"settle","seq":3,"ts":"2026-03-2`);
    const { ledger: after, report } = await fresh(dir);
    expect(report.tornBytes).toBeGreaterThan(0);
    expect(after.usage("workspace", DAY_CENTS).spent).toBe(5);
    expect(readFileSync(file, "utf8").endsWith("}\n")).toBe(true);
  });

  it("refuses a data directory another live process holds, naming its pid", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-lock-"));
    writeFileSync(join(dir, "tokenpak.lock"), `${process.ppid}\n`);
    await expect(Ledger.open({ dir, policy, clock })).rejects.toMatchObject({
      code: "ledger_locked",
      message: expect.stringContaining(`pid ${process.ppid}`),
    });
    // A lock left by a dead process is taken over.
    writeFileSync(join(dir, "tokenpak.lock"), "2147483646\n");
    const { ledger } = await Ledger.open({ dir, policy, clock, snapshotIntervalMs: 0 });
    open.push(ledger);
    expect(readFileSync(join(dir, "tokenpak.lock"), "utf8").split("\n")[0]).toBe(String(process.pid));
  });

  it("reports spend grouped by any dimension, with adjustments apart", async () => {
    const { ledger, dir } = await fresh();
    const spend = [
      { user: "a", project: "p1", cost: 100 },
      { user: "b", project: "p1", cost: 200 },
      { user: "a", project: "p2", cost: 400 },
    ];
    for (const [i, s] of spend.entries()) {
      const r = mustAllow(
        ledger.reserve({
          requestId: `q${i}`,
          identity: { user: s.user, project: s.project },
          model: model("gpt-4"),
          inputTokens: 10,
          requestedMaxTokens: 10,
        }),
      );
      await ledger.settle(r.requestId, { usage: usage(10, 10), cost: s.cost, status: "ok" });
    }
    await ledger.adjust({ identity: { project: "p1" }, cost: -50, reason: "reconcile" });
    const report = await spendReport(dir, {
      from: 0,
      to: Date.parse("2027-01-01"),
      groupBy: ["project"],
      timeZone: "UTC",
    });
    expect(report.rows).toEqual([
      expect.objectContaining({ group: { project: "p2" }, spend: 400, adjustments: 0, requests: 1 }),
      expect.objectContaining({
        group: { project: "p1" },
        spend: 300,
        adjustments: -50,
        total: 250,
        requests: 2,
      }),
    ]);
    expect(report.totals).toMatchObject({ spend: 700, adjustments: -50, total: 650 });
    const byUserDay = await spendReport(dir, {
      from: 0,
      to: Date.parse("2027-01-01"),
      groupBy: ["user", "day"],
      timeZone: "America/New_York",
    });
    expect(byUserDay.rows[0]).toMatchObject({ group: { user: "a", day: "2026-03-25" }, spend: 500 });
    expect(ledger.usage("project:p1", MONTH_CENTS).spent).toBe(250);
    expect(await readdir(join(dir, "journal"))).toEqual(["2026-03.jsonl"]);
  });

  it("a correction dated to an earlier day counts in that day's windows, also after a restart, and says so when it blocks", async () => {
    const { ledger, dir } = await fresh();
    // 2026-03-25 13:45Z; the budget's days are New York days. Tuesday the 24th, noon UTC:
    const tuesday = Date.parse("2026-03-24T12:00:00Z");
    await ledger.adjust({
      identity: { user: "user-a" },
      model: "gpt-4",
      provider: "openai",
      cost: centsToMicros(250),
      reason: "reconcile",
      source: "openai-api",
      at: tuesday,
      reconcile: { day: "2026-03-24", model: "gpt-4", delta: 1, provider_cost: 2, ledger_cost: 1 },
    });
    expect(ledger.usage("user:user-a", DAY_CENTS).spent).toBe(0);
    expect(ledger.usage("user:user-a", MONTH_CENTS).spent).toBe(centsToMicros(250));
    expect(ledger.usage("user:user-a", DAY_CENTS, tuesday).spent).toBe(centsToMicros(250));
    const [entry] = journal(dir);
    expect(entry).toMatchObject({
      type: "adjust",
      at: "2026-03-24T12:00:00.000Z",
      ts: "2026-03-25T13:45:00.000Z",
    });
    // A later moment than now is taken as now: a correction never counts in a window yet to come.
    await ledger.adjust({
      identity: { user: "user-a" },
      cost: 1,
      reason: "manual",
      at: clockNow + 86_400_000,
    });
    expect(journal(dir)[1]).not.toHaveProperty("at");
    // The report puts it on the day it corrects.
    const byDay = await spendReport(dir, {
      from: 0,
      to: Date.parse("2027-01-01"),
      groupBy: ["day"],
      timeZone: "UTC",
    });
    expect(byDay.rows).toEqual([
      expect.objectContaining({ group: { day: "2026-03-24" }, adjustments: centsToMicros(250), spend: 0 }),
      expect.objectContaining({ group: { day: "2026-03-25" }, adjustments: 1 }),
    ]);
    await ledger.close();

    // Replayed from the journal only (no snapshot), the correction lands in the same windows.
    rmSync(join(dir, "state.json"));
    const again = (await fresh(dir)).ledger;
    expect(again.usage("user:user-a", MONTH_CENTS).spent).toBe(centsToMicros(250) + 1);
    expect(again.usage("user:user-a", DAY_CENTS).spent).toBe(1);
    // A month correction that exhausts the monthly budget blocks, and the refusal knows it was a correction.
    await again.adjust({ identity: {}, cost: centsToMicros(20000), reason: "reconcile", at: tuesday });
    const blocked = again.reserve({
      requestId: "after",
      identity: { user: "user-b" },
      model: model("gpt-3.5-turbo"),
      inputTokens: 10,
      requestedMaxTokens: 10,
    });
    expect(blocked).toMatchObject({
      action: "block",
      breach: { scope: { id: "workspace" }, limit: { window: { kind: "month" } } },
      corrected: centsToMicros(20000) + centsToMicros(250) + 1,
    });
    await again.close();
    // And after a restart from the snapshot too.
    const third = (await fresh(dir)).ledger;
    const still = third.reserve({
      requestId: "after2",
      identity: { user: "user-b" },
      model: model("gpt-3.5-turbo"),
      inputTokens: 10,
      requestedMaxTokens: 10,
    });
    expect(still).toMatchObject({ action: "block", corrected: centsToMicros(20250) + 1 });
  });

  it("a correction may take tokens away as well as money, and replays so", async () => {
    const { ledger, dir } = await fresh();
    const MONTH_TOKENS: Limit = { window: { kind: "month" }, unit: "tokens", amount: 0, kind: "budget" };
    await ledger.adjust({ identity: { user: "user-a" }, cost: 500, tokens: 40, reason: "reconcile" });
    await ledger.adjust({ identity: { user: "user-a" }, cost: -200, tokens: -15, reason: "reconcile" });
    expect(ledger.usage("user:user-a", MONTH_TOKENS).spent).toBe(25);
    await expect(async () =>
      ledger.adjust({ identity: { user: "user-a" }, cost: 1, tokens: 0.5, reason: "reconcile" }),
    ).rejects.toThrow(/non-integer adjustment/);
    await ledger.close();
    rmSync(join(dir, "state.json"));
    const again = (await fresh(dir)).ledger;
    expect(again.usage("user:user-a", MONTH_TOKENS).spent).toBe(25);
    expect(again.usage("user:user-a", MONTH_CENTS).spent).toBe(300);
  });
});
