/** The one interface every source implements, and the options they share. */
import type { Frame, StaleTick, StreamInfo } from './frame.js';

export interface SourceOptions {
  /** Deliver a file at its native frame rate, as a camera would (then frames may be dropped). */
  realtime?: boolean;
  /** Start again at the end (files and image folders). */
  loop?: boolean;
  /** Seconds to skip at the start. */
  start?: number;
  /** Seconds to deliver, from `start`. */
  duration?: number;
  /** Keep every n-th frame. */
  stride?: number;
  /** Frame rate of image folders (frames per second). */
  fps?: number;
  /** A network stream's stall detector (default: `defaults.stall` in src/app/config.ts). */
  stall?: StallOptions;
  /** Where sources report what happens to them (a stream going offline and back). */
  log?: (line: string) => void;
}

/** When a live stream without frames is marked stale, and when it is given up as offline. */
export interface StallOptions {
  /** No frame for this many frame intervals: the source is stale (stale lines, /healthz 503). */
  staleAfterFrames: number;
  /** No frame for this many seconds (at least the stale time and one interval more): offline, reconnecting. */
  offlineAfterS: number;
}

/** The stall detector's defaults (the config schema's, `defaults.stall` in src/app/config.ts, are these). */
export const defaultStall: Readonly<StallOptions> = { staleAfterFrames: 10, offlineAfterS: 5 };

export interface FrameSource {
  readonly info: StreamInfo;
  /**
   * The next frame, a stale tick (live sources, while the picture is gone), or null at the end of
   * the input. Calls are never concurrent.
   */
  read(): Promise<Frame | StaleTick | null>;
  /**
   * After the last frame: set when a file ended before the frame count its container declares
   * (truncated or damaged), so the run can report it once its outputs are finalised.
   */
  readonly endedEarly?: { decoded: number; expected: number };
  /** Releases the device or file. Idempotent. */
  close(): void;
}
