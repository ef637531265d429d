/**
 * Kernels on raw class scores, for test-time augmentation: resampling a head's scores to another
 * size as the model's own head does, mirroring, and the argmax.
 */
import ndarray from 'ndarray';
import type { HeadScores, InputTensor } from '../core/model.js';

/** Source coordinate and weight of each output coordinate, for bilinear resampling. */
function axis(outSize: number, inSize: number, mode: 'align-corners' | 'half-pixel', mirror: boolean) {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const f = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    // A mirrored variant's column x holds the original's column (size - 1 - x).
    const x = mirror ? outSize - 1 - o : o;
    const s = mode === 'align-corners' ? (outSize > 1 ? (x * (inSize - 1)) / (outSize - 1) : 0) : Math.min(inSize - 1, Math.max(0, ((x + 0.5) * inSize) / outSize - 0.5));
    const lo = Math.floor(s);
    i0[o] = lo;
    i1[o] = Math.min(inSize - 1, lo + 1);
    f[o] = s - lo;
  }
  return { i0, i1, f };
}

/**
 * Adds `src` resampled bilinearly to `sum`'s size (align-corners: DeepLab's head; half-pixel:
 * PyTorch's default) into `sum`, mirrored left-right when `mirror` (scores of a mirrored input).
 */
export function resizeScoresInto(src: HeadScores, sum: HeadScores, mode: 'align-corners' | 'half-pixel', mirror: boolean): void {
  if (src.channels !== sum.channels) throw new RangeError(`scores: ${src.channels} channels added to ${sum.channels}`);
  const { width: W, height: H } = sum;
  const { width: w, height: h } = src;
  const cols = axis(W, w, mode, mirror);
  const rows = axis(H, h, mode, false);
  for (let c = 0; c < src.channels; c++) {
    const plane = c * w * h;
    const outPlane = c * W * H;
    for (let y = 0; y < H; y++) {
      const r0 = plane + rows.i0[y]! * w;
      const r1 = plane + rows.i1[y]! * w;
      const fy = rows.f[y]!;
      const o = outPlane + y * W;
      for (let x = 0; x < W; x++) {
        const a = cols.i0[x]!;
        const b = cols.i1[x]!;
        const fx = cols.f[x]!;
        const top = src.data[r0 + a]! + (src.data[r0 + b]! - src.data[r0 + a]!) * fx;
        const bottom = src.data[r1 + a]! + (src.data[r1 + b]! - src.data[r1 + a]!) * fx;
        sum.data[o + x]! += top + (bottom - top) * fy;
      }
    }
  }
}

/** The best channel per pixel; channels at or past `classes` (a void channel) become `voidLabel`. */
export function argmaxScores(s: HeadScores, classes: number, voidLabel: number): Uint8Array {
  const n = s.width * s.height;
  const out = new Uint8Array(n);
  const best = new Float32Array(n).fill(-Infinity);
  for (let c = 0; c < s.channels; c++) {
    const plane = c * n;
    const id = c < classes ? c : voidLabel;
    for (let i = 0; i < n; i++) {
      const v = s.data[plane + i]!;
      if (v > best[i]!) {
        best[i] = v;
        out[i] = id;
      }
    }
  }
  return out;
}

/** A packed input mirrored left-right (a new tensor). */
export function flipTensor(t: InputTensor): InputTensor {
  const [n, h, w, c] = t.shape as [number, number, number, number];
  const out = new Uint8Array(t.data.length);
  for (let row = 0; row < n * h; row++) {
    const base = row * w * c;
    for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[base + (w - 1 - x) * c + k] = t.data[base + x * c + k]!;
  }
  return ndarray(out, [n, h, w, c]);
}
