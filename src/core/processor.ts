/**
 * The per-frame work the graph runs, one step per method so that steps of different frames
 * overlap: preprocess -> infer -> analyse -> render. The engine-backed Segmenter implements it;
 * unit tests drive the graph with a fake.
 */
import type { Mat } from '../util/cv.js';
import type { DrivableSummary, FrameAnalysis } from './analysis.js';
import type { FrameMeta } from './frame.js';
import type { DisplayClasses, FrameHeads, ModelManifest, PackedInput, Provider } from './model.js';
import type { SignalOrigin } from './signal.js';

export interface FrameProcessor {
  /** The scene model's manifest. */
  readonly manifest: ModelManifest;
  /** The execution provider the model runs on. */
  readonly device: Provider;
  /** The classes of the label maps it produces, with their colours. */
  readonly classes: DisplayClasses;
  /** What its signal messages say produced them. */
  readonly origin: SignalOrigin;
  /** `image` is converted to BGR if needed (a converted input is released). */
  preprocess(image: Mat): { bgr: Mat; tensor: PackedInput };
  infer(tensor: PackedInput): Promise<FrameHeads>;
  /**
   * Several inputs of one size in one inference call (frames of several sources); results in the
   * same order, equal to those of `infer` one by one. Absent: the graph infers one at a time.
   */
  inferBatch?(tensors: readonly PackedInput[]): Promise<FrameHeads[]>;
  /**
   * `image` is the preprocessed BGR frame. State carries over between frames of one source
   * (`meta.sourceId`; frames without meta are still images), so frames of a source come in order.
   */
  analyse(heads: FrameHeads, image: Mat, meta?: FrameMeta): { analysis: FrameAnalysis; summary: DrivableSummary };
  /** The overlay: a new Mat owned by the caller. */
  render(bgr: Mat, analysis: FrameAnalysis, summary: DrivableSummary): Mat;
}
