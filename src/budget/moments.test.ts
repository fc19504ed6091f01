import { describe, expect, it } from "vitest";
import { parseDuration, parseInstant, parseMoment } from "./moments.js";

const NOW = Date.parse("2026-11-20T10:00:00Z");

describe("parseMoment", () => {
  it.each([
    ["6h", NOW + 6 * 3_600_000],
    ["90s", NOW + 90_000],
    ["7d", NOW + 7 * 86_400_000],
    // A date means through that day: its end, in the budget's zone.
    ["2026-11-30", Date.parse("2026-11-30T23:00:00Z")],
    ["2026-11-30T18:00Z", Date.parse("2026-11-30T18:00:00Z")],
    ["2026-11-30T18:00:00+02:00", Date.parse("2026-11-30T16:00:00Z")],
  ])("%s", (text, expected) => {
    expect(parseMoment(text, "--until", NOW, "Europe/Berlin")).toBe(expected);
  });

  it.each([
    "tomorrow",
    "2026-02-30",
    "2026-11-30T18:00",
    "-1h",
    "",
    // Impossible timestamps are refused, not moved to another moment.
    "2026-02-30T00:00Z",
    "2026-11-31T10:00Z",
    "2026-13-01T00:00Z",
    "2026-11-30T24:00Z",
    "2026-11-30T18:60Z",
    "2026-11-30T18:00:60Z",
    "2026-11-30T18:00+24:00",
  ])("refuses %j, naming the option", (text) => {
    expect(() => parseMoment(text, "--until", NOW, "UTC")).toThrow(/^--until must be a duration/);
  });

  it("parseInstant: a real moment with its zone, leap days included", () => {
    expect(parseInstant("2028-02-29T12:00Z")).toBe(Date.parse("2028-02-29T12:00:00Z"));
    expect(parseInstant("2026-11-30T18:00:05.250-05:30")).toBe(Date.parse("2026-11-30T23:30:05.250Z"));
    expect(parseInstant("2026-02-29T12:00Z")).toBeUndefined();
    expect(parseInstant("2026-02-30T00:00Z")).toBeUndefined();
  });

  it("durations: 0 is none; anything else is undefined", () => {
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("1 hour")).toBeUndefined();
    expect(parseDuration("99999999999999999999d")).toBeUndefined();
  });
});
