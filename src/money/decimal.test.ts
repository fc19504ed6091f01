import { describe, expect, it } from "vitest";
import { decimalToMicros } from "./decimal.js";

describe("decimalToMicros", () => {
  it.each([
    ["0.06", "usd", 6_000_000],
    ["1", "usd", 100_000_000],
    ["12.3456789", "usd", 1_234_567_890],
    // 0.1 + 0.2 style fractions stay exact: no binary floating point on the way
    ["0.29", "usd", 29_000_000],
    ["0.00000001", "usd", 1],
    // below one µ¢: half to even
    ["0.000000005", "usd", 0],
    ["0.000000015", "usd", 2],
    ["0.0000000151", "usd", 2],
    ["0.000000025", "usd", 2],
    ["-0.000000015", "usd", -2],
    ["-1.25", "usd", -125_000_000],
    [".5", "usd", 50_000_000],
    ["3.", "usd", 300_000_000],
    ["1e-7", "usd", 10],
    ["1.5E2", "usd", 15_000_000_000],
    // Anthropic: a decimal string in cents
    ["123.45", "cents", 123_450_000],
    ["0.0375", "cents", 37_500],
    ["0.00000049", "cents", 0],
    ["0.0000005", "cents", 0],
    ["0.0000015", "cents", 2],
    ["  7 ", "cents", 7_000_000],
  ] as const)("%s %s → %d µ¢", (text, unit, micros) => {
    expect(decimalToMicros(text, unit)).toBe(micros);
  });

  it.each([
    [0.06, 6_000_000],
    [0.1 + 0.2, 30_000_000], // 0.30000000000000004 rounds at the µ¢
    [1e-7, 10],
    [1234.5678, 123_456_780_000],
    [0, 0],
  ])("JSON number %d dollars → %d µ¢", (value, micros) => {
    expect(decimalToMicros(value, "usd")).toBe(micros);
  });

  it.each(["", ".", "abc", "1.2.3", "1,5", "--1", "0x10", "1e", "NaN"])("refuses %j", (text) => {
    expect(() => decimalToMicros(text, "usd")).toThrow(/not a decimal amount/);
  });

  it("refuses non-finite numbers and amounts past 2^53 µ¢", () => {
    expect(() => decimalToMicros(Number.POSITIVE_INFINITY, "usd")).toThrow(/not a decimal/);
    expect(() => decimalToMicros("1e20", "usd")).toThrow(/out of range/);
  });
});
