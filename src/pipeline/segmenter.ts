/**
 * The per-frame work, one step per method, around one engine (the scene model and, where given,
 * the drivable model): preprocess -> infer -> analyse -> render. The CLI's still-image commands call `segment`; the streaming graph calls the steps one by
 * one so that they overlap across frames.
 */
import type { DrivableSummary, FrameAnalysis } from '../core/analysis.js';
import type { DisplayClasses, FrameHeads, ModelManifest, PackedInput, Provider } from '../core/model.js';
import type { FrameProcessor } from '../core/processor.js';
import type { SignalOrigin } from '../core/signal.js';
import type { SegmentationEngine } from '../engine/engine.js';
import type { Mat } from '../util/cv.js';
import { analyse, hudLine, summarize, type AnalysisConfig } from '../stages/analyse.js';
import { defaultCorridor, drivableLut } from '../stages/drivable.js';
import { downsampleLabels } from '../stages/labelmap.js';
import { renderOverlay, defaultOverlayStyle, type OverlayStyle } from '../stages/overlay.js';
import { bgrLut, type Rgb } from '../stages/palette.js';
import { toBgr } from '../stages/preprocess.js';

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
  heads: FrameHeads;
  analysis: FrameAnalysis;
  summary: DrivableSummary;
  overlay: Mat;
  timings: StepTimings;
}

export const defaultEdgeRows = [0.6, 0.7, 0.8, 0.9] as const;

export class Segmenter implements FrameProcessor {
  readonly analysisConfig: AnalysisConfig;
  readonly overlayStyle: OverlayStyle;
  readonly origin: SignalOrigin;
  private readonly paletteLut: Uint8Array;
  private readonly drivable: Uint8Array;
  private readonly hud: boolean;
  private readonly analysisScale: number;

  constructor(readonly engine: SegmentationEngine, opts: SegmenterOptions = {}) {
    this.analysisConfig = {
      corridor: opts.analysis?.corridor ?? defaultCorridor,
      drivableClasses: opts.analysis?.drivableClasses ?? [0],
      edgeRows: opts.analysis?.edgeRows ?? defaultEdgeRows,
      classNames: engine.classes.names,
    };
    this.overlayStyle = { ...defaultOverlayStyle, ...opts.overlay };
    this.paletteLut = bgrLut(engine.classes.palette as Rgb[]);
    this.origin = { model: engine.manifest.id, device: engine.provider, precision: engine.precision, drivableSource: engine.drivableSource };
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

  get classes(): DisplayClasses {
    return this.engine.classes;
  }

  /** `image` is converted to BGR if it is grey or has alpha, and then released (see toBgr). */
  preprocess(image: Mat): { bgr: Mat; tensor: PackedInput } {
    const bgr = toBgr(image);
    return { bgr, tensor: this.engine.prepare(bgr) };
  }

  infer(tensor: PackedInput): Promise<FrameHeads> {
    return this.engine.infer(tensor);
  }

  inferBatch(tensors: readonly PackedInput[]): Promise<FrameHeads[]> {
    return this.engine.inferBatch(tensors);
  }

  analyse(heads: FrameHeads): { analysis: FrameAnalysis; summary: DrivableSummary } {
    const analysis = analyse(downsampleLabels(heads.labels, this.analysisScale), this.analysisConfig, this.drivable, {
      ...(heads.drivable && { drivable: heads.drivable.mask }),
      ...(heads.lanes && { lanes: heads.lanes }),
    });
    return { analysis, summary: summarize(analysis, this.analysisConfig) };
  }

  render(bgr: Mat, analysis: FrameAnalysis, summary: DrivableSummary, hudExtra = `${this.engine.provider} ${this.engine.precision}`): Mat {
    const masks = { drivable: analysis.drivableHead, lanes: analysis.laneMask, edges: analysis.edges.edgeMask };
    return renderOverlay(bgr, analysis.labels, this.paletteLut, this.overlayStyle, masks, this.hud ? hudLine(summary, hudExtra) : undefined);
  }

  /** All steps on one image, timed. */
  async segment(image: Mat): Promise<SegmentResult> {
    const t0 = performance.now();
    const { bgr, tensor } = this.preprocess(image);
    const t1 = performance.now();
    const heads = await this.infer(tensor);
    const t2 = performance.now();
    const { analysis, summary } = this.analyse(heads);
    const t3 = performance.now();
    const overlay = this.render(bgr, analysis, summary);
    const t4 = performance.now();
    return { heads, analysis, summary, overlay, timings: { preprocessMs: t1 - t0, inferMs: t2 - t1, analyseMs: t3 - t2, renderMs: t4 - t3 } };
  }
}
