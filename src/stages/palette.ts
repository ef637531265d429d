import type { LabelMap } from '../core/labelmap.js';

export type Rgb = readonly [number, number, number];

/**
 * A 256-entry BGR lookup table (OpenCV's channel order) for class ids; ids without a colour
 * (void = 255) are black.
 */
export function bgrLut(palette: readonly Rgb[]): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  palette.forEach(([r, g, b], id) => {
    lut[id * 3] = b;
    lut[id * 3 + 1] = g;
    lut[id * 3 + 2] = r;
  });
  return lut;
}

/** Colours a label map into packed BGR bytes (height * width * 3). */
export function colorize(labels: LabelMap, lut: Uint8Array, out = new Uint8Array(labels.data.length * 3)): Uint8Array {
  const src = labels.data;
  for (let i = 0, o = 0; i < src.length; i++, o += 3) {
    const c = src[i]! * 3;
    out[o] = lut[c]!;
    out[o + 1] = lut[c + 1]!;
    out[o + 2] = lut[c + 2]!;
  }
  return out;
}

/** Paints the pixels where `mask` is non-zero with one BGR colour, in place. */
export function paintMask(bgr: Uint8Array, mask: Uint8Array, color: Rgb): Uint8Array {
  const [r, g, b] = color;
  for (let i = 0, o = 0; i < mask.length; i++, o += 3) {
    if (mask[i]) {
      bgr[o] = b;
      bgr[o + 1] = g;
      bgr[o + 2] = r;
    }
  }
  return bgr;
}
