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

/** Fraction of the image per class name, rounded, listing only the classes present (a share that rounds to 0 is left out). */
export function histogramFractions(h: ClassHistogram, classNames: readonly string[], digits = 4): Record<string, number> {
  const out: Record<string, number> = {};
  const scale = 10 ** digits;
  h.counts.forEach((n, id) => {
    const share = Math.round((n / h.total) * scale) / scale;
    if (share > 0) out[classNames[id] ?? String(id)] = share;
  });
  return out;
}
