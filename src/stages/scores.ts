/**
 * Kernels on raw class scores (logits) and class probabilities on the model's coarse score grid:
 * softmax, their exponential moving average across frames, the labels they give at a finer size,
 * how sure they are; and, for test-time augmentation, resampling a head's scores to another size
 * as the model's own head does, mirroring, and the argmax.
 */
import ndarray from 'ndarray';
import type { EgoCorridor } from '../core/analysis.js';
import { labelMap, type LabelMap } from '../core/labelmap.js';
import type { HeadScores, InputTensor } from '../core/model.js';
import { corridorSpan } from './drivable.js';

/** The same layout as HeadScores, holding probabilities (each cell's channels sum to 1). */
export type ClassProbabilities = HeadScores;

const softmaxMaxWidth = 160;

/** Every how many cells softmax samples a grid `width` cells wide (1: every cell). */
export function softmaxStep(width: number, maxWidth = softmaxMaxWidth): number {
  return Math.max(1, Math.ceil(width / maxWidth));
}

/**
 * Softmax over the channels of every cell. Grids wider than `maxWidth` cells (a model that
 * returns scores at full size) are first sampled every n-th cell, so that smoothing costs the same
 * for every model.
 */
export function softmax(logits: HeadScores, maxWidth = softmaxMaxWidth): ClassProbabilities {
  const step = softmaxStep(logits.width, maxWidth);
  const width = Math.ceil(logits.width / step);
  const height = Math.ceil(logits.height / step);
  const { channels } = logits;
  const plane = width * height;
  const srcPlane = logits.width * logits.height;
  const out = new Float32Array(channels * plane);
  // Channel by channel over whole planes: the memory is read in order (cell by cell, the 19
  // channels of a cell lie a plane apart and each would cost a cache miss).
  if (step === 1) out.set(logits.data.subarray(0, channels * plane));
  else {
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) out[c * plane + y * width + x] = logits.data[c * srcPlane + y * step * logits.width + x * step]!;
      }
    }
  }
  const max = out.slice(0, plane);
  for (let c = 1; c < channels; c++) {
    const o = c * plane;
    for (let i = 0; i < plane; i++) if (out[o + i]! > max[i]!) max[i] = out[o + i]!;
  }
  // Sums in double precision, channels in order: the same figures as summing cell by cell.
  const sum = new Float64Array(plane);
  for (let c = 0; c < channels; c++) {
    const o = c * plane;
    for (let i = 0; i < plane; i++) {
      const e = Math.exp(out[o + i]! - max[i]!);
      out[o + i] = e;
      sum[i] += e;
    }
  }
  for (let c = 0; c < channels; c++) {
    const o = c * plane;
    for (let i = 0; i < plane; i++) out[o + i]! /= sum[i]!;
  }
  return { data: out, channels, height, width };
}

/**
 * Exponential moving average of class probabilities: smoothed = strength * previous + (1 - strength)
 * * current. A cell whose class flips outright follows within ceil(log(0.5) / log(strength))
 * frames (2 at 0.6). Starts afresh on `reset` and when the grid changes shape.
 */
export class ProbabilityEma {
  private state: Float32Array | undefined;

  constructor(readonly strength: number) {
    if (!(strength >= 0 && strength < 1)) throw new RangeError(`smoothing strength ${strength}: expected 0 <= strength < 1`);
  }

  update(p: ClassProbabilities): ClassProbabilities {
    if (!this.state || this.state.length !== p.data.length) {
      this.state = new Float32Array(p.data);
    } else {
      const a = this.strength;
      const s = this.state;
      for (let i = 0; i < s.length; i++) s[i] = a * s[i]! + (1 - a) * p.data[i]!;
    }
    return { ...p, data: this.state };
  }

  reset(): void {
    this.state = undefined;
  }
}

/**
 * Frames until a cell whose class flips outright (probability 1 -> 0) changes label, for a
 * smoothing strength (`--smooth`): public API (src/index.ts), so that a library user can choose a
 * strength by how many frames of lag a consumer tolerates.
 */
export function stepResponseFrames(strength: number): number {
  return strength <= 0 ? 1 : Math.max(1, Math.ceil(Math.log(0.5) / Math.log(strength)));
}

/**
 * Labels at `width` x `height` from probabilities bilinearly interpolated between cells, as the
 * models compute their own labels (upsampled scores, then argmax). Output pixel (x, y) sits at
 * cell coordinates (x * scaleX + offsetX, y * scaleY + offsetY), within the grid (see
 * cellPlacement). Channels beyond `classes` are void (255).
 */
