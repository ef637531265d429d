/** The one interface every sink implements, and what it receives. */
import type { Mat } from '../util/cv.js';
import type { DrivableSummary, FrameAnalysis } from './analysis.js';
import type { FrameMeta, FrameTimings, StreamInfo } from './frame.js';
import type { LabelMap } from './labelmap.js';
import type { DisplayClasses, ModelManifest, Precision, Provider } from './model.js';
import type { SignalMessage } from './signal.js';

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
  /**
   * Keeps the frame's Mats alive after `write` returns; call the returned function once when done
   * with them. The Mats are released when the last holder lets go.
   */
  retain(): () => void;
}

/** The run's counters as a sink may read them while it runs (live metrics). */
export interface RunCounters {
  readonly framesIn: number;
  readonly framesOut: number;
  /** Frames dropped, by cause. */
  readonly drops: ReadonlyMap<string, number>;
}

export interface PipelineContext {
  /** The sink's own source (a sink bound to one source), else the run's first source. */
  stream: StreamInfo;
  /** Every source of the run, in the order given. */
  streams: readonly StreamInfo[];
  /** The scene model's manifest. */
  manifest: ModelManifest;
  device: Provider;
  precision: Precision;
  /** The classes of the label maps, with their colours. */
  classes: DisplayClasses;
  /** The graph's counters (absent when a sink is driven without a graph). */
  stats?: RunCounters;
}

/**
 * How a sink takes frames. `every`: every frame in order, awaited, so it may apply backpressure (a
 * video file, the signal file). `latest`: offered without waiting; a sink still busy gets only the
 * newest frame when it is free, and what it skipped is counted (a window, a websocket's images).
 */
export const sinkPolicies = ['every', 'latest'] as const;
export type SinkPolicy = (typeof sinkPolicies)[number];

/**
 * A sink. Memory: a frame's Mats (`image`, `overlay`) stay valid until `write` (or its promise)
 * returns; a sink that needs them longer calls `frame.retain()`.
 */
export interface Sink {
  readonly name: string;
  readonly policy: SinkPolicy;
  /** True for outputs that hold one source's frames only (a video file): a run with several sources needs one per source. */
  readonly oneSource?: boolean;
  open(ctx: PipelineContext): Promise<void> | void;
  write(frame: ProcessedFrame): Promise<void> | void;
  /** Finalise (flush, close files). Called once, also after errors and interrupts. */
  close(): Promise<void> | void;
  /** Counters for the end-of-run summary (frames written, skipped, ...). */
  stats?(): Record<string, number | string>;
  /**
   * Sinks that carry the signal also take messages without a frame (a live source's stale
   * ticks); like `write`, this must not block.
   */
  writeSignal?(message: SignalMessage): void;
}
