import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { faultyFs } from "../../test/helpers/faulty-fs.js";
import { policyFrom } from "../../test/helpers/policy.js";
import type { ModelChoice } from "../budget/decide.js";
import type { Limit } from "../budget/policy.js";
import { centsToMicros } from "../money/money.js";
import type { JournalEntry } from "./journal.js";
import { Ledger, type LedgerHealth, type LedgerOptions } from "./ledger.js";

const policy = policyFrom(`
budget:
  daily_limit_cents: 100000
  monthly_limit_cents: 1000000
  per_user_limits: { enabled: true, default: { daily_limit_cents: 1000 } }
  per_run_limits: { max_cost_cents: 1000 }
providers: { p: { type: mock } }
models: { m: { provider: p, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 } }
`);
const MODEL: ModelChoice = {
  name: "m",
  provider: "p",
  prices: {
    input: centsToMicros(3),
    output: centsToMicros(6),
    cached_input: centsToMicros(3),
    cache_write: centsToMicros(3),
    cache_write_1h: centsToMicros(3),
  },
  maxOutputTokens: 100,
};
const DAY: Limit = { window: { kind: "day" }, unit: "cents", amount: 0, kind: "budget" };
const MONTH: Limit = { window: { kind: "month" }, unit: "cents", amount: 0, kind: "budget" };
const TOTAL: Limit = { window: { kind: "total" }, unit: "cents", amount: 0, kind: "budget" };
const USAGE = { input: 10, output: 10, cached_input: 0, cache_write: 0, cache_write_1h: 0, reasoning: 0 };

let now = Date.parse("2026-03-10T12:00:00Z");
const clock = () => now;
const open: Ledger[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close().catch(() => {});
  now = Date.parse("2026-03-10T12:00:00Z");
});

async function openLedger(dir: string, extra: Partial<LedgerOptions> = {}) {
  const result = await Ledger.open({ dir, policy, clock, snapshotIntervalMs: 0, ...extra });
  open.push(result.ledger);
  return result;
}

let n = 0;
function reserve(ledger: Ledger, user = "u", run?: string) {
  const r = ledger.reserve({
    requestId: `r${++n}`,
    identity: { user, ...(run !== undefined ? { run } : {}) },
    model: MODEL,
    inputTokens: 10,
    requestedMaxTokens: 10,
  });
  if (r.action !== "allow") throw new Error("blocked");
  return r;
}

function journalText(dir: string): string {
  return readdirSync(join(dir, "journal"))
    .sort()
    .map((f) => readFileSync(join(dir, "journal", f), "utf8"))
    .join("");
}

const entries = (dir: string) =>
  journalText(dir)
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);

