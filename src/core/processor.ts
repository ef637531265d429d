/**
 * The per-frame work the graph runs, one step per method so that steps of different frames
 * overlap: preprocess -> infer -> analyse -> render. The engine-backed Segmenter implements it;
 * unit tests drive the graph with a fake.
 */
import type { Mat } from '../util/cv.js';
import type { DrivableSummary, FrameAnalysis } from './analysis.js';
import type { FrameMeta } from './frame.js';
import type { Inference } from './labelmap.js';
import type { InputTensor, ModelManifest, Provider } from './model.js';

export interface FrameProcessor {
  readonly manifest: ModelManifest;
  /** The execution provider the model runs on. */
  readonly device: Provider;
  /** `image` is converted to BGR if needed (a converted input is released). */
  preprocess(image: Mat): { bgr: Mat; tensor: InputTensor };
  infer(tensor: InputTensor): Promise<Inference>;
  /**
   * Several inputs of one size in one inference call (frames of several sources); results in the
   * same order, equal to those of `infer` one by one. Absent: the graph infers one at a time.
   */
  inferBatch?(tensors: readonly InputTensor[]): Promise<Inference[]>;
  /**
   * `image` is the preprocessed BGR frame. State carries over between frames of one source
   * (`meta.sourceId`; frames without meta are still images), so frames of a source come in order.
   */
  analyse(inference: Inference, image: Mat, meta?: FrameMeta): { analysis: FrameAnalysis; summary: DrivableSummary };
  /** The overlay: a new Mat owned by the caller. */
  render(bgr: Mat, analysis: FrameAnalysis, summary: DrivableSummary): Mat;
}
