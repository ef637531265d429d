/**
 * The per-frame work, one step per method, around one engine: preprocess -> infer -> analyse ->
 * render. The CLI's still-image commands call `segment`; the streaming graph calls the steps one by
 * one so that they overlap across frames.
 */
import type { CameraHealth, DrivableSummary, FrameAnalysis, Hood } from '../core/analysis.js';
import type { FrameMeta } from '../core/frame.js';
import { heightOf, widthOf, type Inference, type LabelMap } from '../core/labelmap.js';
import type { InputTensor, ModelManifest, Provider } from '../core/model.js';
import type { FrameProcessor } from '../core/processor.js';
import type { SegmentationEngine } from '../engine/engine.js';
import type { Mat } from '../util/cv.js';
import { analyse, hudLine, summarize, type AnalysisConfig } from '../stages/analyse.js';
import { CameraMonitor } from '../stages/camera.js';
import { defaultCorridor, drivableLut } from '../stages/drivable.js';
import { HoodEstimator, hoodRows, noHood } from '../stages/hood.js';
import { downsampleLabels } from '../stages/labelmap.js';
import { renderOverlay, defaultOverlayStyle, type OverlayStyle } from '../stages/overlay.js';
import { bgrLut, type Rgb } from '../stages/palette.js';
import { greyThumbnail, packInput, toBgr } from '../stages/preprocess.js';
import { ProbabilityEma, drivableConfidence, probabilityLabels, softmax } from '../stages/scores.js';

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
  signal?: Partial<SignalOptions>;
  /** Where one-off notes go (a hood estimate that cannot settle). */
  log?: (line: string) => void;
}

/** How the signal is made from the model's output, frame after frame. */
export interface SignalOptions {
  /**
   * Sources whose frames are still images, each standing alone: no smoothing and no estimated hood
   * unless given explicitly, never frozen. Frames analysed without a FrameMeta are still images too.
   * Other sources are videos, cameras or streams.
   */
  stillSources: ReadonlySet<string>;
  /** Weight of the past in the moving average of class probabilities, 0 (off) .. 0.95; default 0.6 for videos, 0 for still images. */
  smooth?: number;
  /** 'auto': estimated from the frames; 'off'; or the hood given. Default: 'auto' for videos, 'off' for still images. */
  hood?: 'auto' | 'off' | Hood;
  /** Below this confidence the status is 'low-confidence'. */
  lowConfidence: number;
  /** A gap between frames longer than this (or a step back in time) restarts the smoothing, ms. */
  maxGapMs: number;
}

export const defaultSignalOptions: SignalOptions = { stillSources: new Set(), lowConfidence: 0.5, maxGapMs: 1000 };
/** The smoothing strength of videos unless given. */
export const defaultSmooth = 0.6;

/** What the signal remembers of one source between its frames. */
interface SourceState {
  ema: ProbabilityEma | undefined;
  hoodEstimator: HoodEstimator | undefined;
  hood: Hood;
  camera: CameraMonitor;
  lastPtsMs: number | undefined;
  saidUnsettled: boolean;
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

/** The source id of frames analysed without a FrameMeta (still images). */
const stillSource = '';

export const defaultEdgeRows = [0.6, 0.7, 0.8, 0.9] as const;

export class Segmenter implements FrameProcessor {
  readonly analysisConfig: AnalysisConfig;
  readonly overlayStyle: OverlayStyle;
  private readonly paletteLut: Uint8Array;
  private readonly drivable: Uint8Array;
  private readonly hud: boolean;
  private readonly analysisScale: number;
  readonly signalOptions: SignalOptions;
  private readonly log: (line: string) => void;
  /** Per source id: several sources may share one segmenter. */
  private readonly sources = new Map<string, SourceState>();

