/**
 * The per-frame work, one step per method, around one engine: preprocess -> infer -> analyse ->
 * render. The CLI's still-image commands call `segment`; the streaming graph calls the steps one by
 * one so that they overlap across frames.
 */
import type { DrivableSummary, FrameAnalysis } from '../core/analysis.js';
import type { LabelMap } from '../core/labelmap.js';
import type { InputTensor, ModelManifest, Provider } from '../core/model.js';
import type { FrameProcessor } from '../core/processor.js';
import type { SegmentationEngine } from '../engine/engine.js';
import type { Mat } from '../util/cv.js';
import { analyse, hudLine, summarize, type AnalysisConfig } from '../stages/analyse.js';
import { defaultCorridor, drivableLut } from '../stages/drivable.js';
import { downsampleLabels } from '../stages/labelmap.js';
import { renderOverlay, defaultOverlayStyle, type OverlayStyle } from '../stages/overlay.js';
import { bgrLut, type Rgb } from '../stages/palette.js';
import { packInput, toBgr } from '../stages/preprocess.js';

export interface SegmenterOptions {
  analysis?: Partial<Omit<AnalysisConfig, 'classNames'>>;
  overlay?: Partial<OverlayStyle>;
  /**
   * Analyse and colour the label map at 1/n of the model's input size (default 2). The models
   * predict at stride 16 and upsample, so halving loses no detail and saves three quarters of
   * the per-frame work on the main thread.
   */
  analysisScale?: number;
  /** Draw the HUD line on overlays. */
  hud?: boolean;
}

export interface StepTimings {
  preprocessMs: number;
  inferMs: number;
  analyseMs: number;
  renderMs: number;
}

export interface SegmentResult {
  labels: LabelMap;
  analysis: FrameAnalysis;
  summary: DrivableSummary;
  overlay: Mat;
  timings: StepTimings;
}

export const defaultEdgeRows = [0.6, 0.7, 0.8, 0.9] as const;

export class Segmenter implements FrameProcessor {
  readonly analysisConfig: AnalysisConfig;
  readonly overlayStyle: OverlayStyle;
  private readonly paletteLut: Uint8Array;
  private readonly drivable: Uint8Array;
  private readonly hud: boolean;
  private readonly analysisScale: number;

  constructor(readonly engine: SegmentationEngine, opts: SegmenterOptions = {}) {
    const m = engine.manifest;
    this.analysisConfig = {
      corridor: opts.analysis?.corridor ?? defaultCorridor,
      drivableClasses: opts.analysis?.drivableClasses ?? [0],
      edgeRows: opts.analysis?.edgeRows ?? defaultEdgeRows,
      classNames: m.classes,
    };
    this.overlayStyle = { ...defaultOverlayStyle, ...opts.overlay };
    this.paletteLut = bgrLut(m.palette as Rgb[]);
    this.drivable = drivableLut(this.analysisConfig.drivableClasses);
    this.hud = opts.hud ?? true;
    this.analysisScale = opts.analysisScale ?? 2;
  }

  get manifest(): ModelManifest {
    return this.engine.manifest;
  }

  get device(): Provider {
    return this.engine.provider;
  }

  /** `image` is converted to BGR if it is grey or has alpha, and then released (see toBgr). */
  preprocess(image: Mat): { bgr: Mat; tensor: InputTensor } {
    const bgr = toBgr(image);
    const tensor = packInput(bgr, this.engine.inputSizeFor(bgr.cols, bgr.rows), this.engine.manifest.input.colorOrder);
    return { bgr, tensor };
  }

  infer(tensor: InputTensor): Promise<LabelMap> {
    return this.engine.infer(tensor);
  }

  inferBatch(tensors: readonly InputTensor[]): Promise<LabelMap[]> {
    return this.engine.inferBatch(tensors);
  }

  analyse(labels: LabelMap): { analysis: FrameAnalysis; summary: DrivableSummary } {
    const analysis = analyse(downsampleLabels(labels, this.analysisScale), this.analysisConfig, this.drivable);
    return { analysis, summary: summarize(analysis, this.analysisConfig) };
  }

  render(bgr: Mat, analysis: FrameAnalysis, summary: DrivableSummary, hudExtra = this.engine.provider): Mat {
    return renderOverlay(bgr, analysis.labels, this.paletteLut, this.overlayStyle, analysis.edges.edgeMask, this.hud ? hudLine(summary, hudExtra) : undefined);
  }

  /** All steps on one image, timed. */
  async segment(image: Mat): Promise<SegmentResult> {
    const t0 = performance.now();
    const { bgr, tensor } = this.preprocess(image);
    const t1 = performance.now();
    const labels = await this.infer(tensor);
    const t2 = performance.now();
    const { analysis, summary } = this.analyse(labels);
    const t3 = performance.now();
    const overlay = this.render(bgr, analysis, summary);
    const t4 = performance.now();
    return { labels, analysis, summary, overlay, timings: { preprocessMs: t1 - t0, inferMs: t2 - t1, analyseMs: t3 - t2, renderMs: t4 - t3 } };
  }
}
