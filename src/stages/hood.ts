/**
 * The vehicle's own hood (bonnet) at the bottom of the frame: given by the user as a line or a
 * polygon, or estimated from the frames as the bottom rows whose picture stays the same while the
 * scene above moves. Every analysis excludes the pixels from the hood's top edge down.
 */
import type { Hood } from '../core/analysis.js';

/** A polygon in fractions of the image size, [x, y] per vertex. */
export type Polygon = readonly (readonly [number, number])[];

/** No hood: nothing excluded (`y` = 1). */
export const noHood: Hood = { y: 1, edge: Float32Array.of(1) };

export function hoodLine(y: number): Hood {
  return { y, edge: Float32Array.of(y) };
}

/**
 * The hood a polygon outlines: in each column, from the polygon's highest point in that column
 * down to the bottom of the image. Columns the polygon does not cover have no hood.
 */
export function hoodPolygon(polygon: Polygon, columns = 256): Hood {
  const edge = new Float32Array(columns).fill(1);
  const n = polygon.length;
  for (let i = 0; i < columns; i++) {
    const x = (i + 0.5) / columns;
    // Every crossing of the vertical line x with an edge of the polygon; the highest one is its top.
    for (let j = 0; j < n; j++) {
      const [x0, y0] = polygon[j]!;
      const [x1, y1] = polygon[(j + 1) % n]!;
      if ((x0 <= x && x < x1) || (x1 <= x && x < x0)) {
        const y = y0 + ((x - x0) / (x1 - x0)) * (y1 - y0);
        edge[i] = Math.min(edge[i]!, y);
      }
    }
  }
  return { y: Math.min(...edge), edge };
}

/** Per column of a width x height grid: the first row of the hood (`height` where there is none). */
export function hoodRows(hood: Hood, width: number, height: number): Int32Array {
  const rows = new Int32Array(width);
  const n = hood.edge.length;
  for (let x = 0; x < width; x++) {
    const y = hood.edge[Math.min(n - 1, Math.floor(((x + 0.5) / width) * n))]!;
    // Rounded down: the row the hood line crosses is left out, so every figure stays above the hood line.
    rows[x] = Math.min(height, Math.max(0, Math.floor(y * height + 1e-9)));
  }
  return rows;
}

export interface HoodEstimatorOptions {
  /** Frames to watch before the first estimate. */
  settleFrames: number;
  /** Weight of the newest frame in the running row activity once settled (keeps it up to date). */
  adapt: number;
  /** Rows at most this busy, relative to the road ahead, are static. */
  staticRatio: number;
  /** Mean grey-level change per frame of the road ahead below which the scene is too still to tell. */
  minSceneActivity: number;
  /** Hoods smaller than this fraction of the height are ignored; larger than `maxHeight` too. */
  minHeight: number;
  maxHeight: number;
}

export const defaultHoodEstimator: HoodEstimatorOptions = { settleFrames: 20, adapt: 0.02, staticRatio: 0.15, minSceneActivity: 0.8, minHeight: 0.02, maxHeight: 0.45 };

export type HoodEstimate = { state: 'settling' } | { state: 'unsettled'; sceneActivity: number } | { state: 'found' | 'none'; hood: Hood };

/**
 * Watches grey frames of one source: the mean absolute change per row between consecutive frames,
 * averaged over the first frames, then kept up to date as a running average. The hood is the
 * block of bottom rows that change far less than the road ahead (rows at 50-75 % of the height).
 */
export class HoodEstimator {
  private previous: Uint8Array | undefined;
  private activity: Float64Array | undefined;
  private frames = 0;

  constructor(private readonly opts: HoodEstimatorOptions = defaultHoodEstimator) {}

  /** Feeds one grey frame (width x height, row-major) and returns the current estimate. */
  update(grey: Uint8Array, width: number, height: number): HoodEstimate {
    if (!this.previous || this.previous.length !== grey.length) {
      this.previous = new Uint8Array(grey);
      this.activity = new Float64Array(height);
      this.frames = 0;
      return { state: 'settling' };
    }
    const activity = this.activity!;
    this.frames++;
    const weight = this.frames <= this.opts.settleFrames ? 1 / this.frames : this.opts.adapt;
    for (let y = 0; y < height; y++) {
      let sum = 0;
      for (let i = y * width, end = i + width; i < end; i++) sum += Math.abs(grey[i]! - this.previous[i]!);
      activity[y] = activity[y]! + weight * (sum / width - activity[y]!);
    }
    this.previous.set(grey);
    if (this.frames < this.opts.settleFrames) return { state: 'settling' };
    return this.estimate(activity, height);
  }

  private estimate(activity: Float64Array, height: number): HoodEstimate {
    let scene = 0;
    const from = Math.floor(height * 0.5);
    const to = Math.floor(height * 0.75);
    for (let y = from; y < to; y++) scene += activity[y]!;
    scene /= Math.max(1, to - from);
    if (scene < this.opts.minSceneActivity) return { state: 'unsettled', sceneActivity: scene };
    let top = height;
    const limit = Math.floor(height * (1 - this.opts.maxHeight));
    while (top > limit && activity[top - 1]! <= this.opts.staticRatio * scene) top--;
    const size = (height - top) / height;
    if (size < this.opts.minHeight || top <= limit) return { state: 'none', hood: noHood };
    return { state: 'found', hood: hoodLine(top / height) };
  }
}