const until = async (check: () => boolean) => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe("ledger on a failing disk (injected fs errors)", () => {
  it("obs 1: a journal write error stops admission instead of crashing, keeps every acknowledged entry, and heals by itself", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-faults-"));
    const disk = faultyFs();
    const { ledger } = await openLedger(dir, { journalIo: disk.io, journalRetryMs: 5 });
    const changes: LedgerHealth[] = [];
    ledger.onHealth((h) => changes.push(h));

    const first = reserve(ledger);
    await first.written;
    await ledger.settle(first.requestId, { usage: USAGE, cost: 1000, status: "ok" });
    const acknowledged = journalText(dir);

    disk.room = 0;
    const second = reserve(ledger);
    const third = reserve(ledger);
    await expect(second.written).rejects.toMatchObject({ code: "store_unavailable" });
    await expect(third.written).rejects.toMatchObject({ code: "store_unavailable" });
    expect(ledger.writable).toBe(false);
    expect(changes).toEqual([{ writable: false, error: expect.stringContaining("ENOSPC"), since: now }]);
    // Nothing more is admitted, and the reservations that could not be journaled hold no budget.
    expect(() => reserve(ledger)).toThrow(expect.objectContaining({ code: "store_unavailable" }));
    await new Promise((r) => setTimeout(r, 0));
    expect(ledger.openReservations).toBe(0);
    expect(ledger.usage("user:u", DAY)).toEqual({ spent: 1000, reserved: 0 });
    // No snapshot is written while the journal lags behind memory.
    await ledger.snapshot();
    expect(journalText(dir)).toBe(acknowledged);

    disk.room = Number.POSITIVE_INFINITY;
    await until(() => ledger.writable);
    expect(changes.at(-1)).toEqual({ writable: true });
    // The journal caught up in order: the two reserves, then their releases.
    expect(entries(dir).map((e) => `${e.type}:${e.seq}`)).toEqual([
      "reserve:1",
      "settle:2",
      "reserve:3",
      "reserve:4",
      "release:5",
      "release:6",
    ]);
    const fourth = reserve(ledger);
    await fourth.written;
    expect(journalText(dir).startsWith(acknowledged)).toBe(true);
  });

  it("obs 1: a settle that cannot be written is not acknowledged, still counts, and reaches the journal later", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-faults-"));
    const disk = faultyFs();
    const { ledger } = await openLedger(dir, { journalIo: disk.io, journalRetryMs: 5 });
    const r = reserve(ledger);
    await r.written;
    disk.room = 40; // torn part-way through the settle line
    await expect(ledger.settle(r.requestId, { usage: USAGE, cost: 777, status: "ok" })).rejects.toMatchObject(
      {
        code: "store_unavailable",
      },
    );
    expect(ledger.usage("user:u", DAY).spent).toBe(777); // what upstream charged is never forgotten
    expect(journalText(dir).endsWith("\n")).toBe(true);
    disk.room = Number.POSITIVE_INFINITY;
    await until(() => ledger.writable);
    expect(entries(dir).at(-1)).toMatchObject({ type: "settle", request_id: r.requestId, cost: 777 });
  });

  it("obs 9: a reservation refused for a full disk is not charged at the next start, however little room the disk had", async () => {
    const refusedReserve = (ledger: Ledger) => {
      const r = ledger.reserve({
        requestId: "refused-1",
        identity: { user: "u" },
        model: MODEL,
        inputTokens: 10,
        requestedMaxTokens: 10,
      });
      if (r.action !== "allow") throw new Error("blocked");
      return r;
    };
    // How long its reserve line is: the same reservation on a disk with room.
    const twinDir = await mkdtemp(join(tmpdir(), "tokenpak-faults-"));
    const { ledger: twin } = await openLedger(twinDir);
    await refusedReserve(twin).written;
    const reserveLine = Buffer.byteLength(journalText(twinDir));
    expect(entries(twinDir).map((e) => e.type)).toEqual(["reserve"]);

    const dir = await mkdtemp(join(tmpdir(), "tokenpak-faults-"));
    const disk = faultyFs();
    const { ledger } = await openLedger(dir, { journalIo: disk.io, journalRetryMs: 5 });
    disk.room = 0;
    await expect(refusedReserve(ledger).written).rejects.toMatchObject({ code: "store_unavailable" });
    await new Promise((r) => setTimeout(r, 0)); // its release is queued behind it
    disk.room = reserveLine; // room for the reservation's line, not for its release as well
    await new Promise((r) => setTimeout(r, 50)); // the retries
    // A clean stop that cannot write everything says so...
    await expect(ledger.close()).rejects.toMatchObject({ code: "store_unavailable" });
    open.pop();
    expect(journalText(dir)).toMatch(/^$|\n$/);
    // ...and the next start has nothing in flight to charge: the request never reached the provider.
    const { ledger: again, report } = await openLedger(dir);
    expect(report.recovered).toBe(0);
    expect(again.usage("user:u", DAY)).toEqual({ spent: 0, reserved: 0 });
  });

  it("obs 1: a restart on a full disk refuses cleanly with store_unavailable and leaves the journal as it was", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-faults-"));
    const { ledger } = await openLedger(dir);
    await reserve(ledger).written; // in flight at the crash: recovery must write a settle for it
    ledger.abandon();
    open.pop();
    const before = journalText(dir);

    const disk = faultyFs();
    disk.room = 25; // the recovery line tears
    const refused = Ledger.open({ dir, policy, clock, journalIo: disk.io });
    await expect(refused).rejects.toMatchObject({
      code: "store_unavailable",
      message: expect.stringContaining("ENOSPC"),
    });
    // Worded for a start: no requests are being refused, nothing runs.
    const { message } = (await refused.catch((e: unknown) => e)) as Error;
    expect(message).toContain("it cannot start until it can");
    expect(message).not.toContain("requests are refused");
    expect(journalText(dir)).toBe(before);
    expect(existsSync(join(dir, "tokenpak.lock"))).toBe(false); // let go: a later start may proceed

    const { report } = await openLedger(dir); // space again
    expect(report.recovered).toBe(1);
    expect(entries(dir).at(-1)).toMatchObject({ type: "settle", status: "recovered" });
  });
});

