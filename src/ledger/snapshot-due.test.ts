import { describe, expect, it } from "vitest";
import { SNAPSHOT_SHARE, snapshotDue } from "./snapshot.js";

describe("snapshotDue: a snapshot that takes long is written less often", () => {
  it.each([
    { now: 0, last: undefined, due: true, why: "no snapshot yet" },
    { now: 10_000, last: { endedAt: 5_000, tookMs: 2 }, due: true, why: "a small one: every tick" },
    { now: 10_000, last: { endedAt: 5_000, tookMs: 1_000 }, due: false, why: "1 s taken: not 5 s later" },
    { now: 24_000, last: { endedAt: 5_000, tookMs: 1_000 }, due: true, why: "1 s taken: 19 s later" },
    { now: 23_999, last: { endedAt: 5_000, tookMs: 1_000 }, due: false, why: "just before" },
  ])("$why", ({ now, last, due }) => {
    expect(snapshotDue(now, last)).toBe(due);
  });

  it("keeps snapshots to at most 1/SNAPSHOT_SHARE of the time", () => {
    // Simulate the 5 s timer over an hour with snapshots of 900 ms each.
    let last: { endedAt: number; tookMs: number } | undefined;
    let busy = 0;
    for (let t = 0; t < 3_600_000; t += 5_000) {
      if (!snapshotDue(t, last)) continue;
      busy += 900;
      last = { endedAt: t + 900, tookMs: 900 };
    }
    expect(busy / 3_600_000).toBeLessThanOrEqual(1 / SNAPSHOT_SHARE);
    expect(busy).toBeGreaterThan(0);
  });
});
