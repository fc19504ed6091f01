import { describe, expect, it } from "vitest";
import { correctionMoment, reconcilePeriod } from "./period.js";

const NOW = Date.parse("2026-03-25T09:45:00Z");

describe("reconcilePeriod", () => {
  it.each([
    [{}, ["2026-03-22", "2026-03-23", "2026-03-24"], []],
    [{ includeToday: true }, ["2026-03-22", "2026-03-23", "2026-03-24", "2026-03-25"], ["2026-03-25"]],
    [{ since: "2026-03-20" }, ["2026-03-20", "2026-03-21", "2026-03-22", "2026-03-23", "2026-03-24"], []],
    [{ since: "2026-03-24", until: "2026-03-24" }, ["2026-03-24"], []],
    [{ until: "2026-03-02" }, ["2026-02-28", "2026-03-01", "2026-03-02"], []],
    [{ until: "2024-03-01" }, ["2024-02-28", "2024-02-29", "2024-03-01"], []],
    [{ since: "2026-03-25", until: "2026-03-25", includeToday: true }, ["2026-03-25"], ["2026-03-25"]],
    // --include-today with an earlier --until changes nothing: today is not in the period
    [{ until: "2026-03-10", includeToday: true }, ["2026-03-08", "2026-03-09", "2026-03-10"], []],
    // yesterday ended 9¾ hours ago: final after 6 settle hours, not yet after 12
    [{ settleHours: 12 }, ["2026-03-22", "2026-03-23", "2026-03-24"], ["2026-03-24"]],
    [
      { settleHours: 34, includeToday: true },
      ["2026-03-22", "2026-03-23", "2026-03-24", "2026-03-25"],
      ["2026-03-23", "2026-03-24", "2026-03-25"],
    ],
  ])("%j → %j", (flags, days, provisional) => {
    const p = reconcilePeriod({ ...flags, now: NOW });
    expect(p.days).toEqual(days);
    expect(p.provisional).toEqual(provisional);
    expect(p.since).toBe(days[0]);
    expect(p.until).toBe(days.at(-1));
    expect(p.start).toBe(Date.parse(`${days[0]}T00:00:00Z`));
    expect(p.end).toBe(Date.parse(`${days.at(-1)}T00:00:00Z`) + 86_400_000);
  });

  it("a day starts at 00:00 UTC: just after midnight the day before is in the period, provisionally", () => {
    const p = reconcilePeriod({ now: Date.parse("2026-03-25T00:23:00Z") });
    expect(p.until).toBe("2026-03-24");
    // the cron line's first runs after midnight: the provider is still adding to yesterday
    expect(p.provisional).toEqual(["2026-03-24"]);
    const settled = (iso: string) => reconcilePeriod({ now: Date.parse(iso) }).provisional;
    expect(settled("2026-03-25T05:59:59.999Z")).toEqual(["2026-03-24"]);
    expect(settled("2026-03-25T06:00:00Z")).toEqual([]);
    expect(reconcilePeriod({ now: Date.parse("2026-03-25T00:23:00Z"), settleHours: 0 }).provisional).toEqual(
      [],
    );
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

  const LATER = Date.parse("2027-01-15T00:00:00Z");
  // Offsets on 2026-11-30 / 2026-06-30 (southern summer / northern summer).
  it.each([
    ["Etc/GMT+12", "2026-11-30", "2026-11-30T12:00:00.000Z"], // UTC−12: noon UTC is local midnight
    ["Pacific/Pago_Pago", "2026-11-30", "2026-11-30T12:00:00.000Z"], // −11
    ["Pacific/Honolulu", "2026-11-30", "2026-11-30T12:00:00.000Z"], // −10
    ["America/Los_Angeles", "2026-11-30", "2026-11-30T12:00:00.000Z"], // −8
    ["America/Los_Angeles", "2026-06-30", "2026-06-30T12:00:00.000Z"], // −7
    ["UTC", "2026-11-30", "2026-11-30T12:00:00.000Z"],
    ["Europe/Berlin", "2026-11-30", "2026-11-30T12:00:00.000Z"], // +1
    ["Asia/Kolkata", "2026-11-30", "2026-11-30T12:00:00.000Z"], // +5:30
    ["Australia/Sydney", "2026-11-30", "2026-11-30T12:00:00.000Z"], // +11
    ["Pacific/Auckland", "2026-06-30", "2026-06-30T00:00:00.000Z"], // +12 (NZST): 12:00 local
    ["Pacific/Auckland", "2026-11-30", "2026-11-30T00:00:00.000Z"], // +13 (NZDT): 13:00 local
    ["Pacific/Chatham", "2026-11-30", "2026-11-30T00:00:00.000Z"], // +13:45
    ["Pacific/Tongatapu", "2026-11-30", "2026-11-30T00:00:00.000Z"], // +13
    ["Pacific/Kiritimati", "2026-11-30", "2026-11-30T00:00:00.000Z"], // +14: 14:00 local
  ])("%s, %s → %s: the same date in UTC and in the zone", (zone, day, iso) => {
    const at = correctionMoment(day, LATER, zone);
    expect(new Date(at).toISOString()).toBe(iso);
    expect(new Date(at).toISOString().slice(0, 10)).toBe(day);
    expect(new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(at)).toBe(day);
  });

  it("never after now: today's correction in a zone ahead of UTC counts now", () => {
    const now = Date.parse("2026-11-30T03:00:00Z");
    expect(correctionMoment("2026-11-30", now, "Pacific/Auckland")).toBe(Date.parse("2026-11-30T00:00:00Z"));
    expect(correctionMoment("2026-11-30", now, "UTC")).toBe(now);
  });
});