describe("the snapshot is a cache", () => {
  async function ledgerWithHistory() {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-snapshot-"));
    const { ledger } = await openLedger(dir);
    for (let i = 0; i < 5; i++) {
      const r = reserve(ledger, `user-${i % 2}`);
      await ledger.settle(r.requestId, { usage: USAGE, cost: 100 + i, status: "ok" });
    }
    const month = ledger.usage("workspace", MONTH);
    await ledger.close();
    open.pop();
    return { dir, month };
  }

  it.each([
    ["missing", (path: string) => unlinkSync(path), "is missing"],
    [
      "torn",
      (path: string) => writeFileSync(path, readFileSync(path, "utf8").slice(0, 40)),
      "not valid JSON",
    ],
    [
      "of another version",
      (path: string) => {
        const state = JSON.parse(readFileSync(path, "utf8")) as { version: number };
        writeFileSync(path, JSON.stringify({ ...state, version: 99 }));
      },
      "has version 99",
    ],
    ["not an object", (path: string) => writeFileSync(path, "[1, 2, 3]"), "is not a JSON object"],
    ["lacking fields", (path: string) => writeFileSync(path, '{"version": 1, "seq": "x"}'), "lacks fields"],
  ])(
    "obs 2: a state.json that is %s means a full replay with one warning, never a refusal",
    async (_what, damage, warning) => {
      const { dir, month } = await ledgerWithHistory();
      damage(join(dir, "state.json"));
      const { ledger, report } = await openLedger(dir);
      expect(report).toMatchObject({ fullReplay: true, replayed: 10 });
      expect(report.warnings).toEqual([expect.stringContaining(warning)]);
      expect(report.warnings[0]).toContain("rebuilt the ledger from the journal (10 entries)");
      expect(ledger.usage("workspace", MONTH)).toEqual(month);
    },
  );

  it("a sound snapshot means no warning and no replay", async () => {
    const { dir, month } = await ledgerWithHistory();
    const { ledger, report } = await openLedger(dir);
    expect(report).toMatchObject({ fullReplay: false, replayed: 0, warnings: [] });
    expect(ledger.usage("workspace", MONTH)).toEqual(month);
  });

  it("a snapshot that cannot be written is reported once and leaves the last good one in place", async () => {
    const { dir } = await ledgerWithHistory();
    const good = readFileSync(join(dir, "state.json"), "utf8");
    const warnings: string[] = [];
    const { ledger } = await openLedger(dir, { warn: (m) => warnings.push(m) });
    mkdirSync(join(dir, "state.json.tmp")); // the temp file cannot be created
    await reserve(ledger).written;
    await ledger.snapshot();
    await ledger.snapshot();
    expect(warnings).toEqual([expect.stringMatching(/cannot write .*state\.json \(.*EISDIR\)/)]);
    expect(readFileSync(join(dir, "state.json"), "utf8")).toBe(good);
    rmSync(join(dir, "state.json.tmp"), { recursive: true });
    await ledger.snapshot();
    expect(warnings.at(-1)).toContain("is written again");
    expect(readFileSync(join(dir, "state.json"), "utf8")).not.toBe(good);
    expect(existsSync(join(dir, "state.json.tmp"))).toBe(false);
  });

  it("a config whose limits count in other windows rebuilds from the journal", async () => {
    const { dir } = await ledgerWithHistory();
    const monthly = policyFrom(`
budget:
  daily_limit_cents: 100000
  monthly_limit_cents: 1000000
  per_user_limits: { enabled: true, default: { daily_limit_cents: 1000, monthly_limit_cents: 5000 } }
  per_run_limits: { max_cost_cents: 1000 }
providers: { p: { type: mock } }
models: { m: { provider: p, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 } }
`);
    const { ledger, report } = await Ledger.open({ dir, policy: monthly, clock, snapshotIntervalMs: 0 });
    open.push(ledger);
    expect(report.fullReplay).toBe(true);
    expect(report.warnings).toEqual([expect.stringContaining("the windows the limits count in changed")]);
    // The users' months were never kept under the old config; the journal still has them.
    expect(ledger.usage("user:user-0", MONTH).spent).toBe(100 + 102 + 104);
  });
});

