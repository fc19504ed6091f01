import { TokenpakError } from "../errors.js";
import { formatCents, MAX_AMOUNT_CENTS } from "../money/money.js";

/** An option's value as a number above zero (`whole`: an integer), or undefined when not given. */
export function positive(text: string | undefined, option: string, whole = false): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n <= 0 || (whole && !Number.isInteger(n))) {
    throw new TokenpakError(
      "invalid_argument",
      `${option} must be a ${whole ? "whole number" : "number"} above 0, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** An amount of cents above zero and at most MAX_AMOUNT_CENTS, or undefined when not given. */
export function cents(text: string | undefined, option: string): number | undefined {
  const n = positive(text, option);
  if (n !== undefined && n > MAX_AMOUNT_CENTS) {
    throw new TokenpakError(
      "invalid_argument",
      `${option} is too large: at most ${MAX_AMOUNT_CENTS} cents (${formatCents(MAX_AMOUNT_CENTS)}), got ${text}`,
    );
  }
  return n;
}
