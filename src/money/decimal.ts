import { TokenpakError } from "../errors.js";
import type { Micros } from "./money.js";

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** How digits below the unit are dropped: `up` never undercounts (prices), `half-even` is a bill's rounding. */
export type Rounding = "up" | "half-even";

/**
 * A decimal written as text (or a JSON number, read through its shortest
 * round-trip text, `String(n)`, which is the number the source wrote) times
 * 10^places, as an integer — computed on the digits, by moving the decimal
 * point, so no binary fraction creeps in (float multiplication turns
 * "0.0000025" × 10^11 into 250000.00000000003). Undefined for anything that is
 * not a decimal, or whose result is not a safe integer.
 */
export function shiftDecimal(value: string | number, places: number, rounding: Rounding): number | undefined {
  if (typeof value === "number" && !Number.isFinite(value)) return undefined;
  const text = (typeof value === "number" ? String(value) : value).trim();
  const m = DECIMAL.exec(text);
  const whole = m?.[2] ?? "";
  const fraction = m?.[3] ?? "";
  if (!m || (whole === "" && fraction === "")) return undefined;
  const digitText = `${whole}${fraction}`.replace(/^0+/, "");
  if (digitText === "") return 0;
  const digits = BigInt(digitText);
  const power = BigInt(m[4] ?? "0") - BigInt(fraction.length) + BigInt(places);
  // Beyond these the answer is known without computing 10^power (which could be huge).
  if (power > 16n) return undefined;
  let shifted: bigint;
  if (power >= 0n) shifted = digits * 10n ** power;
  else if (-power > BigInt(digitText.length) + 1n) shifted = rounding === "up" ? 1n : 0n;
  else {
    const divisor = 10n ** -power;
    shifted = digits / divisor;
    const rest = digits % divisor;
    if (rounding === "up" ? rest > 0n : rest * 2n > divisor || (rest * 2n === divisor && shifted % 2n === 1n))
      shifted += 1n;
  }
  const signed = m[1] === "-" ? -shifted : shifted;
  if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
  return Number(signed);
}

/** Decimal places of a unit below one µ¢: dollars have 8 (1 µ¢ = $0.00000001), cents 6. */
const PLACES = { usd: 8, cents: 6 } as const;
export type DecimalUnit = keyof typeof PLACES;

/**
 * A provider's billed amount ("0.06" dollars, "123.45" cents, 1e-7 as a JSON
 * number) as integer µ¢; digits below one µ¢ are rounded half to even, once.
 */
export function decimalToMicros(value: string | number, unit: DecimalUnit): Micros {
  const micros = shiftDecimal(value, PLACES[unit], "half-even");
  if (micros === undefined) {
    throw new TokenpakError(
      "invalid_argument",
      `not a decimal amount, or out of range: ${JSON.stringify(value)}`,
    );
  }
  return micros;
}