describe("files and shutdown", () => {
  it("obs 6: the journal and state.json are created mode 0600 (and an older, wider journal is narrowed)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-modes-"));
    const umask = process.umask(0o022);
    try {
      const mode = (path: string) => statSync(path).mode & 0o777;
      const { ledger } = await openLedger(dir);
      await reserve(ledger).written;
      expect(mode(join(dir, "tokenpak.lock"))).toBe(0o600);
      await ledger.close();
      open.pop();
      expect(mode(join(dir, "journal", "2026-03.jsonl"))).toBe(0o600);
      expect(mode(join(dir, "state.json"))).toBe(0o600);
      chmodSync(join(dir, "journal", "2026-03.jsonl"), 0o644);
      const again = await openLedger(dir);
      await reserve(again.ledger).written;
      expect(mode(join(dir, "journal", "2026-03.jsonl"))).toBe(0o600);
    } finally {
      process.umask(umask);
    }
  });

  it("obs 9: after a clean close nothing is 'in flight at the last crash'; what was still open is charged as interrupted", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-close-"));
    const { ledger } = await openLedger(dir);
    const r = reserve(ledger);
    await r.written;
    expect(await ledger.close()).toEqual({ interrupted: 1 });
    open.pop();
    expect(entries(dir).at(-1)).toMatchObject({
      type: "settle",
      request_id: r.requestId,
      status: "interrupted",
      cost: r.reserve.micros,
    });
    const { ledger: again, report } = await openLedger(dir);
    expect(report.recovered).toBe(0);
    expect(again.usage("user:u", DAY)).toEqual({ spent: r.reserve.micros, reserved: 0 });
  });
});

describe("bounded memory over time", () => {
  async function snapshotScopes(ledger: Ledger, dir: string): Promise<string[]> {
    await ledger.snapshot();
    const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as {
      counters: Record<string, Record<string, unknown>>;
    };
    return Object.keys(state.counters).sort();
  }

  it("obs 5: 2,000 distinct users leave nothing behind a day later, and keep only the windows their limits count in meanwhile", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-memory-"));
    const { ledger } = await openLedger(dir);
    for (let i = 0; i < 2000; i++) {
      const r = reserve(ledger, `visitor-${i}`);
      void ledger.settle(r.requestId, { usage: USAGE, cost: 10, status: "ok" });
    }
    const scopes = await snapshotScopes(ledger, dir);
    expect(scopes).toHaveLength(2001); // the users and the workspace; model:m has no limit to count for
    const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as {
      counters: Record<string, Record<string, unknown>>;
    };
    // A user's only limit is daily: no month, no total kept for them.
    expect(Object.keys(state.counters["user:visitor-7"] ?? {})).toEqual(["d:2026-03-10"]);
    // The workspace keeps its limits' windows, and its all-time total: one number whatever the traffic.
    expect(Object.keys(state.counters.workspace ?? {}).sort()).toEqual(["d:2026-03-10", "m:2026-03", "t"]);
    const size = statSync(join(dir, "state.json")).size;

    now += 25 * 3600_000; // a day later: every visitor idle past their longest window
    expect(await snapshotScopes(ledger, dir)).toEqual(["workspace"]);
    expect(statSync(join(dir, "state.json")).size).toBeLessThan(size / 100);
    expect(ledger.usage("workspace", MONTH).spent).toBe(2000 * 10); // what must count still does
  });

  it("obs 5: an agent run's total is kept while it could matter and forgotten after a month idle", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-runs-"));
    const { ledger } = await openLedger(dir);
    const r = reserve(ledger, "u", "run-1");
    await ledger.settle(r.requestId, { usage: USAGE, cost: 500, status: "ok" });
    now += 20 * 86_400_000;
    expect(await snapshotScopes(ledger, dir)).toContain("run:run-1");
    expect(ledger.usage("run:run-1", TOTAL).spent).toBe(500);
    await ledger.close();
    open.pop();
    // The run's last activity survives a restart.
    const { ledger: again } = await openLedger(dir);
    now += 12 * 86_400_000;
    expect(await snapshotScopes(again, dir)).not.toContain("run:run-1");
  });
});
