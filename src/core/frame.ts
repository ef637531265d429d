/** A frame and its provenance: what every source delivers and every derived output keeps. */
import type { Mat } from '../util/cv.js';

/** Where a frame came from; every output derived from it carries this. */
export interface FrameMeta {
  sourceId: string;
  /** 0-based index of the frame in its source (counts frames decoded, dropped ones included). */
  index: number;
  /** Presentation timestamp from the container (files) or from the capture clock (live), ms. */
  ptsMs: number;
  /** Wall-clock time the frame was captured / decoded, ms since the epoch. */
  captureTimeMs: number;
}

export interface Frame extends FrameMeta {
  /** Decoded image, BGR 8-bit. */
  image: Mat;
}

/**
 * A frame time at which a live source had no picture (the stream dropped and is being retried).
 * It carries no image: sinks that carry the signal mark it stale instead of repeating old values.
 */
export interface StaleTick extends FrameMeta {
  stale: true;
  /** The source's state at this tick: `stale` (no frame for a while, the stream still open) or `offline` (given up, reconnecting). */
  state: Exclude<SourceState, 'online'>;
  /** Why there is no picture, for logs. */
  reason: string;
}

/**
 * A live source's state, the one every output reads: `online` while frames come; `stale` once no
 * frame came for the stall detector's frame intervals (the stream is still open and may resume);
 * `offline` once it is given up and being reconnected. Stale always comes before offline.
 */
export type SourceState = 'online' | 'stale' | 'offline';

export function isStale(f: Frame | StaleTick): f is StaleTick {
  return 'stale' in f;
}

/** What the source knows of its stream before the first frame. */
export interface StreamInfo {
  sourceId: string;
  uri: string;
  kind: 'file' | 'camera' | 'stream' | 'images';
  /** Live sources keep the freshest frame; files are lossless. */
  live: boolean;
  width: number;
  height: number;
  fps: number;
  /**
   * Frames this source will deliver (start, duration and stride applied, by
   * src/sources/frame-window.ts), when known: an image folder's exactly, a file's from its
   * container's declared count, which can be a little high (edit lists: shown as "about", by
   * src/cli/progress.ts);
   * undefined for live sources and --loop.
   */
  frameCount?: number;
}

/** Per-stage times of one frame, ms. */
export interface FrameTimings {
  queueMs: number;
  preprocessMs: number;
  inferMs: number;
  analyseMs: number;
  renderMs: number;
  /** Writing to the `every` sinks (video file, signal). */
  sinksMs: number;
}
