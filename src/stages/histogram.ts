import type { ClassHistogram } from '../core/analysis.js';
import type { LabelMap } from '../core/labelmap.js';

export function classHistogram(labels: LabelMap, numClasses: number): ClassHistogram {
  const counts = new Uint32Array(256);
  const src = labels.data;
  for (let i = 0; i < src.length; i++) counts[src[i]!]!++;
  const known = Array.from(counts.subarray(0, numClasses));
  const total = src.length;
  return { counts: known, voidCount: total - known.reduce((a, b) => a + b, 0), total };
}

/** Fraction of the image per class name, rounded, omitting classes that are absent. */
export function histogramFractions(h: ClassHistogram, classNames: readonly string[], digits = 4): Record<string, number> {
  const out: Record<string, number> = {};
  const scale = 10 ** digits;
  h.counts.forEach((n, id) => {
    if (n > 0) out[classNames[id] ?? String(id)] = Math.round((n / h.total) * scale) / scale;
  });
  return out;
}
