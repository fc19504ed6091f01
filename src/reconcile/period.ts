import { localDateParts, startOfLocalDate } from "../budget/windows.js";
import { TokenpakError } from "../errors.js";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Longer periods are refused: more likely a typo than a wish (a year is 366 days). */
export const MAX_DAYS = 366;
/** Complete days compared when no --since is given. */
export const DEFAULT_DAYS = 3;
/**
 * Hours after a UTC day ends before its figures count as final: providers
 * keep adding a day's late usage to its bucket for hours, and a run just after
 * midnight would otherwise lower the ledger and report drift that is not there.
 */
export const DEFAULT_SETTLE_HOURS = 6;

/** UTC days, as the providers bucket their costs. */
export interface Period {
  /** YYYY-MM-DD, oldest first. */
  days: string[];
  since: string;
  until: string;
  /** Days whose figures are not final yet, oldest first: today when included, and days that ended less than settle hours ago. */
  provisional: string[];
  /** Epoch ms: start of the first day, end (exclusive) of the last. */
  start: number;
  end: number;
}

export interface PeriodInput {
  since?: string | undefined;
  until?: string | undefined;
  includeToday?: boolean | undefined;
  /** Hours after its end before a day is final (default DEFAULT_SETTLE_HOURS). */
  settleHours?: number | undefined;
  now: number;
}

/** "2026-03-25" of an epoch ms, in UTC. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Epoch ms of 00:00 UTC of a YYYY-MM-DD day; undefined when it is not a real date. */
export function dayStart(day: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const ms = Date.parse(`${day}T00:00:00Z`);
  return Number.isNaN(ms) || utcDay(ms) !== day ? undefined : ms;
}

function parseDay(flag: string, text: string): number {
  const ms = dayStart(text);
  if (ms === undefined) {
    throw new TokenpakError("invalid_argument", `${flag} must be a UTC date YYYY-MM-DD, got ${text}`);
  }
  return ms;
}

/**
 * The days to reconcile. Providers finalise a day's costs late, so the
 * default is the last 3 complete UTC days; `includeToday` adds today,
 * provisionally. An explicit --until of today needs --include-today too. A
 * day is provisional until `settleHours` after it ends (today always is).
 */
export function reconcilePeriod(input: PeriodInput): Period {
  const today = dayStart(utcDay(input.now)) ?? 0;
  const lastComplete = today - DAY_MS;
  const until =
    input.until !== undefined ? parseDay("--until", input.until) : input.includeToday ? today : lastComplete;
  if (until > today) {
    throw new TokenpakError(
      "invalid_argument",
      `--until ${input.until} is in the future (today is ${utcDay(today)} UTC)`,
    );
  }
  if (until === today && !input.includeToday) {
    throw new TokenpakError(
      "invalid_argument",
      `--until ${input.until} is today, which is not complete yet: add --include-today to reconcile it provisionally`,
    );
  }
  const since =
    input.since !== undefined
      ? parseDay("--since", input.since)
      : Math.min(until, lastComplete) - (DEFAULT_DAYS - 1) * DAY_MS;
  if (since > until) {
    throw new TokenpakError("invalid_argument", `--since ${utcDay(since)} is after --until ${utcDay(until)}`);
  }
  const count = (until - since) / DAY_MS + 1;
  if (count > MAX_DAYS) {
    throw new TokenpakError(
      "invalid_argument",
      `the period ${utcDay(since)} … ${utcDay(until)} is ${count} days; reconcile at most ${MAX_DAYS} at a time`,
    );
  }
  const days = Array.from({ length: count }, (_, i) => utcDay(since + i * DAY_MS));
  const settled = input.now - (input.settleHours ?? DEFAULT_SETTLE_HOURS) * HOUR_MS;
  return {
    days,
    since: utcDay(since),
    until: utcDay(until),
    provisional: days.filter((d) => (dayStart(d) ?? 0) + DAY_MS > settled),
    start: since,
    end: until + DAY_MS,
  };
}

/** The local date ("2026-11-30") of an instant in a time zone. */
function localDay(ms: number, timeZone: string): string {
  const p = localDateParts(ms, timeZone);
  return `${String(p.year).padStart(4, "0")}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

/**
 * The moment a correction to UTC `day` counts at, so that it lands in the
 * windows of that day in the budget's time zone: an instant inside the UTC
 * day whose local date is that day too. 12:00 UTC when it is (every zone from
 * UTC−12 to UTC+11), else the first such instant (UTC+12 … +14: 00:00 UTC is
 * already the afternoon of the same date there). Never after now: a
 * correction to today made before today has begun in the zone counts now.
 */
export function correctionMoment(day: string, now: number, timeZone = "UTC"): number {
  const start = dayStart(day);
  if (start === undefined) return now;
  const noon = start + DAY_MS / 2;
  let moment = noon;
  if (localDay(noon, timeZone) !== day) {
    const [y, m, d] = day.split("-").map(Number) as [number, number, number];
    const localStart = startOfLocalDate(y, m, d, timeZone);
    const first = Math.max(start, localStart);
    // A date the zone skipped (Pacific/Apia, 2011-12-30) has no instant: noon it is.
    if (first < start + DAY_MS && localDay(first, timeZone) === day) moment = first;
  }
  return Math.min(moment, now);
}
