import type { DrivableSummary, EgoCorridor, FrameAnalysis } from '../core/analysis.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { drivableArea, drivableLut, drivableMask } from './drivable.js';
import { roadEdges } from './edges.js';
import { classHistogram, histogramFractions } from './histogram.js';

export interface AnalysisConfig {
  corridor: EgoCorridor;
  /** Class ids that count as drivable (road, trainId 0, by default). */
  drivableClasses: readonly number[];
  /** Image rows (fractions of the height, top = 0) at which the road boundaries are reported. */
  edgeRows: readonly number[];
  /** Class names, index = class id. */
  classNames: readonly string[];
}

export function analyse(labels: LabelMap, cfg: AnalysisConfig, lut = drivableLut(cfg.drivableClasses)): FrameAnalysis {
  const width = widthOf(labels);
  const height = heightOf(labels);
  const mask = drivableMask(labels, lut);
  const area = drivableArea(labels, cfg.corridor, lut);
  return {
    labels,
    drivableFraction: area.drivableFraction,
    egoFraction: area.egoFraction,
    histogram: classHistogram(labels, cfg.classNames.length),
    edges: roadEdges(mask, width, height, cfg.corridor.centerX),
  };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export function summarize(a: FrameAnalysis, cfg: AnalysisConfig): DrivableSummary {
  const roadEdges = cfg.edgeRows.map((y) => {
    const height = heightOf(a.labels);
    const width = widthOf(a.labels);
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
  };
}

export function hudLine(s: DrivableSummary, extra = ''): string {
  return `drivable ${s.drivablePct.toFixed(1)}%  ego ${s.egoCorridorPct.toFixed(1)}%${extra ? '  ' + extra : ''}`;
}
