/**
 * Budget windows: which span of time a spending counter covers.
 *
 * Everything here is pure: the clock (`now`, epoch milliseconds) is always an
 * argument. Calendar windows (day, month) follow local midnight in an IANA time
 * zone, computed with `Intl.DateTimeFormat` only, and are DST-correct: a
 * spring-forward day is 23 hours long, a fall-back day 25 hours.
 */

export type WindowSpec =
  | { kind: "day" }
  | { kind: "month" }
  | { kind: "rolling"; ms: number; label: string } // label as written in config: "30m", "24h", "7d"
  | { kind: "total" }; // never resets (agent runs)

export interface WindowInstance {
  /** Stable id of this instance of the window, used as a counter key: "d:2026-03-25", "m:2026-03", "r:24h", "t". */
  key: string;
  /** First instant inside the window (epoch ms). -Infinity for total; now - ms for rolling. */
  start: number;
  /** First instant after the window (epoch ms): the next local midnight / first of next month; for rolling: now; Infinity for total. */
  end: number;
}

export interface LocalDateParts {
  year: number;
  /** 1-based. */
  month: number;
  day: number;
  hour: number;
  minute: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

const ROLLING_RE = /^[1-9][0-9]*(m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { m: MINUTE_MS, h: HOUR_MS, d: DAY_MS };

// ---------------------------------------------------------------------------
// Parsing and labels

export function parseWindow(text: string): WindowSpec | undefined {
  switch (text) {
    case "day":
    case "daily":
      return { kind: "day" };
    case "month":
    case "monthly":
      return { kind: "month" };
    case "total":
      return { kind: "total" };
  }
  const match = ROLLING_RE.exec(text);
  const unit = match?.[1];
  if (unit === undefined) return undefined;
  const unitMs = UNIT_MS[unit];
  if (unitMs === undefined) return undefined;
  const ms = Number.parseInt(text.slice(0, -1), 10) * unitMs;
  // "99999999999999999999d" matches the pattern but is no usable duration.
  if (!Number.isSafeInteger(ms)) return undefined;
  return { kind: "rolling", ms, label: text };
}

/** "daily", "monthly", the rolling label ("24h") or "total", as in "daily budget limit". */
export function windowLabel(spec: WindowSpec): string {
  switch (spec.kind) {
    case "day":
      return "daily";
    case "month":
      return "monthly";
    case "rolling":
      return spec.label;
    case "total":
      return "total";
  }
}

// ---------------------------------------------------------------------------
// Local wall-clock time via Intl

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone: constructing them is slow. Throws RangeError for an unknown zone. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let fmt = formatters.get(timeZone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone,
      calendar: "gregory",
      numberingSystem: "latn",
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, fmt);
  }
  return fmt;
}

interface Wall extends LocalDateParts {
  second: number;
}

function wallParts(ts: number, timeZone: string): Wall {
  const wall: Wall = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(ts)) {
    switch (part.type) {
      case "year":
        wall.year = Number(part.value);
        break;
      case "month":
        wall.month = Number(part.value);
        break;
      case "day":
        wall.day = Number(part.value);
        break;
      case "hour":
        // h23 never yields "24", but some older ICU builds did for midnight.
        wall.hour = part.value === "24" ? 0 : Number(part.value);
        break;
      case "minute":
        wall.minute = Number(part.value);
        break;
      case "second":
        wall.second = Number(part.value);
        break;
    }
  }
  return wall;
}

/** Local wall-clock time of `ts`, expressed as if it were a UTC instant (ms precision kept). */
function wallMs(ts: number, timeZone: string): number {
  const w = wallParts(ts, timeZone);
  const ms = ts - Math.floor(ts / 1000) * 1000; // zone offsets are whole seconds
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, ms);
}

/** Local date and time of `ts` in `timeZone` (1-based month), e.g. for grouping reports by local day. */
export function localDateParts(ts: number, timeZone: string): LocalDateParts {
  const w = wallParts(ts, timeZone);
  return { year: w.year, month: w.month, day: w.day, hour: w.hour, minute: w.minute };
}

/**
 * First instant whose local date is `year-month-day` or later (month and day may
 * overflow: day 32 is the 1st of the next month). Normally that is local midnight;
 * if midnight falls into a DST gap (e.g. America/Havana, America/Santiago) it is
 * the first instant that exists on that date, and for a date skipped entirely
 * (Pacific/Apia, 2011-12-30) it is the first instant of the next existing date.
 */
export function startOfLocalDate(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
  // Offsets a day either side; at most one transition lies between them.
  const offBefore = wallMs(wall - DAY_MS, timeZone) - (wall - DAY_MS);
  const offAfter = wallMs(wall + DAY_MS, timeZone) - (wall + DAY_MS);
  const a = wall - offBefore;
  const b = wall - offAfter;
  // Midnight may exist twice (fall-back across midnight): take the earlier one.
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  if (wallMs(lo, timeZone) === wall) return lo;
  if (hi !== lo && wallMs(hi, timeZone) === wall) return hi;
  // Midnight is in a gap: wallMs(lo) < wall < wallMs(hi). Find the transition.
  let below = lo;
  let above = hi;
  while (above - below > 1) {
    const mid = Math.floor((below + above) / 2);
    if (wallMs(mid, timeZone) >= wall) above = mid;
    else below = mid;
  }
  return above;
}

