/**
 * Splits an integer `total` in proportion to `weights` (largest remainder):
 * every part is its exact share rounded down, and the units left over go to
 * the largest fractional remainders, ties to the earliest weight. So the
 * parts are integers that sum to `total` exactly, each within 1 of its exact
 * share, and the same input always gives the same parts. A negative total is
 * split as its magnitude and negated. Weights must be ≥ 0 and not all 0.
 */
export function spread(total: number, weights: readonly number[]): number[] {
  if (!Number.isSafeInteger(total)) throw new RangeError(`spread: total ${total} is not a safe integer`);
  if (weights.some((w) => !Number.isSafeInteger(w) || w < 0)) {
    throw new RangeError("spread: weights must be non-negative safe integers");
  }
  const sum = weights.reduce((s, w) => s + BigInt(w), 0n);
  if (sum === 0n) throw new RangeError("spread: the weights are all zero");
  const magnitude = BigInt(Math.abs(total));
  // µ¢ × µ¢ passes 2^53 quickly: exact integer arithmetic in BigInt.
  const parts = weights.map((w) => (magnitude * BigInt(w)) / sum);
  const remainders = weights.map((w, i) => ({ i, r: (magnitude * BigInt(w)) % sum }));
  let left = magnitude - parts.reduce((s, p) => s + p, 0n);
  remainders.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of remainders) {
    if (left === 0n) break;
    parts[i] = (parts[i] ?? 0n) + 1n;
    left--;
  }
  const sign = total < 0 ? -1 : 1;
  return parts.map((p) => sign * Number(p) || 0);
}
