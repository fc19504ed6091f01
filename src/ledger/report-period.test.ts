import { describe, expect, it } from "vitest";
import { reportPeriod } from "./report-period.js";

const NOW = Date.parse("2026-03-10T12:00:00Z");

describe("reportPeriod", () => {
  it.each([
    [
      { period: "2026-02" },
      "UTC",
      "2026-02-01",
      "2026-02-28",
      "2026-02-01T00:00:00.000Z",
      "2026-03-01T00:00:00.000Z",
    ],
    [
      { period: "2024-02" },
      "UTC",
      "2024-02-01",
      "2024-02-29",
      "2024-02-01T00:00:00.000Z",
      "2024-03-01T00:00:00.000Z",
    ],
    // Tokyo's month starts at 15:00 UTC the day before.
    [
      { period: "2026-02" },
      "Asia/Tokyo",
      "2026-02-01",
      "2026-02-28",
      "2026-01-31T15:00:00.000Z",
      "2026-02-28T15:00:00.000Z",
    ],
    // New York's March has 31 days, one of them 23 hours long (DST starts 2026-03-08).
    [
      { period: "2026-03" },
      "America/New_York",
      "2026-03-01",
      "2026-03-31",
      "2026-03-01T05:00:00.000Z",
      "2026-04-01T04:00:00.000Z",
    ],
    [
      { period: "2026-03-08" },
      "America/New_York",
      "2026-03-08",
      "2026-03-08",
      "2026-03-08T05:00:00.000Z",
      "2026-03-09T04:00:00.000Z",
    ],
    [
      { period: "2025" },
      "UTC",
      "2025-01-01",
      "2025-12-31",
      "2025-01-01T00:00:00.000Z",
      "2026-01-01T00:00:00.000Z",
    ],
    [
      { period: "last-month" },
      "UTC",
      "2026-02-01",
      "2026-02-28",
      "2026-02-01T00:00:00.000Z",
      "2026-03-01T00:00:00.000Z",
    ],
    [
      { period: "yesterday" },
      "UTC",
      "2026-03-09",
      "2026-03-09",
      "2026-03-09T00:00:00.000Z",
      "2026-03-10T00:00:00.000Z",
    ],
    [{}, "UTC", "2026-03-01", "2026-03-10", "2026-03-01T00:00:00.000Z", "2026-03-11T00:00:00.000Z"],
    [
      { since: "2026-01-15" },
      "UTC",
      "2026-01-15",
      "2026-03-10",
      "2026-01-15T00:00:00.000Z",
      "2026-03-11T00:00:00.000Z",
    ],
    [
      { until: "2026-02-10" },
      "UTC",
      "2026-02-01",
      "2026-02-10",
      "2026-02-01T00:00:00.000Z",
      "2026-02-11T00:00:00.000Z",
    ],
  ])("%j in %s: %s … %s", (flags, zone, since, until, from, to) => {
    const p = reportPeriod(flags, zone, NOW);
    expect(p).toEqual({ since, until, from: Date.parse(from), to: Date.parse(to) });
  });

  it("this-month and today follow the zone's date, not UTC's", () => {
    // 2026-03-31T20:00Z is already April 1st in Tokyo.
    const late = Date.parse("2026-03-31T20:00:00Z");
    expect(reportPeriod({ period: "this-month" }, "Asia/Tokyo", late).since).toBe("2026-04-01");
    expect(reportPeriod({ period: "today" }, "UTC", late).since).toBe("2026-03-31");
    expect(reportPeriod({ period: "last-month" }, "UTC", Date.parse("2026-01-05T00:00:00Z")).since).toBe(
      "2025-12-01",
    );
  });

  it.each([
    [{ period: "2026-13" }, "--period must be YYYY, YYYY-MM, YYYY-MM-DD"],
    [{ period: "2026-02-30" }, "--period must be a date YYYY-MM-DD, got 2026-02-30"],
    [{ since: "2026/01/01" }, "--since must be a date YYYY-MM-DD"],
    [{ since: "2026-03-05", until: "2026-03-01" }, "--since 2026-03-05 is after --until 2026-03-01"],
    [{ period: "2026-03", since: "2026-03-01" }, "give --period, or --since/--until, not both"],
  ])("refuses %j", (flags, message) => {
    expect(() => reportPeriod(flags, "UTC", NOW)).toThrow(message);
  });
});