export function probabilityLabels(p: ClassProbabilities, width: number, height: number, scaleX: number, scaleY: number, classes: number, offsetX = 0, offsetY = 0): LabelMap {
  const { channels, width: w, height: h, data } = p;
  const plane = w * h;
  // Each cell's most likely channel, channel by channel over whole planes (memory in order).
  const top = new Uint8Array(plane);
  const topValue = data.slice(0, plane);
  for (let c = 1; c < channels; c++) {
    const o = c * plane;
    for (let i = 0; i < plane; i++) if (data[o + i]! > topValue[i]!) (topValue[i] = data[o + i]!), (top[i] = c);
  }
  for (let i = 0; i < plane; i++) if (top[i]! >= classes) top[i] = 255;
  // The columns' cells and weights are the same on every row.
  const x0s = new Int32Array(width);
  const x1s = new Int32Array(width);
  const fxs = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const sx = Math.min(w - 1, Math.max(0, x * scaleX + offsetX));
    x0s[x] = Math.floor(sx);
    x1s[x] = Math.min(w - 1, x0s[x]! + 1);
    fxs[x] = sx - x0s[x]!;
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(h - 1, Math.max(0, y * scaleY + offsetY));
    const y0 = Math.floor(sy);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const x0 = x0s[x]!, x1 = x1s[x]!, fx = fxs[x]!;
      const a = y0 * w + x0, b = y0 * w + x1, c = y1 * w + x0, d = y1 * w + x1;
      const t = top[a]!;
      // Where the four cells agree, so does every interpolation of them: no per-class work.
      if (top[b] === t && top[c] === t && top[d] === t) {
        out[y * width + x] = t;
        continue;
      }
      const wa = (1 - fx) * (1 - fy), wb = fx * (1 - fy), wc = (1 - fx) * fy, wd = fx * fy;
      let best = 0;
      let bestValue = -1;
      for (let k = 0; k < channels; k++) {
        const o = k * plane;
        const v = wa * data[o + a]! + wb * data[o + b]! + wc * data[o + c]! + wd * data[o + d]!;
        if (v > bestValue) (bestValue = v), (best = k);
      }
      out[y * width + x] = best < classes ? best : 255;
    }
  }
  return labelMap(out, height, width);
}

/**
 * How sure the drivable fields are, 0..1: over the cells in the ego corridor or called drivable
 * (above the hood), the mean margin |2 p - 1| of p, the probability that the cell is drivable.
 * 1 = every such cell is certainly drivable or certainly not; 0 = a coin toss everywhere.
 * `hoodTop[x]` is the first hood row of grid column x (the grid's height where there is none).
 */
export function drivableConfidence(p: ClassProbabilities, drivable: Uint8Array, corridor: EgoCorridor, hoodTop: Int32Array): number {
  const { channels, width: w, height: h, data } = p;
  const plane = w * h;
  const drivableChannels: number[] = [];
  for (let c = 0; c < channels; c++) if (drivable[c]) drivableChannels.push(c);
  let sum = 0;
  let n = 0;
  for (let y = 0; y < h; y++) {
    const span = corridorSpan(corridor, y, w, h);
    for (let x = 0; x < w; x++) {
      if (y >= hoodTop[x]!) continue;
      const i = y * w + x;
      let pd = 0;
      for (const c of drivableChannels) pd += data[c * plane + i]!;
      const inCorridor = span !== undefined && x >= span[0] && x < span[1];
      if (!inCorridor && pd <= 0.5) continue;
      sum += Math.abs(2 * pd - 1);
      n++;
    }
  }
  return n ? sum / n : 0;
}

/**
 * Where every `factor`-th pixel of a model input `pixels` wide falls on a head's grid of `cells`
 * cells sampled every `step`-th cell, as the model's own upsampling places it: cell coordinate =
 * output pixel * scale + offset (for probabilityLabels).
 */
export function cellPlacement(pixels: number, cells: number, step: number, factor: number, mode: 'align-corners' | 'half-pixel'): { scale: number; offset: number } {
  if (mode === 'align-corners') return { scale: pixels > 1 ? (factor * (cells - 1)) / (pixels - 1) / step : 0, offset: 0 };
  return { scale: (factor * cells) / pixels / step, offset: ((0.5 * cells) / pixels - 0.5) / step };
}

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
