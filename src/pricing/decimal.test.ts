import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { usdPerTokenToMicros } from "./decimal.js";

describe("usdPerTokenToMicros: USD per token → integer µ¢ per 1k tokens, exactly", () => {
  it.each([
    // text as OpenRouter writes it
    ["0.0000025", 250_000],
    ["0.00001", 1_000_000],
    ["0.00000015", 15_000],
    ["0.000000075", 7_500],
    ["0.00000375", 375_000],
    ["0.00003", 3_000_000],
    ["0", 0],
    ["0.0", 0],
    ["000.000", 0],
    ["1", 100_000_000_000],
    // exponent notation, as JSON or String(n) may have it
    ["2.5e-06", 250_000],
    ["2.5e-6", 250_000],
    ["3.75E-6", 375_000],
    ["1e-5", 1_000_000],
    [".5e-6", 50_000],
    ["+1e-6", 100_000],
    ["25e-7", 250_000],
    ["0.25e-5", 250_000],
    ["1e+0", 100_000_000_000],
    // a fraction of a µ¢ per 1k rounds up, never down
    ["1e-12", 1],
    ["1.5e-11", 2],
    ["1e-400", 1],
    ["0.000000000012", 2],
  ])("%s → %d", (text, micros) => {
    expect(usdPerTokenToMicros(text)).toBe(micros);
  });

  it("numbers are read through their shortest round-trip text (LiteLLM's 2.5e-06, 7.5e-08)", () => {
    expect(usdPerTokenToMicros(2.5e-6)).toBe(250_000);
    expect(usdPerTokenToMicros(7.5e-8)).toBe(7_500);
    expect(usdPerTokenToMicros(3e-5)).toBe(3_000_000);
    expect(usdPerTokenToMicros(1.25e-6)).toBe(125_000);
    expect(usdPerTokenToMicros(0)).toBe(0);
    // where float multiplication is not exact, the text way is
    expect(2.5e-6 * 1e11).not.toBe(250_000);
    expect(7.5e-8 * 100 * 1_000_000 * 1000).not.toBe(7_500);
  });

  it.each(["-1", "-0.000001", "", " ", "abc", "1/3", "0x10", "1e", "e-5", ".", "1.2.3", "1e999"])(
    "%j is not a price",
    (text) => {
      expect(usdPerTokenToMicros(text)).toBeUndefined();
    },
  );

  it("NaN and infinities are not prices", () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, -1])
      expect(usdPerTokenToMicros(n)).toBeUndefined();
  });

  it("any price with at most 11 decimals is its digits, exactly (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), (micros) => {
        // micros µ¢/1k written as USD per token: the digits with the point 11 places in
        const digits = micros.toString().padStart(12, "0");
        const text = `${digits.slice(0, -11)}.${digits.slice(-11)}`;
        expect(usdPerTokenToMicros(text)).toBe(Number(micros));
        expect(usdPerTokenToMicros(`${micros}e-11`)).toBe(Number(micros));
      }),
    );
  });
});
