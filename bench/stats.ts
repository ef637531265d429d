/** Figures the benchmarks share: the median, and ratios taken within each alternated round. */

/** The median (the mean of the middle pair for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The median over rounds of `a[round] / b[round]`: both measured in the same round, so that drift
 * in the machine's load between rounds does not enter the ratio.
 */
export function roundRatio(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError(`ratio of ${a.length} rounds over ${b.length}`);
  return median(a.map((x, i) => x / b[i]!));
}
