import type { LimitUnit } from "../budget/policy.js";
import { formatUsd } from "../money/money.js";

/** An amount in a limit's unit: dollars for µ¢, else a count with its unit. */
export function amountText(unit: LimitUnit, value: number): string {
  if (unit === "cents") return formatUsd(value);
  return `${value.toLocaleString("en-US")} ${unit === "tokens" ? "tok" : "req"}`;
}

const zoned = new Map<string, Intl.DateTimeFormat>();

/** "2026-03-26 00:00" in `timeZone`. */
export function localTime(ms: number, timeZone: string): string {
  let f = zoned.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    zoned.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** "in 3h 12m", "in 2d 4h", "in 40s". */
export function fromNow(ms: number, now: number): string {
  const s = Math.max(0, Math.round((ms - now) / 1000));
  if (s < 60) return `in ${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `in ${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `in ${h}h ${m % 60}m`;
  return `in ${Math.floor(h / 24)}d ${h % 24}h`;
}