  constructor(readonly engine: SegmentationEngine, opts: SegmenterOptions = {}) {
    const m = engine.manifest;
    this.analysisConfig = {
      corridor: opts.analysis?.corridor ?? defaultCorridor,
      drivableClasses: opts.analysis?.drivableClasses ?? [0],
      edgeRows: opts.analysis?.edgeRows ?? defaultEdgeRows,
      classNames: m.classes,
      freeSpaceColumns: opts.analysis?.freeSpaceColumns ?? 32,
    };
    this.signalOptions = { ...defaultSignalOptions, ...opts.signal };
    this.log = opts.log ?? (() => {});
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

  infer(tensor: InputTensor): Promise<Inference> {
    return this.engine.inferWithScores([tensor]).then(([r]) => r!);
  }

  inferBatch(tensors: readonly InputTensor[]): Promise<Inference[]> {
    return this.engine.inferWithScores(tensors);
  }

  /**
   * The frame's figures from the model's output and the picture (`image`, BGR). Frames of one
   * source (`meta.sourceId`) must come in order: the smoothing, the hood estimate and the camera
   * health carry over from frame to frame.
   */
  analyse(inference: Inference, image: Mat, meta?: FrameMeta): { analysis: FrameAnalysis; summary: DrivableSummary } {
    const opts = this.signalOptions;
    const state = this.stateOf(meta?.sourceId ?? stillSource);
    const thumb = greyThumbnail(image);
    const hoodRow = hoodRows(state.hood, 1, thumb.height)[0]!;
    const reading = state.camera.update(thumb.grey, thumb.width, thumb.height, [Math.round(thumb.height * 0.45), hoodRow]);
    if (state.hoodEstimator) state.hood = this.estimateHood(state, thumb, meta?.sourceId ?? stillSource);
    const timeJump = meta && state.lastPtsMs !== undefined && (meta.ptsMs < state.lastPtsMs || meta.ptsMs - state.lastPtsMs > opts.maxGapMs);
    if (timeJump || reading.sceneCut) state.ema?.reset();
    state.lastPtsMs = meta?.ptsMs;

    const probabilities = softmax(inference.logits);
    const smoothed = state.ema ? state.ema.update(probabilities) : probabilities;
    const labels = state.ema ? this.labelsOf(smoothed, inference.labels) : downsampleLabels(inference.labels, this.analysisScale);
    const analysis = analyse(labels, this.analysisConfig, this.drivable, state.hood);
    const confidence = drivableConfidence(smoothed, this.drivable, this.analysisConfig.corridor, hoodRows(state.hood, smoothed.width, smoothed.height));
    const status = statusOf(reading.health, confidence, opts.lowConfidence);
    return { analysis, summary: summarize(analysis, this.analysisConfig, { confidence, camera: reading.health, status }) };
  }

  /** Labels at the analysis size from smoothed probabilities, placed as the model places its own. */
  private labelsOf(p: ReturnType<typeof softmax>, modelLabels: LabelMap): LabelMap {
    const f = this.analysisScale;
    const inW = widthOf(modelLabels);
    const inH = heightOf(modelLabels);
    // The models upsample with aligned corners: input pixel x sits at cell x * (cells - 1) / (pixels - 1).
    const scale = (cells: number, pixels: number) => (pixels > 1 ? (f * (cells - 1)) / (pixels - 1) : 0);
    return probabilityLabels(p, Math.ceil(inW / f), Math.ceil(inH / f), scale(p.width, inW), scale(p.height, inH), this.manifest.classes.length);
  }

  private estimateHood(state: SourceState, thumb: ReturnType<typeof greyThumbnail>, sourceId: string): Hood {
    const e = state.hoodEstimator!.update(thumb.grey, thumb.width, thumb.height);
    if (e.state === 'found' || e.state === 'none') return e.hood;
    if (e.state === 'unsettled' && !state.saidUnsettled) {
      state.saidUnsettled = true;
      this.log(`hood: ${sourceId || 'the input'} hardly moves (mean change ${e.sceneActivity.toFixed(2)} grey levels per frame on the road ahead), so its hood cannot be estimated: no hood (give one with --hood FRACTION)`);
    }
    return state.hood;
  }

  private stateOf(sourceId: string): SourceState {
    let state = this.sources.get(sourceId);
    if (!state) {
      const still = sourceId === stillSource || this.signalOptions.stillSources.has(sourceId);
      const smooth = this.signalOptions.smooth ?? (still ? 0 : defaultSmooth);
      const hood = this.signalOptions.hood ?? (still ? 'off' : 'auto');
      state = {
        ema: smooth > 0 ? new ProbabilityEma(smooth) : undefined,
        hoodEstimator: hood === 'auto' ? new HoodEstimator() : undefined,
        hood: typeof hood === 'object' ? hood : noHood,
        camera: new CameraMonitor(undefined, !still),
        lastPtsMs: undefined,
        saidUnsettled: false,
      };
      this.sources.set(sourceId, state);
    }
    return state;
  }

  render(bgr: Mat, analysis: FrameAnalysis, summary: DrivableSummary, hudExtra = this.engine.provider): Mat {
    const palette = this.manifest.palette as Rgb[];
    // Classes on at least 0.2 % of the picture: specks of a class would only crowd the legend.
    const legend = this.manifest.classes.flatMap((name, id) => ((analysis.histogram.counts[id] ?? 0) >= 0.002 * analysis.histogram.total && palette[id] ? [{ name, color: palette[id] }] : []));
    const marks = { corridor: this.analysisConfig.corridor, hood: analysis.hood, freeSpace: summary.freeSpace, roadEdges: summary.roadEdges, legend };
    return renderOverlay(bgr, analysis.labels, this.paletteLut, this.overlayStyle, analysis.edges.edgeMask, this.hud ? hudLine(summary, hudExtra) : undefined, marks);
  }

  /** All steps on one image, timed. */
  async segment(image: Mat): Promise<SegmentResult> {
    const t0 = performance.now();
    const { bgr, tensor } = this.preprocess(image);
    const t1 = performance.now();
    const inference = await this.infer(tensor);
    const labels = inference.labels;
    const t2 = performance.now();
    const { analysis, summary } = this.analyse(inference, bgr);
    const t3 = performance.now();
    const overlay = this.render(bgr, analysis, summary);
    const t4 = performance.now();
    return { labels, analysis, summary, overlay, timings: { preprocessMs: t1 - t0, inferMs: t2 - t1, analyseMs: t3 - t2, renderMs: t4 - t3 } };
  }
}

function statusOf(camera: CameraHealth, confidence: number, lowConfidence: number): DrivableSummary['status'] {
  if (camera.condition !== 'ok') return 'camera-fault';
  return confidence < lowConfidence ? 'low-confidence' : 'ok';
}
