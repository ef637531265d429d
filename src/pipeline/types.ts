/** The data that flows through the graph, and the one interface every sink implements. */
import type { Mat } from '../util/cv.js';
import type { DrivableSummary, FrameAnalysis } from '../stages/analyse.js';
import type { LabelMap } from '../stages/labelmap.js';
import type { ModelManifest } from '../engine/registry.js';
import type { Provider } from '../engine/devices.js';
import type { SignalMessage } from './signal.js';

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
  /** Why there is no picture, for logs. */
  reason: string;
}

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
  /** Frame count when the container says so (files), else undefined. */
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

export interface ProcessedFrame {
  meta: FrameMeta;
  /** The decoded frame (BGR). */
  image: Mat;
  /** Labels at the model's input size. */
  labels: LabelMap;
  analysis: FrameAnalysis;
  summary: DrivableSummary;
  /** The frame with the overlay drawn, at the frame's size. */
  overlay: Mat;
  timings: FrameTimings;
  /** The frame's signal message, made once and sent identically by every sink. */
  signal: SignalMessage;
}
// Memory: the Mats of a ProcessedFrame (`image`, `overlay`) are released as soon as the frame has
// left the graph, unless a sink keeps frames (`retainsFrames`, freshest-policy sinks): results
// subscribers must copy (`mat.copy()`) what they keep beyond their callback.

export interface PipelineContext {
  stream: StreamInfo;
  manifest: ModelManifest;
  device: Provider;
}

/**
 * A sink. `every` sinks get every frame in order and may apply backpressure (a video file);
 * `freshest` sinks get the newest frame whenever they are free and never slow the graph (a
 * window, a websocket).
 */
export interface Sink {
  readonly name: string;
  readonly policy: 'every' | 'freshest';
  open(ctx: PipelineContext): Promise<void> | void;
  write(frame: ProcessedFrame): Promise<void> | void;
  /** Finalise (flush, close files). Called once, also after errors and interrupts. */
  close(): Promise<void> | void;
  /** True when the sink keeps frames after `write` returns (then their Mats are left to the GC). */
  readonly retainsFrames?: boolean;
  /** Counters for the end-of-run summary (frames written, skipped, ...). */
  stats?(): Record<string, number | string>;
  /**
   * Sinks that carry the signal also take messages without a frame (a live source's stale
   * ticks); like `write`, this must not block.
   */
  writeSignal?(message: SignalMessage): void;
}
