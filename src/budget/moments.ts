import { TokenpakError } from "../errors.js";
import { startOfLocalDate } from "./windows.js";

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+)(s|m|h|d)$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** A timestamp with its zone, to the minute or finer (the admin API's schemas take this pattern). */
export const INSTANT_PATTERN =
  "^(\\d{4})-(\\d{2})-(\\d{2})T(\\d{2}):(\\d{2})(?::(\\d{2})(?:\\.\\d+)?)?(Z|([+-])(\\d{2}):(\\d{2}))$";
const INSTANT = new RegExp(INSTANT_PATTERN);

/** Whether y-m-d is a day of the calendar (not 2026-02-30). */
function realDay(y: number, m: number, d: number): boolean {
  const check = new Date(Date.UTC(y, m - 1, d));
  return check.getUTCFullYear() === y && check.getUTCMonth() === m - 1 && check.getUTCDate() === d;
}

/**
 * A timestamp with its zone as epoch ms; undefined unless every part is in
 * range — Date.parse would move 2026-02-30T00:00Z to March 2nd, or take
 * 24:00, where an operator most likely mistyped.
 */
export function parseInstant(text: string): number | undefined {
  const m = INSTANT.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const s = m[6] === undefined ? 0 : Number(m[6]);
  const offset = m[7] === "Z" ? [0, 0] : [Number(m[9]), Number(m[10])];
  const inRange = h <= 23 && mi <= 59 && s <= 59 && (offset[0] ?? 0) <= 23 && (offset[1] ?? 0) <= 59;
  if (!inRange || !realDay(y, mo, d)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

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
    if (realDay(y, m, d)) return startOfLocalDate(y, m, d + 1, timeZone);
  } else {
    const at = parseInstant(text);
    if (at !== undefined) return at;
  }
  throw new TokenpakError(
    "invalid_argument",
    `${option} must be a duration (30m, 6h, 7d), a date (2026-11-30: through that day, ${timeZone}) or a timestamp with its zone (2026-11-30T18:00Z), got ${JSON.stringify(text)}`,
  );
}
