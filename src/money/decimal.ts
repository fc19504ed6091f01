import { TokenpakError } from "../errors.js";
import type { Micros } from "./money.js";

/** Decimal places of a unit below one µ¢: dollars have 8 (1 µ¢ = $0.00000001), cents 6. */
const PLACES = { usd: 8, cents: 6 } as const;
export type DecimalUnit = keyof typeof PLACES;

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * A provider's decimal amount ("0.06" dollars, "123.45" cents, 1e-7 as a JSON
 * number) as integer µ¢, computed on the digits so that no binary fraction
 * creeps in. Digits below one µ¢ are rounded half to even, once.
 */
export function decimalToMicros(value: string | number, unit: DecimalUnit): Micros {
  // A JSON number reaches us as a double; its shortest round-trip text is the decimal the provider wrote.
  const text = typeof value === "number" ? String(value) : value.trim();
  const m = DECIMAL.exec(text);
  const whole = m?.[2] ?? "";
  const fraction = m?.[3] ?? "";
  if (!m || (whole === "" && fraction === "") || (typeof value === "number" && !Number.isFinite(value))) {
    throw new TokenpakError("invalid_argument", `not a decimal amount: ${JSON.stringify(value)}`);
  }
  const exponent = Number(m[4] ?? "0");
  // Shift the decimal point: value = digits × 10^(shift) µ¢.
  const digits = BigInt(`${whole}${fraction}` || "0");
  const shift = exponent - fraction.length + PLACES[unit];
  let micros: bigint;
  if (shift >= 0) micros = digits * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    micros = digits / divisor;
    const rest = (digits % divisor) * 2n;
    if (rest > divisor || (rest === divisor && micros % 2n === 1n)) micros += 1n;
  }
  const signed = m[1] === "-" ? -micros : micros;
  if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new TokenpakError("invalid_argument", `amount out of range: ${text}`);
  }
  return Number(signed);
}
