import type { EgoCorridor } from '../core/analysis.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';

export const defaultCorridor: EgoCorridor = { centerX: 0.5, topY: 0.6, bottomY: 1.0, topWidth: 0.1, bottomWidth: 0.7 };

/** Parses "centerX,topY,bottomY,topWidth,bottomWidth" (fractions), as given on the command line. */
export function parseCorridor(text: string): EgoCorridor {
  const v = text.split(',').map(Number);
  if (v.length !== 5 || v.some((x) => !Number.isFinite(x) || x < 0 || x > 1)) {
    throw new RangeError(`ego corridor "${text}": expected five fractions 0..1: centerX,topY,bottomY,topWidth,bottomWidth`);
  }
  const [centerX, topY, bottomY, topWidth, bottomWidth] = v as [number, number, number, number, number];
  if (topY >= bottomY) throw new RangeError(`ego corridor "${text}": topY must be above bottomY`);
  return { centerX, topY, bottomY, topWidth, bottomWidth };
}

/** Column span [x0, x1) of the corridor in image row y, for an image of width w and height h. */
export function corridorSpan(c: EgoCorridor, y: number, w: number, h: number): [number, number] | undefined {
  const top = Math.round(c.topY * h);
  const bottom = Math.round(c.bottomY * h);
  if (y < top || y >= bottom) return undefined;
  const t = bottom - top > 1 ? (y - top) / (bottom - top - 1) : 1;
  const half = ((c.topWidth + (c.bottomWidth - c.topWidth) * t) * w) / 2;
  const cx = c.centerX * w;
  const x0 = Math.max(0, Math.round(cx - half));
  const x1 = Math.min(w, Math.round(cx + half));
  return x1 > x0 ? [x0, x1] : undefined;
}

export interface DrivableArea {
  /** Drivable pixels over all pixels, 0..1. */
  drivableFraction: number;
  /** Drivable pixels inside the ego corridor over the corridor's pixels, 0..1. */
  egoFraction: number;
}

/** `drivable[id]` is 1 for drivable class ids (road by default). */
export function drivableLut(classIds: readonly number[]): Uint8Array {
  const lut = new Uint8Array(256);
  for (const id of classIds) lut[id] = 1;
  return lut;
}

/**
 * Drivable shares of the image and of the ego corridor. Pixels of the hood (row >= `hoodTop[x]`)
 * count in neither, so the corridor ends at the hood line.
 */
export function drivableArea(labels: LabelMap, corridor: EgoCorridor, drivable: Uint8Array, hoodTop?: Int32Array): DrivableArea {
  const h = heightOf(labels);
  const w = widthOf(labels);
  const src = labels.data;
  let all = 0;
  let seen = 0;
  let inside = 0;
  let area = 0;
  for (let y = 0; y < h; y++) {
    const span = corridorSpan(corridor, y, w, h);
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (hoodTop && y >= hoodTop[x]!) continue;
      const d = drivable[src[row + x]!]!;
      all += d;
      seen++;
      if (span && x >= span[0] && x < span[1]) {
        inside += d;
        area++;
      }
    }
  }
  return { drivableFraction: seen ? all / seen : 0, egoFraction: area ? inside / area : 0 };
}

/** A 0/1 mask of drivable pixels. */
export function drivableMask(labels: LabelMap, drivable: Uint8Array, out = new Uint8Array(labels.data.length)): Uint8Array {
  const src = labels.data;
  for (let i = 0; i < src.length; i++) out[i] = drivable[src[i]!]!;
  return out;
}
