import type { DrivableSummary, EgoCorridor, FrameAnalysis } from '../core/analysis.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { drivableArea, drivableLut, drivableMask } from './drivable.js';
import { roadEdges } from './edges.js';
import { freeSpace } from './freespace.js';
import type { Hood } from '../core/analysis.js';
import { hoodRows, noHood } from './hood.js';
import { classHistogram, histogramFractions } from './histogram.js';

export interface AnalysisConfig {
  corridor: EgoCorridor;
  /** Class ids that count as drivable (road, trainId 0, by default). */
  drivableClasses: readonly number[];
  /** Image rows (fractions of the height, top = 0) at which the road boundaries are reported. */
  edgeRows: readonly number[];
  /** Class names, index = class id. */
  classNames: readonly string[];
  /** Column bands of the free-space boundary. */
  freeSpaceColumns: number;
}

/** The hood's pixels are left out of every figure. */
export function analyse(labels: LabelMap, cfg: AnalysisConfig, lut = drivableLut(cfg.drivableClasses), hood: Hood = noHood): FrameAnalysis {
  const width = widthOf(labels);
  const height = heightOf(labels);
  const mask = drivableMask(labels, lut);
  const hoodTop = hoodRows(hood, width, height);
  for (let x = 0; x < width; x++) for (let y = hoodTop[x]!; y < height; y++) mask[y * width + x] = 0;
  const area = drivableArea(labels, cfg.corridor, lut, hoodTop);
  const edges = roadEdges(mask, width, height, cfg.corridor.centerX);
  // The hood's top edge is no road edge.
  for (let x = 0; x < width; x++) for (let y = Math.max(0, hoodTop[x]! - 1); y < height; y++) edges.edgeMask[y * width + x] = 0;
  return {
    labels,
    drivableFraction: area.drivableFraction,
    egoFraction: area.egoFraction,
    histogram: classHistogram(labels, cfg.classNames.length),
    edges,
    hoodTop,
    hood,
    freeSpace: freeSpace(mask, width, height, hoodTop, cfg.freeSpaceColumns),
  };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The summary of one analysis; how sure it is and the camera's health come from elsewhere. */
export function summarize(a: FrameAnalysis, cfg: AnalysisConfig, judged: Pick<DrivableSummary, 'confidence' | 'camera' | 'status'>): DrivableSummary {
  const height = heightOf(a.labels);
  const width = widthOf(a.labels);
  const roadEdges = cfg.edgeRows.map((y) => {
    const row = Math.min(height - 1, Math.round(y * (height - 1)));
    const l = a.edges.left[row]!;
    const r = a.edges.right[row]!;
    return { y, left: l < 0 ? null : round(l / (width - 1), 4), right: r < 0 ? null : round(r / (width - 1), 4) };
  });
  return {
    drivablePct: round(a.drivableFraction * 100, 2),
    egoCorridorPct: round(a.egoFraction * 100, 2),
    roadEdges,
    histogram: histogramFractions(a.histogram, cfg.classNames),
    hoodY: round(a.hood.y, 4),
    freeSpace: a.freeSpace,
    confidence: round(judged.confidence, 3),
    camera: judged.camera,
    status: judged.status,
  };
}

export function hudLine(s: DrivableSummary, extra = ''): string {
  const state = s.status === 'ok' ? '' : `  ${s.status === 'camera-fault' ? `camera ${s.camera.condition}` : s.status}`;
  return `drivable ${s.drivablePct.toFixed(1)}%  ego ${s.egoCorridorPct.toFixed(1)}%  conf ${s.confidence.toFixed(2)}${state}${extra ? '  ' + extra : ''}`;
}
