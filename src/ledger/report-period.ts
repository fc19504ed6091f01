import { localDateParts, startOfLocalDate } from "../budget/windows.js";
import { TokenpakError } from "../errors.js";

/** A report's span: whole local days in a zone. */
export interface ReportPeriod {
  /** Epoch ms: the first instant of `since`, the first instant after `until`. */
  from: number;
  to: number;
  /** Local dates, YYYY-MM-DD, both included. */
  since: string;
  until: string;
}

export interface PeriodFlags {
  /** YYYY, YYYY-MM, YYYY-MM-DD, today, yesterday, this-month, last-month. */
  period?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

interface Ymd {
  year: number;
  month: number;
  day: number;
}

function format(d: Ymd): string {
  return `${String(d.year).padStart(4, "0")}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`;
}

/** The calendar date `days` after `d` (negative: before). */
function addDays(d: Ymd, days: number): Ymd {
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day + days));
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

function lastDay(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function parseDate(flag: string, text: string): Ymd {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const d = m ? { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } : undefined;
  if (!d || d.month < 1 || d.month > 12 || d.day < 1 || d.day > lastDay(d.year, d.month)) {
    throw new TokenpakError("invalid_argument", `${flag} must be a date YYYY-MM-DD, got ${text}`);
  }
  return d;
}

/** The first and last day a --period names, seen from local date `today`. */
function periodDays(text: string, today: Ymd): [Ymd, Ymd] {
  const month = (year: number, m: number): [Ymd, Ymd] => [
    { year, month: m, day: 1 },
    { year, month: m, day: lastDay(year, m) },
  ];
  switch (text) {
    case "today":
      return [today, today];
    case "yesterday": {
      const d = addDays(today, -1);
      return [d, d];
    }
    case "this-month":
      return month(today.year, today.month);
    case "last-month":
      return today.month === 1 ? month(today.year - 1, 12) : month(today.year, today.month - 1);
  }
  if (/^\d{4}$/.test(text)) {
    const year = Number(text);
    return [
      { year, month: 1, day: 1 },
      { year, month: 12, day: 31 },
    ];
  }
  const m = /^(\d{4})-(\d{2})$/.exec(text);
  if (m) {
    const n = Number(m[2]);
    if (n >= 1 && n <= 12) return month(Number(m[1]), n);
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const d = parseDate("--period", text);
    return [d, d];
  }
  throw new TokenpakError(
    "invalid_argument",
    `--period must be YYYY, YYYY-MM, YYYY-MM-DD, today, yesterday, this-month or last-month, got ${text}`,
  );
}

/**
 * The span a report covers, in whole local days of `timeZone`: --period, or
 * --since and/or --until (both days included), by default this month so
 * far. A day starts at local midnight, so a month in Tokyo starts at 15:00
 * UTC the day before.
 */
export function reportPeriod(flags: PeriodFlags, timeZone: string, now: number): ReportPeriod {
  const p = localDateParts(now, timeZone);
  const today: Ymd = { year: p.year, month: p.month, day: p.day };
  let first: Ymd;
  let last: Ymd;
  if (flags.period !== undefined) {
    if (flags.since !== undefined || flags.until !== undefined)
      throw new TokenpakError("invalid_argument", "give --period, or --since/--until, not both");
    [first, last] = periodDays(flags.period, today);
  } else {
    last = flags.until !== undefined ? parseDate("--until", flags.until) : today;
    first =
      flags.since !== undefined
        ? parseDate("--since", flags.since)
        : flags.until !== undefined
          ? { year: last.year, month: last.month, day: 1 }
          : { year: today.year, month: today.month, day: 1 };
  }
  if (format(first) > format(last)) {
    throw new TokenpakError("invalid_argument", `--since ${format(first)} is after --until ${format(last)}`);
  }
  const next = addDays(last, 1);
  return {
    from: startOfLocalDate(first.year, first.month, first.day, timeZone),
    to: startOfLocalDate(next.year, next.month, next.day, timeZone),
    since: format(first),
    until: format(last),
  };
}
