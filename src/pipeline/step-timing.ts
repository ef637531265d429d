/**
 * The time of each step of a frame, kept in its FrameTimings (`<step>Ms`) and sampled into the
 * statistics: one helper for the graph's steps, one type for every step name that has a field.
 */
import type { FrameTimings } from '../core/frame.js';

/** The steps whose time a frame keeps: `preprocess` for `preprocessMs`, and so on. */
export type TimedStep = { [K in keyof FrameTimings]: K extends `${infer S}Ms` ? S : never }[keyof FrameTimings];

/** Records the time since `t0` as the step's time of the frame, and hands it to `sample`. */
export function recordStep(timings: FrameTimings, step: TimedStep, t0: number, sample: (step: TimedStep, ms: number) => void): number {
  const ms = performance.now() - t0;
  timings[`${step}Ms`] = ms;
  sample(step, ms);
  return ms;
}
