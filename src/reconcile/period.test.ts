import { describe, expect, it } from "vitest";
import { correctionMoment, reconcilePeriod } from "./period.js";

const NOW = Date.parse("2026-03-25T09:45:00Z");

describe("reconcilePeriod", () => {
  it.each([
    [{}, ["2026-03-22", "2026-03-23", "2026-03-24"], undefined],
    [{ includeToday: true }, ["2026-03-22", "2026-03-23", "2026-03-24", "2026-03-25"], "2026-03-25"],
    [
      { since: "2026-03-20" },
      ["2026-03-20", "2026-03-21", "2026-03-22", "2026-03-23", "2026-03-24"],
      undefined,
    ],
    [{ since: "2026-03-24", until: "2026-03-24" }, ["2026-03-24"], undefined],
    [{ until: "2026-03-02" }, ["2026-02-28", "2026-03-01", "2026-03-02"], undefined],
    [{ until: "2024-03-01" }, ["2024-02-28", "2024-02-29", "2024-03-01"], undefined],
    [{ since: "2026-03-25", until: "2026-03-25", includeToday: true }, ["2026-03-25"], "2026-03-25"],
    // --include-today with an earlier --until changes nothing: today is not in the period
    [{ until: "2026-03-10", includeToday: true }, ["2026-03-08", "2026-03-09", "2026-03-10"], undefined],
  ])("%j → %j", (flags, days, provisional) => {
    const p = reconcilePeriod({ ...flags, now: NOW });
    expect(p.days).toEqual(days);
    expect(p.provisional).toBe(provisional);
    expect(p.since).toBe(days[0]);
    expect(p.until).toBe(days.at(-1));
    expect(p.start).toBe(Date.parse(`${days[0]}T00:00:00Z`));
    expect(p.end).toBe(Date.parse(`${days.at(-1)}T00:00:00Z`) + 86_400_000);
  });

  it("a day starts at 00:00 UTC: just after midnight the day before is complete", () => {
    const p = reconcilePeriod({ now: Date.parse("2026-03-25T00:00:00.001Z") });
    expect(p.until).toBe("2026-03-24");
  });

  it.each([
    [{ since: "2026-3-1" }, /--since must be a UTC date YYYY-MM-DD, got 2026-3-1/],
    [{ until: "2026-02-30" }, /--until must be a UTC date/],
    [{ until: "yesterday" }, /--until must be a UTC date/],
    [{ until: "2026-03-26" }, /--until 2026-03-26 is in the future \(today is 2026-03-25 UTC\)/],
    [{ until: "2026-03-25" }, /is today, which is not complete yet: add --include-today/],
    [{ since: "2026-03-24", until: "2026-03-23" }, /--since 2026-03-24 is after --until 2026-03-23/],
    [{ since: "2024-01-01" }, /the period 2024-01-01 … 2026-03-24 is 814 days; reconcile at most 366/],
  ])("%j is refused", (flags, message) => {
    expect(() => reconcilePeriod({ ...flags, now: NOW })).toThrow(message);
  });
});

describe("correctionMoment", () => {
  it("is noon UTC of the day, or now when that is still to come", () => {
    expect(correctionMoment("2026-03-24", NOW)).toBe(Date.parse("2026-03-24T12:00:00Z"));
    expect(correctionMoment("2026-03-25", NOW)).toBe(NOW);
  });
});
