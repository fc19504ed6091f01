import { TokenpakError } from "../errors.js";
import { startOfLocalDate } from "./windows.js";

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+)(s|m|h|d)$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** "90s", "30m", "1h", "7d" as milliseconds; undefined for anything else. "0" is zero. */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const m = DURATION.exec(text.trim());
  const unit = m?.[2];
  if (!m || unit === undefined) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[unit] ?? Number.NaN);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * A moment as an operator writes it on the command line: a duration from now
 * ("6h", "7d"), a date — meaning through that day, so the end of it in the
 * budget's time zone — or a timestamp with its zone ("2026-11-30T18:00Z").
 * Pure: `now` and the zone are arguments.
 */
export function parseMoment(text: string, option: string, now: number, timeZone: string): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return now + duration;
  const date = DATE.exec(text);
  if (date) {
    const [y, m, d] = [Number(date[1]), Number(date[2]), Number(date[3])];
    const check = new Date(Date.UTC(y, m - 1, d));
    if (check.getUTCMonth() === m - 1 && check.getUTCDate() === d)
      return startOfLocalDate(y, m, d + 1, timeZone);
  } else if (INSTANT.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new TokenpakError(
    "invalid_argument",
    `${option} must be a duration (30m, 6h, 7d), a date (2026-11-30: through that day, ${timeZone}) or a timestamp with its zone (2026-11-30T18:00Z), got ${JSON.stringify(text)}`,
  );
}
