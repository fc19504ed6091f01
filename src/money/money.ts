/**
 * Money is an integer number of micro-cents (1 cent = 1,000,000 µ¢), so that
 * sums are exact and a price of $0.0375 per million tokens is still whole per
 * thousand tokens. A JS number holds integers exactly up to 2^53 µ¢ (about
 * $90 million), far beyond any budget this tool guards.
 */
export type Micros = number;

export const MICROS_PER_CENT = 1_000_000;
const MICROS_PER_DOLLAR = 100 * MICROS_PER_CENT;

/**
 * The most one amount given at run time (an override, a key's limit) may be:
 * $10,000,000. Its µ¢ (10^15), and a limit with a few overrides on it, stay
 * well inside the integers a number holds exactly (2^53 µ¢).
 */
export const MAX_AMOUNT_CENTS = 1_000_000_000;

/** Config values are cents and may have fractions (0.5 = half a cent). */
export function centsToMicros(cents: number): Micros {
  return Math.round(cents * MICROS_PER_CENT);
}

export function microsToCents(micros: Micros): number {
  return micros / MICROS_PER_CENT;
}

/** "$1,234.50"; amounts below a cent keep their digits ("$0.000375"). */
export function formatUsd(micros: Micros): string {
  const sign = micros < 0 ? "-" : "";
  const abs = Math.abs(Math.round(micros));
  const whole = Math.floor(abs / MICROS_PER_DOLLAR);
  const fraction = String(abs % MICROS_PER_DOLLAR)
    .padStart(8, "0")
    .replace(/0+$/, "")
    .padEnd(2, "0");
  const grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}$${grouped}.${fraction}`;
}

/** Formats a config amount in cents as dollars. */
export function formatCents(cents: number): string {
  return formatUsd(centsToMicros(cents));
}

/**
 * Dollars with all 8 decimals, no sign of grouping: "12.34500000",
 * "-0.00000150". 1 µ¢ is $0.00000001, so nothing is rounded: a column of
 * these adds up to the µ¢ it came from (CSV exports put the µ¢ beside it).
 */
export function usdFixed(micros: Micros): string {
  const sign = micros < 0 ? "-" : "";
  const abs = Math.abs(Math.round(micros));
  const fraction = String(abs % MICROS_PER_DOLLAR).padStart(8, "0");
  return `${sign}${Math.floor(abs / MICROS_PER_DOLLAR)}.${fraction}`;
}
