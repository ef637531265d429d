/** Comparing a signal's per-frame series with ground truth: error, frame-to-frame change, lag. */

/** Mean absolute difference of two series of the same length. */
export function meanAbsError(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError(`series of ${a.length} and ${b.length} values`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return a.length ? sum / a.length : 0;
}

/** Mean absolute change from one frame to the next. */
export function meanChange(s: readonly number[]): number {
  let sum = 0;
  for (let i = 1; i < s.length; i++) sum += Math.abs(s[i]! - s[i - 1]!);
  return s.length > 1 ? sum / (s.length - 1) : 0;
}

/**
 * How many frames the signal trails the truth by: the shift k (0..maxLag) for which signal[t + k]
 * matches truth[t] best (least mean absolute error over the frames both cover).
 */
export function bestLag(signal: readonly number[], truth: readonly number[], maxLag = 5): number {
  let best = 0;
  let bestError = Infinity;
  for (let k = 0; k <= Math.min(maxLag, signal.length - 1); k++) {
    const error = meanAbsError(signal.slice(k), truth.slice(0, truth.length - k));
    if (error < bestError - 1e-9) (bestError = error), (best = k);
  }
  return best;
}
