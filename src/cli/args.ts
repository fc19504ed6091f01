import { TokenpakError } from "../errors.js";

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
