import { TokenpakError } from "../errors.js";

const DAY_MS = 86_400_000;
/** Longer periods are refused: more likely a typo than a wish (a year is 366 days). */
export const MAX_DAYS = 366;
/** Complete days compared when no --since is given. */
export const DEFAULT_DAYS = 3;

/** UTC days, as the providers bucket their costs. */
export interface Period {
  /** YYYY-MM-DD, oldest first. */
  days: string[];
  since: string;
  until: string;
  /** Today, when included: its figures are not final yet. */
  provisional: string | undefined;
  /** Epoch ms: start of the first day, end (exclusive) of the last. */
  start: number;
  end: number;
}

export interface PeriodInput {
  since?: string | undefined;
  until?: string | undefined;
  includeToday?: boolean | undefined;
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
 * provisionally. An explicit --until of today needs --include-today too.
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
  return {
    days,
    since: utcDay(since),
    until: utcDay(until),
    provisional: until === today ? utcDay(today) : undefined,
    start: since,
    end: until + DAY_MS,
  };
}

/** The moment a correction to `day` counts at: 12:00 UTC, the same date in nearly every zone; never after now. */
export function correctionMoment(day: string, now: number): number {
  return Math.min((dayStart(day) ?? now) + DAY_MS / 2, now);
}
