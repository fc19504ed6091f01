import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { spread } from "./spread.js";

describe("spread", () => {
  it.each([
    [100, [1, 1], [50, 50]],
    [100, [1, 1, 1], [34, 33, 33]], // the leftover unit to the first of equal remainders
    [-100, [1, 1, 1], [-34, -33, -33]],
    [10, [1, 2, 3, 4], [1, 2, 3, 4]],
    [7, [1, 2, 3, 4], [1, 1, 2, 3]], // shares .7 1.4 2.1 2.8: leftovers to .8 and .7
    [1, [5, 0, 5], [1, 0, 0]],
    [2, [0, 3, 0, 3], [0, 1, 0, 1]],
    [0, [3, 4], [0, 0]],
    [5, [9], [5]],
    // total × weight beyond 2^53: exact in BigInt, where doubles would be off
    [9_007_199_254_740_991, [1, 2], [3_002_399_751_580_330, 6_004_799_503_160_661]],
    [8_000_000_000_000, [900_000_000_000_000, 1, 2], [8_000_000_000_000, 0, 0]],
  ])("spread(%d, %j) = %j", (total, weights, parts) => {
    expect(spread(total, weights)).toEqual(parts);
  });

  it("the parts sum exactly to the total, keep its sign, and stay within 1 of their share", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e12, max: 1e12 }),
        fc.array(fc.integer({ min: 0, max: 1e12 }), { minLength: 1, maxLength: 30 }),
        (total, weights) => {
          fc.pre(weights.some((w) => w > 0));
          const parts = spread(total, weights);
          const sum = weights.reduce((s, w) => s + w, 0);
          expect(parts.reduce((s, p) => s + p, 0)).toBe(total);
          for (const [i, p] of parts.entries()) {
            expect(Number.isSafeInteger(p)).toBe(true);
            expect(p * Math.sign(total) >= 0).toBe(true);
            expect(Math.abs(p - (total * (weights[i] ?? 0)) / sum)).toBeLessThan(1.000001);
            if (weights[i] === 0) expect(p).toBe(0);
          }
          expect(spread(total, weights)).toEqual(parts); // deterministic
        },
      ),
    );
  });

  it("refuses what it cannot split", () => {
    expect(() => spread(10, [0, 0])).toThrow(/all zero/);
    expect(() => spread(10, [1, -1])).toThrow(/non-negative/);
    expect(() => spread(0.5, [1])).toThrow(/safe integer/);
  });
});
