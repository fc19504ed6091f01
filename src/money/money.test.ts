import { describe, expect, it } from "vitest";
import { centsToMicros, formatCents, formatUsd, MICROS_PER_CENT, microsToCents } from "./money.js";

describe("formatCents", () => {
  it.each([
    [1000, "$10.00"],
    [300, "$3.00"],
    [20000, "$200.00"],
    [123450, "$1,234.50"],
    [123456789, "$1,234,567.89"],
    [1, "$0.01"],
    [0.5, "$0.005"],
    [0.0375, "$0.000375"],
    [0, "$0.00"],
    [-250, "-$2.50"],
    [-0.0375, "-$0.000375"],
  ])("%d¢ → %s", (cents, text) => {
    expect(formatCents(cents)).toBe(text);
  });

  it("formats float sums exactly (0.1¢ + 0.2¢ = $0.003)", () => {
    expect(formatCents(0.1 + 0.2)).toBe("$0.003");
  });
});

describe("formatUsd (micro-cents)", () => {
  it("formats whole dollars, cents and single micro-cents", () => {
    expect(formatUsd(100 * MICROS_PER_CENT)).toBe("$1.00");
    expect(formatUsd(MICROS_PER_CENT)).toBe("$0.01");
    expect(formatUsd(1)).toBe("$0.00000001");
    expect(formatUsd(0)).toBe("$0.00");
    expect(formatUsd(-1_000_000 * MICROS_PER_CENT)).toBe("-$10,000.00");
  });
});

describe("cents ↔ micro-cents", () => {
  it("converts to whole micro-cents and back", () => {
    expect(centsToMicros(0.5)).toBe(500_000);
    expect(centsToMicros(0.1 + 0.2)).toBe(300_000);
    expect(Number.isInteger(centsToMicros(1 / 3))).toBe(true);
    expect(microsToCents(centsToMicros(1234.5))).toBe(1234.5);
  });
});
