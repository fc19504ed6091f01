import { shiftDecimal } from "../money/decimal.js";
import type { Micros } from "../money/money.js";

/**
 * USD per token → micro-cents per 1,000 tokens is a shift of the decimal
 * point by 11 places (× 100 ¢ × 1,000,000 µ¢ × 1,000 tokens).
 */
const SHIFT = 11;

/**
 * A price in USD per token, as a source writes it, in integer micro-cents per
 * 1,000 tokens — exactly (see shiftDecimal). A fraction of a micro-cent is
 * rounded up, never down. Undefined for anything that is not a non-negative
 * decimal (a negative, NaN, "", "1/3", "-1").
 */
export function usdPerTokenToMicros(value: string | number): Micros | undefined {
  if (typeof value === "string" && value.trim().startsWith("-")) return undefined;
  const micros = shiftDecimal(value, SHIFT, "up");
  return micros === undefined || micros < 0 ? undefined : micros;
}
