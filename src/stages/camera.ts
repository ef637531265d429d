/**
 * Camera health from a small grey copy of each frame: a frozen picture (consecutive frames the
 * same), a picture too dark or washed out, and a blurred or covered lens (little fine detail,
 * measured as the variance of the Laplacian over the road region). Also says when the scene cut,
 * so that temporal smoothing starts afresh.
 */
import type { CameraCondition, CameraHealth } from '../core/analysis.js';

export interface CameraThresholds {
  /** Frames alike for more than this many frame intervals are frozen. */
  frozenFrames: number;
  /** Mean absolute grey-level change below which two frames are the same picture. */
  stillChange: number;
  /** Too dark: the brightest 1 % of pixels are below this grey level. */
  darkP99: number;
  /** Washed out: the mean grey level above this. */
  washedOutMean: number;
  /** Blurred: Laplacian variance below this. */
  blurVariance: number;
  /** A scene cut: the mean absolute change of 8x8-block means above this many grey levels. */
  sceneCutChange: number;
}

export const defaultCameraThresholds: CameraThresholds = { frozenFrames: 5, stillChange: 0.1, darkP99: 40, washedOutMean: 230, blurVariance: 100, sceneCutChange: 40 };

export interface GreyStats {
  mean: number;
  /** The grey level below which 99 % of the pixels lie. */
  p99: number;
}

export function greyStats(grey: Uint8Array): GreyStats {
  const hist = new Uint32Array(256);
  let sum = 0;
  for (let i = 0; i < grey.length; i++) {
    hist[grey[i]!]!++;
    sum += grey[i]!;
  }
  let below = 0;
  let p99 = 255;
  for (let v = 0; v < 256; v++) {
    below += hist[v]!;
    if (below >= 0.99 * grey.length) {
      p99 = v;
      break;
    }
  }
  return { mean: grey.length ? sum / grey.length : 0, p99 };
}

/** Variance of the 4-neighbour Laplacian over rows [y0, y1) (borders excluded). */
export function laplacianVariance(grey: Uint8Array, width: number, y0: number, y1: number): number {
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (let y = Math.max(1, y0); y < Math.min(y1, grey.length / width - 1); y++) {
    for (let x = 1, i = y * width + 1; x < width - 1; x++, i++) {
      const l = grey[i - 1]! + grey[i + 1]! + grey[i - width]! + grey[i + width]! - 4 * grey[i]!;
      sum += l;
      sq += l * l;
      n++;
    }
  }
  if (!n) return 0;
  const mean = sum / n;
  return sq / n - mean * mean;
}

/** Mean absolute difference of two grey images of the same size. */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return a.length ? sum / a.length : 0;
}

/** Means of `block` x `block` tiles (partial tiles at the right and bottom edges dropped). */
export function blockMeans(grey: Uint8Array, width: number, height: number, block = 8): Float32Array {
  const bw = Math.floor(width / block);
  const bh = Math.floor(height / block);
  const out = new Float32Array(bw * bh);
  for (let y = 0; y < bh * block; y++) {
    for (let x = 0; x < bw * block; x++) out[Math.floor(y / block) * bw + Math.floor(x / block)]! += grey[y * width + x]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= block * block;
  return out;
}

export interface CameraReading {
  health: CameraHealth;
  /** The picture changed so much since the previous frame that it shows another scene. */
  sceneCut: boolean;
}

/** Camera health of one source, frame after frame. */
export class CameraMonitor {
  private previous: Uint8Array | undefined;
  private previousBlocks: Float32Array | undefined;
  private still = 0;

  constructor(private readonly t: CameraThresholds = defaultCameraThresholds, private readonly video = true) {}

  /**
   * `roadRows`: the rows [from, to) where the road is expected (between the horizon and the hood),
   * over which sharpness is measured.
   */
  update(grey: Uint8Array, width: number, height: number, roadRows: readonly [number, number]): CameraReading {
    const { mean, p99 } = greyStats(grey);
    const sharpness = laplacianVariance(grey, width, roadRows[0], roadRows[1]);
    let sceneCut = false;
    // Stillness and scene cuts compare frames: a still image has no previous one to keep.
    if (!this.video) return this.reading(mean, p99, sharpness, sceneCut);
    const blocks = blockMeans(grey, width, height);
    if (this.previous?.length === grey.length) {
      this.still = meanAbsDiff(grey, this.previous) < this.t.stillChange ? this.still + 1 : 0;
      let change = 0;
      for (let i = 0; i < blocks.length; i++) change += Math.abs(blocks[i]! - this.previousBlocks![i]!);
      sceneCut = blocks.length > 0 && change / blocks.length > this.t.sceneCutChange;
    } else {
      this.still = 0;
    }
    if (this.previous?.length === grey.length) this.previous.set(grey);
    else this.previous = new Uint8Array(grey);
    this.previousBlocks = blocks;
    return this.reading(mean, p99, sharpness, sceneCut);
  }

  private reading(mean: number, p99: number, sharpness: number, sceneCut: boolean): CameraReading {
    const condition: CameraCondition =
      this.still > this.t.frozenFrames ? 'frozen'
      : p99 < this.t.darkP99 ? 'dark'
      : mean > this.t.washedOutMean ? 'washed-out'
      : sharpness < this.t.blurVariance ? 'blurred'
      : 'ok';
    const round = (x: number) => Math.round(x * 100) / 100;
    return { health: { condition, luma: round(mean), sharpness: round(sharpness), stillFrames: this.still }, sceneCut };
  }
}
