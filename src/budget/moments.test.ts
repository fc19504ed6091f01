import { describe, expect, it } from "vitest";
import { parseDuration, parseMoment } from "./moments.js";

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

  it.each(["tomorrow", "2026-02-30", "2026-11-30T18:00", "-1h", ""])(
    "refuses %j, naming the option",
    (text) => {
      expect(() => parseMoment(text, "--until", NOW, "UTC")).toThrow(/^--until must be a duration/);
    },
  );

  it("durations: 0 is none; anything else is undefined", () => {
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("1 hour")).toBeUndefined();
    expect(parseDuration("99999999999999999999d")).toBeUndefined();
  });
});
