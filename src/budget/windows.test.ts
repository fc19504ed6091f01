import { describe, expect, it } from "vitest";
import {
  bucketIndex,
  firstLiveBucket,
  localDateParts,
  parseWindow,
  resetsAt,
  rollingBucketMs,
  type WindowSpec,
  windowInstance,
  windowLabel,
} from "./windows.js";

const DAY: WindowSpec = { kind: "day" };
const MONTH: WindowSpec = { kind: "month" };
const TOTAL: WindowSpec = { kind: "total" };
const H24: WindowSpec = { kind: "rolling", ms: 86_400_000, label: "24h" };

const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad ISO instant in test table: ${iso}`);
  return ms;
};
const iso = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));

interface InstanceRow {
  name: string;
  zone: string;
  now: string;
  spec: WindowSpec;
  key: string;
  start: string;
  end: string;
}

function rows(
  group: string,
  zone: string,
  table: [name: string, now: string, spec: WindowSpec, key: string, start: string, end: string][],
): InstanceRow[] {
  return table.map(([name, now, spec, key, start, end]) => ({
    name: `${group}: ${name}`,
    zone,
    now,
    spec,
    key,
    start,
    end,
  }));
}

// biome-ignore format: one table row per line is easier to read and review
const instanceRows: InstanceRow[] = [
  ...rows("UTC", "UTC", [
    ["midday", "2026-03-25T12:34:56.789Z", DAY, "d:2026-03-25", "2026-03-25T00:00:00.000Z", "2026-03-26T00:00:00.000Z"],
    ["last ms of day", "2026-03-24T23:59:59.999Z", DAY, "d:2026-03-24", "2026-03-24T00:00:00.000Z", "2026-03-25T00:00:00.000Z"],
    ["midnight", "2026-03-25T00:00:00.000Z", DAY, "d:2026-03-25", "2026-03-25T00:00:00.000Z", "2026-03-26T00:00:00.000Z"],
    ["month", "2026-03-25T12:34:56.789Z", MONTH, "m:2026-03", "2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z"],
    ["Jan 31 last ms", "2026-01-31T23:59:59.999Z", DAY, "d:2026-01-31", "2026-01-31T00:00:00.000Z", "2026-02-01T00:00:00.000Z"],
    ["Feb 1 first ms", "2026-02-01T00:00:00.000Z", DAY, "d:2026-02-01", "2026-02-01T00:00:00.000Z", "2026-02-02T00:00:00.000Z"],
    ["January last ms", "2026-01-31T23:59:59.999Z", MONTH, "m:2026-01", "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"],
    ["February first ms", "2026-02-01T00:00:00.000Z", MONTH, "m:2026-02", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"],
    ["Dec 31 last ms", "2026-12-31T23:59:59.999Z", DAY, "d:2026-12-31", "2026-12-31T00:00:00.000Z", "2027-01-01T00:00:00.000Z"],
    ["Jan 1 first ms", "2027-01-01T00:00:00.000Z", DAY, "d:2027-01-01", "2027-01-01T00:00:00.000Z", "2027-01-02T00:00:00.000Z"],
    ["December last ms", "2026-12-31T23:59:59.999Z", MONTH, "m:2026-12", "2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"],
    ["January first ms", "2027-01-01T00:00:00.000Z", MONTH, "m:2027-01", "2027-01-01T00:00:00.000Z", "2027-02-01T00:00:00.000Z"],
  ]),
  ...rows("leap years", "UTC", [
    ["Feb 29 2028 exists", "2028-02-29T12:00:00.000Z", DAY, "d:2028-02-29", "2028-02-29T00:00:00.000Z", "2028-03-01T00:00:00.000Z"],
    ["Feb 28 2028 ends at Feb 29", "2028-02-28T23:59:59.999Z", DAY, "d:2028-02-28", "2028-02-28T00:00:00.000Z", "2028-02-29T00:00:00.000Z"],
    ["Feb 2028", "2028-02-15T00:00:00.000Z", MONTH, "m:2028-02", "2028-02-01T00:00:00.000Z", "2028-03-01T00:00:00.000Z"],
    ["Feb 28 2027 ends at Mar 1", "2027-02-28T23:59:59.999Z", DAY, "d:2027-02-28", "2027-02-28T00:00:00.000Z", "2027-03-01T00:00:00.000Z"],
    ["Feb 2027", "2027-02-15T00:00:00.000Z", MONTH, "m:2027-02", "2027-02-01T00:00:00.000Z", "2027-03-01T00:00:00.000Z"],
  ]),
  ...rows("America/New_York", "America/New_York", [
    ["Feb 29 2028 local", "2028-02-29T12:00:00.000Z", DAY, "d:2028-02-29", "2028-02-29T05:00:00.000Z", "2028-03-01T05:00:00.000Z"],
    ["spring forward day is 23h", "2026-03-08T12:00:00.000Z", DAY, "d:2026-03-08", "2026-03-08T05:00:00.000Z", "2026-03-09T04:00:00.000Z"],
    ["01:59:59.999 EST before the gap", "2026-03-08T06:59:59.999Z", DAY, "d:2026-03-08", "2026-03-08T05:00:00.000Z", "2026-03-09T04:00:00.000Z"],
    ["03:00 EDT after the gap", "2026-03-08T07:00:00.000Z", DAY, "d:2026-03-08", "2026-03-08T05:00:00.000Z", "2026-03-09T04:00:00.000Z"],
    ["last ms of Mar 8", "2026-03-09T03:59:59.999Z", DAY, "d:2026-03-08", "2026-03-08T05:00:00.000Z", "2026-03-09T04:00:00.000Z"],
    ["first day on EDT", "2026-03-09T04:00:00.000Z", DAY, "d:2026-03-09", "2026-03-09T04:00:00.000Z", "2026-03-10T04:00:00.000Z"],
    ["fall back day is 25h", "2026-11-01T12:00:00.000Z", DAY, "d:2026-11-01", "2026-11-01T04:00:00.000Z", "2026-11-02T05:00:00.000Z"],
    ["01:30 EDT (first pass)", "2026-11-01T05:30:00.000Z", DAY, "d:2026-11-01", "2026-11-01T04:00:00.000Z", "2026-11-02T05:00:00.000Z"],
    ["01:30 EST (second pass)", "2026-11-01T06:30:00.000Z", DAY, "d:2026-11-01", "2026-11-01T04:00:00.000Z", "2026-11-02T05:00:00.000Z"],
    ["March contains spring forward", "2026-03-15T12:00:00.000Z", MONTH, "m:2026-03", "2026-03-01T05:00:00.000Z", "2026-04-01T04:00:00.000Z"],
    ["November contains fall back", "2026-11-15T12:00:00.000Z", MONTH, "m:2026-11", "2026-11-01T04:00:00.000Z", "2026-12-01T05:00:00.000Z"],
    ["UTC already in April, local still March", "2026-04-01T03:59:59.999Z", MONTH, "m:2026-03", "2026-03-01T05:00:00.000Z", "2026-04-01T04:00:00.000Z"],
  ]),
  ...rows("Europe/Berlin", "Europe/Berlin", [
    ["spring forward day is 23h", "2026-03-29T12:00:00.000Z", DAY, "d:2026-03-29", "2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z"],
    ["fall back day is 25h", "2026-10-25T12:00:00.000Z", DAY, "d:2026-10-25", "2026-10-24T22:00:00.000Z", "2026-10-25T23:00:00.000Z"],
    ["March contains spring forward", "2026-03-15T12:00:00.000Z", MONTH, "m:2026-03", "2026-02-28T23:00:00.000Z", "2026-03-31T22:00:00.000Z"],
    ["October contains fall back", "2026-10-15T12:00:00.000Z", MONTH, "m:2026-10", "2026-09-30T22:00:00.000Z", "2026-10-31T23:00:00.000Z"],
  ]),
  ...rows("Asia/Tokyo (+9)", "Asia/Tokyo", [
    ["just before local midnight", "2026-03-24T14:59:59.999Z", DAY, "d:2026-03-24", "2026-03-23T15:00:00.000Z", "2026-03-24T15:00:00.000Z"],
    ["local midnight", "2026-03-24T15:00:00.000Z", DAY, "d:2026-03-25", "2026-03-24T15:00:00.000Z", "2026-03-25T15:00:00.000Z"],
    ["last ms of local March", "2026-03-31T14:59:59.999Z", MONTH, "m:2026-03", "2026-02-28T15:00:00.000Z", "2026-03-31T15:00:00.000Z"],
    ["local April while UTC is in March", "2026-03-31T15:00:00.000Z", MONTH, "m:2026-04", "2026-03-31T15:00:00.000Z", "2026-04-30T15:00:00.000Z"],
    ["local new year while UTC is Dec 31", "2026-12-31T15:00:00.000Z", DAY, "d:2027-01-01", "2026-12-31T15:00:00.000Z", "2027-01-01T15:00:00.000Z"],
  ]),
  ...rows("America/Los_Angeles (-7 in March)", "America/Los_Angeles", [
    ["just before local midnight", "2026-03-25T06:59:59.999Z", DAY, "d:2026-03-24", "2026-03-24T07:00:00.000Z", "2026-03-25T07:00:00.000Z"],
    ["local midnight", "2026-03-25T07:00:00.000Z", DAY, "d:2026-03-25", "2026-03-25T07:00:00.000Z", "2026-03-26T07:00:00.000Z"],
  ]),
  ...rows("Pacific/Honolulu (-10)", "Pacific/Honolulu", [
    ["local Dec 31 while UTC is Jan 1", "2027-01-01T09:59:59.999Z", DAY, "d:2026-12-31", "2026-12-31T10:00:00.000Z", "2027-01-01T10:00:00.000Z"],
    ["local December while UTC is January", "2027-01-01T09:59:59.999Z", MONTH, "m:2026-12", "2026-12-01T10:00:00.000Z", "2027-01-01T10:00:00.000Z"],
    ["local new year", "2027-01-01T10:00:00.000Z", DAY, "d:2027-01-01", "2027-01-01T10:00:00.000Z", "2027-01-02T10:00:00.000Z"],
    ["local January", "2027-01-01T10:00:00.000Z", MONTH, "m:2027-01", "2027-01-01T10:00:00.000Z", "2027-02-01T10:00:00.000Z"],
  ]),
  ...rows("Asia/Kathmandu (+5:45)", "Asia/Kathmandu", [
    ["just before local midnight", "2026-03-24T18:14:59.999Z", DAY, "d:2026-03-24", "2026-03-23T18:15:00.000Z", "2026-03-24T18:15:00.000Z"],
    ["local midnight", "2026-03-24T18:15:00.000Z", DAY, "d:2026-03-25", "2026-03-24T18:15:00.000Z", "2026-03-25T18:15:00.000Z"],
    ["month", "2026-03-24T18:15:00.000Z", MONTH, "m:2026-03", "2026-02-28T18:15:00.000Z", "2026-03-31T18:15:00.000Z"],
  ]),
  ...rows("Australia/Adelaide (+10:30 / +9:30)", "Australia/Adelaide", [
    ["just before local midnight", "2026-03-24T13:29:59.999Z", DAY, "d:2026-03-24", "2026-03-23T13:30:00.000Z", "2026-03-24T13:30:00.000Z"],
    ["local midnight", "2026-03-24T13:30:00.000Z", DAY, "d:2026-03-25", "2026-03-24T13:30:00.000Z", "2026-03-25T13:30:00.000Z"],
    ["fall back day is 25h", "2026-04-05T00:00:00.000Z", DAY, "d:2026-04-05", "2026-04-04T13:30:00.000Z", "2026-04-05T14:30:00.000Z"],
    ["spring forward day is 23h", "2026-10-04T00:00:00.000Z", DAY, "d:2026-10-04", "2026-10-03T14:30:00.000Z", "2026-10-04T13:30:00.000Z"],
  ]),
  ...rows("Australia/Lord_Howe (half-hour DST)", "Australia/Lord_Howe", [
    ["fall back day is 24.5h", "2026-04-05T00:00:00.000Z", DAY, "d:2026-04-05", "2026-04-04T13:00:00.000Z", "2026-04-05T13:30:00.000Z"],
  ]),
  // Zones whose DST switch is at 00:00 in 2025-2027 (checked with Intl on Node 20 / tzdata 2025c):
  // Africa/Cairo, America/Havana, America/Santiago, Asia/Beirut, Atlantic/Azores. Local midnight does not
  // exist on the switch date, so that day starts at 01:00 local.
  ...rows("America/Havana (no midnight)", "America/Havana", [
    ["day without midnight", "2026-03-08T12:00:00.000Z", DAY, "d:2026-03-08", "2026-03-08T05:00:00.000Z", "2026-03-09T04:00:00.000Z"],
    ["day before it", "2026-03-08T04:59:59.999Z", DAY, "d:2026-03-07", "2026-03-07T05:00:00.000Z", "2026-03-08T05:00:00.000Z"],
  ]),
  ...rows("America/Santiago (no midnight)", "America/Santiago", [
    ["day without midnight", "2026-09-06T12:00:00.000Z", DAY, "d:2026-09-06", "2026-09-06T04:00:00.000Z", "2026-09-07T03:00:00.000Z"],
    ["day before it", "2026-09-06T03:59:59.999Z", DAY, "d:2026-09-05", "2026-09-05T04:00:00.000Z", "2026-09-06T04:00:00.000Z"],
    ["month containing it", "2026-09-06T12:00:00.000Z", MONTH, "m:2026-09", "2026-09-01T04:00:00.000Z", "2026-10-01T03:00:00.000Z"],
    // 2026-04-05 00:00 -03 becomes 23:00 -04 on Apr 4: Apr 4 is 25h, its last hour repeats.
    ["fall back at midnight", "2026-04-05T03:30:00.000Z", DAY, "d:2026-04-04", "2026-04-04T03:00:00.000Z", "2026-04-05T04:00:00.000Z"],
    ["day after fall back", "2026-04-05T04:00:00.000Z", DAY, "d:2026-04-05", "2026-04-05T04:00:00.000Z", "2026-04-06T04:00:00.000Z"],
  ]),
  ...rows("Africa/Cairo (no midnight)", "Africa/Cairo", [
    ["day without midnight", "2026-04-24T12:00:00.000Z", DAY, "d:2026-04-24", "2026-04-23T22:00:00.000Z", "2026-04-24T21:00:00.000Z"],
  ]),
  ...rows("Asia/Beirut (no midnight)", "Asia/Beirut", [
    ["day without midnight", "2026-03-29T12:00:00.000Z", DAY, "d:2026-03-29", "2026-03-28T22:00:00.000Z", "2026-03-29T21:00:00.000Z"],
  ]),
  ...rows("Atlantic/Azores (no midnight)", "Atlantic/Azores", [
    ["day without midnight", "2026-03-29T12:00:00.000Z", DAY, "d:2026-03-29", "2026-03-29T01:00:00.000Z", "2026-03-30T00:00:00.000Z"],
  ]),
  // Historical oddities that exercise the same code paths harder.
  ...rows("Pacific/Apia (2011-12-30 skipped)", "Pacific/Apia", [
    ["Dec 29 ends where Dec 31 begins", "2011-12-29T20:00:00.000Z", DAY, "d:2011-12-29", "2011-12-29T10:00:00.000Z", "2011-12-30T10:00:00.000Z"],
    ["Dec 31 follows directly", "2011-12-30T10:00:00.000Z", DAY, "d:2011-12-31", "2011-12-30T10:00:00.000Z", "2011-12-31T10:00:00.000Z"],
  ]),
  // 2010-11-07 00:01 NDT fell back to 2010-11-06 23:01 NST: the local date steps back for an hour.
  // Days partition the timeline, so that repeated hour belongs to Nov 7, which had already begun.
  ...rows("America/St_Johns (fall back across midnight)", "America/St_Johns", [
    ["Nov 6", "2010-11-07T02:29:59.999Z", DAY, "d:2010-11-06", "2010-11-06T02:30:00.000Z", "2010-11-07T02:30:00.000Z"],
    ["repeated 23:15 Nov 6 is inside Nov 7", "2010-11-07T02:45:00.000Z", DAY, "d:2010-11-07", "2010-11-07T02:30:00.000Z", "2010-11-08T03:30:00.000Z"],
  ]),
];

describe("windowInstance: calendar windows", () => {
  it.each(instanceRows)("$name ($zone, $now)", ({ zone, now, spec, key, start, end }) => {
    const inst = windowInstance(spec, at(now), zone);
    expect({ key: inst.key, start: iso(inst.start), end: iso(inst.end) }).toEqual({ key, start, end });
    expect(resetsAt(spec, at(now), zone)).toBe(at(end));
  });
});

describe("windowInstance: rolling and total", () => {
  const now = at("2026-03-25T12:00:00.000Z");
  it.each([
    { spec: H24, key: "r:24h", start: "2026-03-24T12:00:00.000Z", end: "2026-03-25T12:00:00.000Z" },
    {
      spec: { kind: "rolling", ms: 30 * 60_000, label: "30m" } as WindowSpec,
      key: "r:30m",
      start: "2026-03-25T11:30:00.000Z",
      end: "2026-03-25T12:00:00.000Z",
    },
    { spec: TOTAL, key: "t", start: "-Infinity", end: "Infinity" },
  ])("$key", ({ spec, key, start, end }) => {
    const inst = windowInstance(spec, now, "Europe/Berlin");
    expect({ key: inst.key, start: iso(inst.start), end: iso(inst.end) }).toEqual({ key, start, end });
    expect(resetsAt(spec, now, "Europe/Berlin")).toBeUndefined();
  });

  it("a rolling window frees up when the bucket of its oldest counted spend has left it", () => {
    const bucket = rollingBucketMs(H24.kind === "rolling" ? H24.ms : 0); // 24 minutes
    const spentAt = at("2026-03-25T09:10:00.000Z");
    const oldest = bucketIndex(spentAt, bucket);
    const frees = resetsAt(H24, now, "Europe/Berlin", oldest);
    expect(frees).toBe((oldest + 1) * bucket + 24 * 3600_000);
    // Never before the spend itself is 24 h old, at most one bucket after.
    expect(frees).toBeGreaterThan(spentAt + 24 * 3600_000);
    expect(frees).toBeLessThanOrEqual(spentAt + 24 * 3600_000 + bucket);
  });

  it("rejects an unknown time zone", () => {
    expect(() => windowInstance(DAY, 0, "Mars/Olympus_Mons")).toThrow(RangeError);
  });
});

describe("windowInstance: per-zone cache follows the clock both ways", () => {
  const zone = "America/New_York";
  // biome-ignore format: one table row per line is easier to read and review
  const steps: [now: string, spec: WindowSpec, key: string, start: string, end: string][] = [
    ["2026-03-25T03:59:59.999Z", DAY, "d:2026-03-24", "2026-03-24T04:00:00.000Z", "2026-03-25T04:00:00.000Z"],
    ["2026-03-25T04:00:00.000Z", DAY, "d:2026-03-25", "2026-03-25T04:00:00.000Z", "2026-03-26T04:00:00.000Z"],
    ["2026-03-25T03:59:59.999Z", DAY, "d:2026-03-24", "2026-03-24T04:00:00.000Z", "2026-03-25T04:00:00.000Z"],
    ["2026-03-24T04:00:00.000Z", DAY, "d:2026-03-24", "2026-03-24T04:00:00.000Z", "2026-03-25T04:00:00.000Z"],
    ["2026-03-24T03:59:59.999Z", DAY, "d:2026-03-23", "2026-03-23T04:00:00.000Z", "2026-03-24T04:00:00.000Z"],
    ["2026-03-26T12:00:00.000Z", DAY, "d:2026-03-26", "2026-03-26T04:00:00.000Z", "2026-03-27T04:00:00.000Z"],
    ["2026-04-01T03:59:59.999Z", MONTH, "m:2026-03", "2026-03-01T05:00:00.000Z", "2026-04-01T04:00:00.000Z"],
    ["2026-04-01T04:00:00.000Z", MONTH, "m:2026-04", "2026-04-01T04:00:00.000Z", "2026-05-01T04:00:00.000Z"],
    ["2026-04-01T03:59:59.999Z", MONTH, "m:2026-03", "2026-03-01T05:00:00.000Z", "2026-04-01T04:00:00.000Z"],
    ["2026-02-28T12:00:00.000Z", MONTH, "m:2026-02", "2026-02-01T05:00:00.000Z", "2026-03-01T05:00:00.000Z"],
    ["2026-04-01T04:00:00.000Z", MONTH, "m:2026-04", "2026-04-01T04:00:00.000Z", "2026-05-01T04:00:00.000Z"],
    // Day cache is separate from month cache and was last left on Mar 26.
    ["2026-04-01T04:00:00.000Z", DAY, "d:2026-04-01", "2026-04-01T04:00:00.000Z", "2026-04-02T04:00:00.000Z"],
  ];
  it.each(steps.map(([now, spec, key, start, end], i) => ({ step: i + 1, now, spec, key, start, end })))(
    "step $step: $now -> $key",
    ({ now, spec, key, start, end }) => {
      const inst = windowInstance(spec, at(now), zone);
      expect({ key: inst.key, start: iso(inst.start), end: iso(inst.end) }).toEqual({ key, start, end });
    },
  );

  it("does not mix zones at the same instant", () => {
    const now = at("2026-03-24T15:00:00.000Z"); // Tokyo has just started Mar 25, UTC and New York have not
    expect(windowInstance(DAY, now, "UTC").key).toBe("d:2026-03-24");
    expect(windowInstance(DAY, now, "Asia/Tokyo").key).toBe("d:2026-03-25");
    expect(windowInstance(DAY, now, zone).key).toBe("d:2026-03-24");
    expect(windowInstance(DAY, now - 1, "Asia/Tokyo").key).toBe("d:2026-03-24");
    expect(windowInstance(DAY, now, "UTC").key).toBe("d:2026-03-24");
  });
});

describe("windowInstance: invariants over many instants", () => {
  const zones = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Africa/Cairo",
  ];
  // Deterministic LCG so a failure is reproducible.
  let seed = 42;
  const rand = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const from = at("2025-01-01T00:00:00.000Z");
  const to = at("2028-01-01T00:00:00.000Z");
  const samples = Array.from({ length: 400 }, () => Math.floor(from + rand() * (to - from)));

  it.each(zones)("%s: contains now, keyed by local date, adjacent instances tile", (zone) => {
    for (const spec of [DAY, MONTH]) {
      for (const now of samples) {
        const inst = windowInstance(spec, now, zone);
        expect(inst.start).toBeLessThanOrEqual(now);
        expect(inst.end).toBeGreaterThan(now);
        const local = localDateParts(now, zone);
        const mm = String(local.month).padStart(2, "0");
        const dd = String(local.day).padStart(2, "0");
        expect(inst.key).toBe(spec.kind === "day" ? `d:${local.year}-${mm}-${dd}` : `m:${local.year}-${mm}`);
        // The first instant belongs to this window, the one before it to the previous one.
        expect(windowInstance(spec, inst.start, zone).key).toBe(inst.key);
        expect(windowInstance(spec, inst.start - 1, zone).end).toBe(inst.start);
        expect(windowInstance(spec, inst.end, zone).start).toBe(inst.end);
        const length = inst.end - inst.start;
        if (spec.kind === "day") {
          expect(length).toBeGreaterThanOrEqual(23 * 3_600_000);
          expect(length).toBeLessThanOrEqual(25 * 3_600_000);
        }
      }
    }
  });
});

describe("localDateParts", () => {
  it.each([
    { ts: "2026-03-24T14:59:59.999Z", zone: "Asia/Tokyo", parts: [2026, 3, 24, 23, 59] },
    { ts: "2026-03-24T15:00:00.000Z", zone: "Asia/Tokyo", parts: [2026, 3, 25, 0, 0] },
    { ts: "2026-03-24T18:15:00.000Z", zone: "Asia/Kathmandu", parts: [2026, 3, 25, 0, 0] },
    { ts: "2026-11-01T05:30:00.000Z", zone: "America/New_York", parts: [2026, 11, 1, 1, 30] },
    { ts: "2026-11-01T06:30:00.000Z", zone: "America/New_York", parts: [2026, 11, 1, 1, 30] },
    { ts: "2026-12-31T23:59:59.999Z", zone: "UTC", parts: [2026, 12, 31, 23, 59] },
    { ts: "2026-09-06T04:00:00.000Z", zone: "America/Santiago", parts: [2026, 9, 6, 1, 0] },
  ])("$ts in $zone", ({ ts, zone, parts }) => {
    const [year, month, day, hour, minute] = parts;
    expect(localDateParts(at(ts), zone)).toEqual({ year, month, day, hour, minute });
  });
});

describe("parseWindow", () => {
  it.each([
    { text: "day", spec: DAY },
    { text: "daily", spec: DAY },
    { text: "month", spec: MONTH },
    { text: "monthly", spec: MONTH },
    { text: "total", spec: TOTAL },
    { text: "1m", spec: { kind: "rolling", ms: 60_000, label: "1m" } },
    { text: "30m", spec: { kind: "rolling", ms: 1_800_000, label: "30m" } },
    { text: "24h", spec: { kind: "rolling", ms: 86_400_000, label: "24h" } },
    { text: "10h", spec: { kind: "rolling", ms: 36_000_000, label: "10h" } },
    { text: "7d", spec: { kind: "rolling", ms: 604_800_000, label: "7d" } },
    { text: "90d", spec: { kind: "rolling", ms: 7_776_000_000, label: "90d" } },
  ])("$text is valid", ({ text, spec }) => {
    expect(parseWindow(text)).toEqual(spec);
  });

  it.each([
    "0h",
    "24",
    "1w",
    "2 days",
    "",
    "h",
    "01h",
    "-1h",
    "1.5h",
    "24H",
    " 24h",
    "24h ",
    "Day",
    "weekly",
    "1s",
    "99999999999999999999d",
  ])("%j is invalid", (text) => {
    expect(parseWindow(text)).toBeUndefined();
  });
});

describe("windowLabel", () => {
  it.each([
    { spec: DAY, label: "daily" },
    { spec: MONTH, label: "monthly" },
    { spec: H24, label: "24h" },
    { spec: { kind: "rolling", ms: 604_800_000, label: "7d" } as WindowSpec, label: "7d" },
    { spec: TOTAL, label: "total" },
  ])("$label", ({ spec, label }) => {
    expect(windowLabel(spec)).toBe(label);
  });
});

describe("rolling buckets", () => {
  it.each([
    { window: "1m", ms: 60_000, bucket: 1_000 },
    { window: "30m", ms: 1_800_000, bucket: 30_000 },
    { window: "1h", ms: 3_600_000, bucket: 60_000 },
    { window: "24h", ms: 86_400_000, bucket: 1_440_000 },
    { window: "7d", ms: 604_800_000, bucket: 10_080_000 },
    { window: "90s (below the 1s floor)", ms: 90_000, bucket: 1_000 },
    { window: "1000s (rounded down to a second)", ms: 1_000_000, bucket: 16_000 },
  ])("bucket for $window is $bucket ms", ({ ms, bucket }) => {
    expect(rollingBucketMs(ms)).toBe(bucket);
  });

  it.each([
    { ts: 0, bucketMs: 1_000, index: 0 },
    { ts: 999, bucketMs: 1_000, index: 0 },
    { ts: 1_000, bucketMs: 1_000, index: 1 },
    { ts: -1, bucketMs: 1_000, index: -1 },
    // 2026-03-25T12:00Z = 1_774_440_000_000 ms = 1_232_250 * 1_440_000 (24h window buckets)
    { ts: at("2026-03-25T12:00:00.000Z"), bucketMs: 1_440_000, index: 1_232_250 },
    { ts: at("2026-03-25T12:00:00.000Z") - 1, bucketMs: 1_440_000, index: 1_232_249 },
  ])("bucketIndex($ts, $bucketMs) = $index", ({ ts, bucketMs, index }) => {
    expect(bucketIndex(ts, bucketMs)).toBe(index);
  });

  const hour = 3_600_000;
  const b = 60_000;
  const base = 540 * b; // now - windowMs lands exactly on the start of bucket 540
  it.each([
    { name: "bucket 539 ends exactly at now - windowMs: dead", now: base + hour, first: 540 },
    {
      name: "1 ms earlier, bucket 539 ends 1 ms after now - windowMs: live",
      now: base + hour - 1,
      first: 539,
    },
    { name: "1 ms later, bucket 540 still overlaps", now: base + hour + 1, first: 540 },
    { name: "last ms before bucket 540 dies", now: base + hour + b - 1, first: 540 },
    { name: "bucket 540 ends exactly at now - windowMs: dead", now: base + hour + b, first: 541 },
  ])("firstLiveBucket: $name", ({ now, first }) => {
    expect(firstLiveBucket(now, hour, b)).toBe(first);
    // Definition: bucket `first` overlaps (now - windowMs, now], bucket `first - 1` does not.
    expect((first + 1) * b).toBeGreaterThan(now - hour);
    expect(first * b).toBeLessThanOrEqual(now - hour);
  });

  it("never under-counts: spend anywhere in (now - windowMs, now] sits in a live bucket", () => {
    const windowMs = 1_800_000;
    const bucketMs = rollingBucketMs(windowMs);
    for (let now = 10 * windowMs; now < 10 * windowMs + 3 * bucketMs; now += 997) {
      const first = firstLiveBucket(now, windowMs, bucketMs);
      expect(bucketIndex(now - windowMs + 1, bucketMs)).toBeGreaterThanOrEqual(first);
      expect(bucketIndex(now, bucketMs)).toBeGreaterThanOrEqual(first);
      // and over-counts by at most the one bucket holding now - windowMs
      expect(bucketIndex(now - windowMs - bucketMs, bucketMs)).toBeLessThan(first);
    }
  });
});
