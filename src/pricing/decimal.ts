import type { Micros } from "../money/money.js";

/**
 * USD per token → micro-cents per 1,000 tokens is a shift of the decimal
 * point by 11 places (× 100 ¢ × 1,000,000 µ¢ × 1,000 tokens).
 */
const SHIFT = 11n;

const DECIMAL = /^\+?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * A price in USD per token, as a source writes it, in integer micro-cents per
 * 1,000 tokens — exactly, by moving the decimal point in the text: float
 * multiplication would turn "0.0000025" into 250000.00000000003. A number
 * (LiteLLM's JSON has 2.5e-06) is read through its shortest round-trip text,
 * `String(n)`, which is the number the source wrote. A fraction of a
 * micro-cent is rounded up, never down. Undefined for anything that is not a
 * non-negative decimal (a negative, NaN, "", "1/3", "-1").
 */
export function usdPerTokenToMicros(value: string | number): Micros | undefined {
  if (typeof value === "number" && !Number.isFinite(value)) return undefined;
  const text = (typeof value === "number" ? String(value) : value).trim();
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  const whole = m[1] ?? "";
  const fraction = m[2] ?? "";
  if (whole === "" && fraction === "") return undefined;
  const digitText = `${whole}${fraction}`.replace(/^0+/, "");
  if (digitText === "") return 0;
  const digits = BigInt(digitText);
  // value = digits × 10^(exponent − fraction.length); in µ¢/1k, × 10^11 more.
  const power = BigInt(m[3] ?? "0") - BigInt(fraction.length) + SHIFT;
  // Beyond these the answer is known without computing 10^power (which could be huge).
  if (power > 16n) return undefined;
  if (-power > BigInt(digitText.length)) return 1;
  let micros: bigint;
  if (power >= 0n) micros = digits * 10n ** power;
  else {
    const divisor = 10n ** -power;
    micros = digits / divisor + (digits % divisor === 0n ? 0n : 1n);
  }
  return micros <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(micros) : undefined;
}
