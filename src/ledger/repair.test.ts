import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { policyFrom } from "../../test/helpers/policy.js";
import type { Limit } from "../budget/policy.js";
import { Ledger } from "./ledger.js";
import { repairLedger } from "./repair.js";

const policy = policyFrom(`
budget: { daily_limit_cents: 100000, monthly_limit_cents: 1000000 }
providers: { p: { type: mock } }
models: { m: { provider: p, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 } }
`);
const MONTH: Limit = { window: { kind: "month" }, unit: "cents", amount: 0, kind: "budget" };
const clock = () => Date.parse("2026-03-10T12:00:00Z");
const USAGE = { input: 1, output: 1, cached_input: 0, cache_write: 0, cache_write_1h: 0, reasoning: 0 };

/** A journal of 3 settled requests (6 lines), then damaged as obs. 1 left it, and by a bad sector. */
async function damagedJournal() {
  const dir = await mkdtemp(join(tmpdir(), "tokenpak-repair-"));
  const { ledger } = await Ledger.open({ dir, policy, clock, snapshotIntervalMs: 0 });
  for (let i = 0; i < 3; i++) {
    const r = ledger.reserve({
      requestId: `r${i}`,
      identity: { user: "u" },
      model: {
        name: "m",
        provider: "p",
        prices: { input: 1, output: 1, cached_input: 1, cache_write: 1, cache_write_1h: 1 },
        maxOutputTokens: 10,
      },
      inputTokens: 1,
      requestedMaxTokens: 1,
    });
    if (r.action !== "allow") throw new Error("blocked");
    await ledger.settle(r.requestId, { usage: USAGE, cost: 100 * (i + 1), status: "ok" });
  }
  await ledger.close();
  const file = join(dir, "journal", "2026-03.jsonl");
  const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
  // Line 4 (the second settle): a torn fragment of it, then the same line written whole after it.
  const torn = `${(lines[3] ?? "").slice(0, 60)}${lines[3]}`;
  const damaged = [lines[0], lines[1], lines[2], torn, lines[4], "\u0000\u0000 sector gone", lines[5]];
  writeFileSync(file, `${damaged.join("\n")}\n`);
  return { dir, file, lines };
}

describe("tokenpak ledger repair", () => {
  it("obs 2: a corrupt line in the middle stops start-up with its file:line and the way out", async () => {
    const { dir, file } = await damagedJournal();
    unlinkSync(join(dir, "state.json")); // a full replay meets the first bad line
    await expect(Ledger.open({ dir, policy, clock })).rejects.toMatchObject({
      code: "ledger_corrupt",
      message: expect.stringMatching(new RegExp(`${file}:4 .*tokenpak ledger repair`)),
    });
  });

  it("obs 2: shows what it would do and changes nothing without --yes", async () => {
    const { dir, file } = await damagedJournal();
    const before = readFileSync(file, "utf8");
    const result = await repairLedger(dir, { apply: false });
    expect(result.applied).toBe(false);
    expect(result.bad.map((b) => [b.file, b.line, b.reason, b.kept?.seq])).toEqual([
      ["journal/2026-03.jsonl", 4, "not a journal entry", 4],
      ["journal/2026-03.jsonl", 6, "not a journal entry", undefined],
    ]);
    expect(result.entries).toBe(6);
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(existsSync(`${file}.corrupt`)).toBe(false);
  });

  it("obs 2: with --yes moves the bad lines to *.corrupt with a record, keeps the glued entry, and the ledger opens with every request", async () => {
    const { dir, file, lines } = await damagedJournal();
    const result = await repairLedger(dir, { apply: true, now: clock() });
    expect(result).toMatchObject({
      applied: true,
      movedTo: ["journal/2026-03.jsonl.corrupt"],
      snapshotReset: true,
    });
    expect(readFileSync(file, "utf8")).toBe(`${lines.join("\n")}\n`);
    const records = readFileSync(`${file}.corrupt`, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toEqual([
      expect.objectContaining({
        file: "journal/2026-03.jsonl",
        line: 4,
        reason: "not a journal entry",
        dropped: (lines[3] ?? "").slice(0, 60),
        kept: { type: "settle", seq: 4 },
        repaired_at: "2026-03-10T12:00:00.000Z",
      }),
      expect.objectContaining({ line: 6, dropped: "\u0000\u0000 sector gone" }),
    ]);
    const { ledger, report } = await Ledger.open({ dir, policy, clock, snapshotIntervalMs: 0 });
    expect(report).toMatchObject({ fullReplay: true, replayed: 6 });
    expect(ledger.usage("workspace", MONTH).spent).toBe(100 + 200 + 300);
    await ledger.close();
    expect((await repairLedger(dir, { apply: false })).bad).toEqual([]);
  });

  it("--yes refuses while another live process holds the ledger", async () => {
    const { dir } = await damagedJournal();
    writeFileSync(join(dir, "tokenpak.lock"), `${process.ppid}\n`);
    await expect(repairLedger(dir, { apply: true })).rejects.toMatchObject({ code: "ledger_locked" });
  });
});
