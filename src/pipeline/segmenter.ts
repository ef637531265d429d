/**
 * The per-frame work, one step per method, around one engine (the scene model and, where given,
 * the drivable model): preprocess -> infer -> analyse -> render. The CLI's still-image commands call `segment`; the streaming graph calls the steps one by
 * one so that they overlap across frames.
 */
import type { CameraHealth, DrivableSummary, FrameAnalysis, Hood } from '../core/analysis.js';
import type { FrameMeta, FrameTimings } from '../core/frame.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import type { DisplayClasses, FrameHeads, HeadScores, ModelManifest, PackedInput, Provider } from '../core/model.js';
import type { FrameProcessor } from '../core/processor.js';
import type { SignalOrigin } from '../core/signal.js';
import type { SegmentationEngine } from '../engine/engine.js';
import type { Mat } from '../util/cv.js';
import { analyse, hudLine, summarize, type AnalysisConfig } from '../stages/analyse.js';
import { CameraMonitor } from '../stages/camera.js';
import { defaultCorridor, drivableLut } from '../stages/drivable.js';
import { HoodEstimator, hoodRows, noHood } from '../stages/hood.js';
import { downsampleLabels } from '../stages/labelmap.js';
import { renderOverlay, defaultOverlayStyle, type OverlayStyle } from '../stages/overlay.js';
import { bgrLut, type Rgb } from '../stages/palette.js';
import { greyThumbnail, toBgr } from '../stages/preprocess.js';
import { ProbabilityEma, cellPlacement, drivableConfidence, probabilityLabels, softmax, softmaxStep } from '../stages/scores.js';

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

/** The steps `segment` times when it runs a frame alone: the same FrameTimings fields the graph fills per step. */
export type StepTimings = Pick<FrameTimings, 'preprocessMs' | 'inferMs' | 'analyseMs' | 'renderMs'>;

export interface SegmentResult {
  heads: FrameHeads;
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
  readonly origin: SignalOrigin;
  private readonly paletteLut: Uint8Array;
  private readonly drivable: Uint8Array;
  private readonly hud: boolean;
  private readonly analysisScale: number;
  readonly signalOptions: SignalOptions;
  private readonly log: (line: string) => void;
  /** Per source id: several sources may share one segmenter. */
  private readonly sources = new Map<string, SourceState>();