// ---------------------------------------------------------------------------
// Window instances

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad4(n: number): string {
  return String(n).padStart(4, "0");
}

interface ZoneCache {
  day?: Readonly<WindowInstance>;
  month?: Readonly<WindowInstance>;
}

/**
 * The current day and month instance per zone. `windowInstance` is on the hot
 * path (a few calls per request); a hit needs two comparisons and no Intl call.
 * An entry is only returned while start <= now < end, so a clock moving
 * backwards or forwards just recomputes it: results depend on `now` alone.
 */
const instanceCache = new Map<string, ZoneCache>();

function dayInstance(now: number, timeZone: string): Readonly<WindowInstance> {
  const w = wallParts(now, timeZone);
  let { year, month, day } = w;
  let start = startOfLocalDate(year, month, day, timeZone);
  let end = startOfLocalDate(year, month, day + 1, timeZone);
  // Days partition the timeline: day D is [first instant dated D, first instant
  // dated D+1). Only a fall-back across midnight (America/St_Johns before 2011,
  // at 00:01) makes the local date step back for a moment; such an instant
  // belongs to the day that already began.
  while (end <= now) {
    const next = new Date(Date.UTC(year, month - 1, day + 1));
    year = next.getUTCFullYear();
    month = next.getUTCMonth() + 1;
    day = next.getUTCDate();
    start = end;
    end = startOfLocalDate(year, month, day + 1, timeZone);
  }
  return Object.freeze({ key: `d:${pad4(year)}-${pad2(month)}-${pad2(day)}`, start, end });
}

function monthInstance(now: number, timeZone: string): Readonly<WindowInstance> {
  const w = wallParts(now, timeZone);
  let { year, month } = w;
  let start = startOfLocalDate(year, month, 1, timeZone);
  let end = startOfLocalDate(year, month + 1, 1, timeZone);
  while (end <= now) {
    if (month === 12) {
      year += 1;
      month = 1;
    } else {
      month += 1;
    }
    start = end;
    end = startOfLocalDate(year, month + 1, 1, timeZone);
  }
  return Object.freeze({ key: `m:${pad4(year)}-${pad2(month)}`, start, end });
}

/**
 * The instance of `spec` that contains `now`. Day and month instances are frozen
 * and may be shared between calls; rolling and total instances are fresh objects.
 */
export function windowInstance(spec: WindowSpec, now: number, timeZone: string): WindowInstance {
  switch (spec.kind) {
    case "rolling":
      return { key: `r:${spec.label}`, start: now - spec.ms, end: now };
    case "total":
      return { key: "t", start: Number.NEGATIVE_INFINITY, end: Number.POSITIVE_INFINITY };
    case "day":
    case "month": {
      let zone = instanceCache.get(timeZone);
      if (zone === undefined) {
        zone = {};
        instanceCache.set(timeZone, zone);
      }
      const cached = zone[spec.kind];
      if (cached !== undefined && cached.start <= now && now < cached.end) return cached;
      const fresh = spec.kind === "day" ? dayInstance(now, timeZone) : monthInstance(now, timeZone);
      zone[spec.kind] = fresh;
      return fresh;
    }
  }
}

/**
 * When the window containing `now` frees up — the one answer refusals, status
 * and alerts give. A day or month ends at the next local midnight or the first
 * of the next month. A rolling window never ends, but its oldest counted spend
 * stops counting: `oldestBucket` (its bucket index, see `firstLiveBucket`)
 * gives when; without one nothing is counted. Undefined for a total window.
 */
export function resetsAt(
  spec: WindowSpec,
  now: number,
  timeZone: string,
  oldestBucket?: number,
): number | undefined {
  switch (spec.kind) {
    case "day":
    case "month":
      return windowInstance(spec, now, timeZone).end;
    case "rolling":
      return oldestBucket === undefined ? undefined : (oldestBucket + 1) * rollingBucketMs(spec.ms) + spec.ms;
    case "total":
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Rolling-window buckets

/** Bucket width for a rolling window: a sixtieth of it, rounded down to a whole second, at least 1 s. */
export function rollingBucketMs(windowMs: number): number {
  return Math.max(1000, Math.floor(windowMs / 60 / 1000) * 1000);
}

/** Bucket [i*B, (i+1)*B) that holds instant `ts`. */
export function bucketIndex(ts: number, bucketMs: number): number {
  return Math.floor(ts / bucketMs);
}

/**
 * Lowest bucket index that still counts at `now` for a rolling window of
 * `windowMs`. A bucket [i*B, (i+1)*B) counts while any part of it lies inside
 * (now - windowMs, now], i.e. while (i+1)*B > now - windowMs; the smallest such
 * i is floor((now - windowMs) / B).
 *
 * This is conservative: spend at any ts in (now - windowMs, now] sits in a bucket
 * >= this index, so the sum never under-counts the last windowMs. The oldest
 * live bucket may also hold spend from just before the window, so the sum may
 * over-count by at most that one bucket (about 1/60 of the window).
 */
export function firstLiveBucket(now: number, windowMs: number, bucketMs: number): number {
  return Math.floor((now - windowMs) / bucketMs);
}
