import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { usdFixed } from "../money/money.js";
import { NO_USAGE } from "../pricing/usage.js";
import { earliestKept } from "./compact.js";
import type { JournalEntry } from "./journal.js";
import { RollupBuilder, type RollupDay, readRollup, rollupMonths, rollupPath } from "./rollup.js";

const settle = (seq: number, ts: string, user: string, cost: number, reservedAt?: string): JournalEntry => ({
  type: "settle",
  seq,
  ts,
  request_id: `r${seq}`,
  user,
  provider: "openai",
  model: "gpt-4o",
  usage: { ...NO_USAGE, input: 10, output: 5 },
  cost,
  tokens: 15,
  reserved: cost * 2,
  status: "ok",
  ...(reservedAt ? { reserved_at: reservedAt } : {}),
});

function built(zone = "Asia/Tokyo"): { text: string; builder: RollupBuilder } {
  const b = new RollupBuilder("2025-11", zone);
  b.add({
    type: "reserve",
    seq: 1,
    ts: "2025-11-20T14:00:00.000Z",
    request_id: "x",
    provider: "openai",
    model: "gpt-4o",
    reserved: { micros: 1, tokens: 1, requests: 1 },
    expires_at: "2025-11-20T14:10:00.000Z",
  });
  b.add(settle(2, "2025-11-20T14:30:00.000Z", "alice", 100));
  b.add(settle(3, "2025-11-20T14:40:00.000Z", "alice", 200));
  // Reserved before Tokyo's midnight, settled after: the day of its reservation.
  b.add(settle(4, "2025-11-20T15:00:05.000Z", "alice", 300, "2025-11-20T14:59:59.000Z"));
  b.add(settle(5, "2025-11-20T15:30:00.000Z", "alice", 400));
  b.add(settle(6, "2025-11-20T15:30:00.000Z", "bob", 500));
  b.add({
    type: "adjust",
    seq: 7,
    ts: "2025-11-25T00:00:00.000Z",
    user: "bob",
    cost: -50,
    tokens: 0,
    reason: "reconcile",
    at: "2025-11-19T00:00:00.000Z",
  });
  return { text: b.text(Date.parse("2026-01-10T00:00:00Z")), builder: b };
}

function read(text: string) {
  const dir = mkdtempSync(join(tmpdir(), "tokenpak-rollup-"));
  const path = join(dir, "2025-11.rollup.jsonl");
  writeFileSync(path, text);
  const days: RollupDay[] = [];
  let adjusted = 0;
  const header = readRollup(path, {
    day: (d) => days.push(d),
    entry: (e) => {
      if (e.type === "adjust") adjusted += e.cost;
    },
  });
  return { header, days, adjusted };
}

describe("rollups", () => {
  it("fold settles per local day × who × model, keep adjustments verbatim, and read back whole", () => {
    const { text, builder } = built();
    const { header, days, adjusted } = read(text);
    expect(header).toMatchObject({
      month: "2025-11",
      timezone: "Asia/Tokyo",
      first_seq: 1,
      last_seq: 7,
      entries: { reserve: 1, settle: 5, adjust: 1 },
      totals: { requests: 5, cost: 1500, tokens: 75, adjustments: 1, adjust_cost: -50, adjust_tokens: 0 },
    });
    expect(header.totals).toEqual(builder.totals);
    expect(days.map((d) => [d.day, d.user, d.requests, d.cost, d.at])).toEqual([
      ["2025-11-20", "alice", 3, 600, "2025-11-20T14:30:00.000Z"],
      ["2025-11-21", "alice", 1, 400, "2025-11-20T15:30:00.000Z"],
      ["2025-11-21", "bob", 1, 500, "2025-11-20T15:30:00.000Z"],
    ]);
    expect(days[0]?.usage).toMatchObject({ input: 30, output: 15 });
    expect(adjusted).toBe(-50);
  });

  it("refuse a rollup whose totals are off, or whose lines were changed so they still add up", () => {
    const { text } = built();
    const offTotals = text.replace('"cost":1500', '"cost":1499');
    expect(() => read(offTotals)).toThrow(
      /adds up to \$0\.000015 in 5 requests .* where its header says \$0\.00001499/,
    );
    const renamed = text.replace('"user":"bob"', '"user":"eve"');
    expect(() => read(renamed)).toThrow(/does not match its digest/);
    expect(() => read(text.slice(0, -1))).toThrow(/ends in an incomplete line/);
    expect(() => read(text.split("\n").slice(1).join("\n"))).toThrow(/does not start with a rollup header/);
  });

  it("a month whose journal file is still there is no rollup yet (an unfinished compaction)", () => {
    const dir = mkdtempSync(join(tmpdir(), "tokenpak-rollups-"));
    writeFileSync(rollupPath(dir, "2025-10"), "");
    writeFileSync(rollupPath(dir, "2025-11"), "");
    writeFileSync(join(dir, "2025-11.jsonl"), "");
    expect(rollupMonths(dir)).toEqual(["2025-10"]);
  });

  it.each([
    ["2026-03-10T00:00:00Z", [], "2026-03"],
    // Two days after February ended is the earliest February may go.
    ["2026-03-02T23:59:59Z", [], "2026-02"],
    ["2026-03-03T00:00:00Z", [], "2026-03"],
    // A 30-day rolling window still counts February's last days until April 1st.
    ["2026-03-20T00:00:00Z", [30], "2026-02"],
    ["2026-03-31T00:00:00Z", [30], "2026-03"],
  ])("at %s with rolling windows of %j days the first month kept is %s", (now, days, kept) => {
    const rollingWindows = days.map((d) => ({
      kind: "rolling" as const,
      ms: d * 86_400_000,
      label: `${d}d`,
    }));
    expect(earliestKept({ timeZone: "UTC", rollingWindows }, Date.parse(now))).toBe(kept);
  });

  it("usdFixed writes every micro-cent: nothing rounded", () => {
    expect(usdFixed(0)).toBe("0.00000000");
    expect(usdFixed(1)).toBe("0.00000001");
    expect(usdFixed(123_456_789_012)).toBe("1234.56789012");
    expect(usdFixed(-150)).toBe("-0.00000150");
  });
});