  constructor(readonly engine: SegmentationEngine, opts: SegmenterOptions = {}) {
    this.analysisConfig = {
      corridor: opts.analysis?.corridor ?? defaultCorridor,
      drivableClasses: opts.analysis?.drivableClasses ?? [0],
      edgeRows: opts.analysis?.edgeRows ?? defaultEdgeRows,
      classNames: engine.classes.names,
      freeSpaceColumns: opts.analysis?.freeSpaceColumns ?? 32,
    };
    this.signalOptions = { ...defaultSignalOptions, ...opts.signal };
    this.log = opts.log ?? (() => {});
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

  /**
   * The frame's figures from the model's output and the picture (`image`, BGR). Frames of one
   * source (`meta.sourceId`) must come in order: the smoothing, the hood estimate and the camera
   * health carry over from frame to frame.
   */
  analyse(heads: FrameHeads, image: Mat, meta?: FrameMeta): { analysis: FrameAnalysis; summary: DrivableSummary } {
    const opts = this.signalOptions;
    const state = this.stateOf(meta?.sourceId ?? stillSource);
    const thumb = greyThumbnail(image);
    const hoodRow = hoodRows(state.hood, 1, thumb.height)[0]!;
    const reading = state.camera.update(thumb.grey, thumb.width, thumb.height, [Math.round(thumb.height * 0.45), hoodRow]);
    if (state.hoodEstimator) state.hood = this.estimateHood(state, thumb, meta?.sourceId ?? stillSource);
    const timeJump = meta && state.lastPtsMs !== undefined && (meta.ptsMs < state.lastPtsMs || meta.ptsMs - state.lastPtsMs > opts.maxGapMs);
    if (timeJump || reading.sceneCut) state.ema?.reset();
    state.lastPtsMs = meta?.ptsMs;

    // Smoothing and confidence work on the class head's scores; a model with binary heads only
    // (TwinLiteNet alone) gives its masks as they are, and no confidence.
    const probabilities = heads.logits && softmax(heads.logits);
    const smoothed = probabilities && state.ema ? state.ema.update(probabilities) : probabilities;
    const labels = smoothed && state.ema ? this.labelsOf(smoothed, heads.labels, heads.logits!) : downsampleLabels(heads.labels, this.analysisScale);
    const maps = { ...(heads.drivable && { drivable: heads.drivable.mask }), ...(heads.lanes && { lanes: heads.lanes }) };
    const analysis = analyse(labels, this.analysisConfig, this.drivable, maps, state.hood);
    const confidence = smoothed ? drivableConfidence(smoothed, this.drivable, this.analysisConfig.corridor, hoodRows(state.hood, smoothed.width, smoothed.height)) : null;
    const status = statusOf(reading.health, confidence, opts.lowConfidence);
    return { analysis, summary: summarize(analysis, this.analysisConfig, { confidence, camera: reading.health, status }) };
  }

  /**
   * Labels at the analysis size from smoothed probabilities (softmax of `logits`), placed as the
   * model's own head places its upsampled scores (aligned corners or half-pixel centres).
   */
  private labelsOf(p: ReturnType<typeof softmax>, modelLabels: LabelMap, logits: HeadScores): LabelMap {
    const f = this.analysisScale;
    const inW = widthOf(modelLabels);
    const inH = heightOf(modelLabels);
    const mode = this.engine.manifest.heads.classes!.logits.upsampling;
    const step = softmaxStep(logits.width);
    const x = cellPlacement(inW, logits.width, step, f, mode);
    const y = cellPlacement(inH, logits.height, step, f, mode);
    return probabilityLabels(p, Math.ceil(inW / f), Math.ceil(inH / f), x.scale, y.scale, this.classes.names.length, x.offset, y.offset);
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

  render(bgr: Mat, analysis: FrameAnalysis, summary: DrivableSummary, hudExtra = `${this.engine.provider} ${this.engine.precision}`): Mat {
    const palette = this.classes.palette as Rgb[];
    // Classes on at least 0.2 % of the picture: specks of a class would only crowd the legend.
    const legend = this.classes.names.flatMap((name, id) => ((analysis.histogram.counts[id] ?? 0) >= 0.002 * analysis.histogram.total && palette[id] ? [{ name, color: palette[id] }] : []));
    const marks = { corridor: this.analysisConfig.corridor, hood: analysis.hood, freeSpace: summary.freeSpace, roadEdges: summary.roadEdges, legend };
    const masks = { drivable: analysis.drivableHead, lanes: analysis.laneMask, edges: analysis.edges.edgeMask };
    return renderOverlay(bgr, analysis.labels, this.paletteLut, this.overlayStyle, masks, this.hud ? hudLine(summary, hudExtra) : undefined, marks);
  }

  /** All steps on one image, timed. */
  async segment(image: Mat): Promise<SegmentResult> {
    const t0 = performance.now();
    const { bgr, tensor } = this.preprocess(image);
    const t1 = performance.now();
    const heads = await this.infer(tensor);
    const t2 = performance.now();
    const { analysis, summary } = this.analyse(heads, bgr);
    const t3 = performance.now();
    const overlay = this.render(bgr, analysis, summary);
    const t4 = performance.now();
    return { heads, analysis, summary, overlay, timings: { preprocessMs: t1 - t0, inferMs: t2 - t1, analyseMs: t3 - t2, renderMs: t4 - t3 } };
  }
}

function statusOf(camera: CameraHealth, confidence: number | null, lowConfidence: number): DrivableSummary['status'] {
  if (camera.condition !== 'ok') return 'camera-fault';
  return confidence !== null && confidence < lowConfidence ? 'low-confidence' : 'ok';
}
