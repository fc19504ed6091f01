import { describe, expect, it } from "vitest";
import { backoffMs } from "./delivery.js";

const retry = { maxAttempts: 15, initialDelayMs: 1000, maxDelayMs: 3_600_000 };

describe("backoffMs: exponential, capped, equal jitter", () => {
  it.each([
    [1, 0, 500],
    [1, 0.999999, 1000],
    [2, 0, 1000],
    [3, 0.5, 3000],
    [10, 0, 256_000],
    [13, 0, 1_800_000], // 4096 s capped at 1 h, half of it fixed
    [40, 0.5, 2_700_000],
  ])("after %d failure(s), random %d → %d ms", (failures, random, ms) => {
    expect(backoffMs(failures, retry, random)).toBe(ms);
  });

  it("never waits less than half nor more than the full delay", () => {
    for (let failures = 1; failures < 20; failures++) {
      const full = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (failures - 1));
      for (const r of [0, 0.25, 0.5, 0.75, 0.999]) {
        const ms = backoffMs(failures, retry, r);
        expect(ms).toBeGreaterThanOrEqual(full / 2);
        expect(ms).toBeLessThanOrEqual(full);
      }
    }
  });

  it("with the defaults, the 15th and last attempt comes 1.6 to 3.1 hours after the first", () => {
    const span = (random: number) => {
      let total = 0;
      for (let failures = 1; failures < retry.maxAttempts; failures++)
        total += backoffMs(failures, retry, random);
      return total / 3_600_000;
    };
    expect(span(0)).toBeCloseTo(1.57, 2);
    expect(span(0.999999)).toBeCloseTo(3.14, 2);
  });
});
