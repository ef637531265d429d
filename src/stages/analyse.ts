import type { DrivableSummary, EdgeSample, EgoCorridor, FrameAnalysis } from '../core/analysis.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { drivableArea, drivableLut, drivableMask } from './drivable.js';
import { roadEdges } from './edges.js';
import { classHistogram, histogramFractions } from './histogram.js';
import { sampleLabels } from './labelmap.js';

export interface AnalysisConfig {
  corridor: EgoCorridor;
  /** Class ids that count as drivable (road, trainId 0, by default). */
  drivableClasses: readonly number[];
  /** Image rows (fractions of the height, top = 0) at which the road boundaries are reported. */
  edgeRows: readonly number[];
  /** Class names, index = class id. */
  classNames: readonly string[];
}

/** Maps of binary heads (0/1), at their model's input size. */
export interface BinaryMaps {
  /** Where given, the drivable fields come from it instead of the drivable classes of `labels`. */
  drivable?: LabelMap;
  lanes?: LabelMap;
}

const yes = drivableLut([1]);

export function analyse(labels: LabelMap, cfg: AnalysisConfig, lut = drivableLut(cfg.drivableClasses), maps: BinaryMaps = {}): FrameAnalysis {
  const width = widthOf(labels);
  const height = heightOf(labels);
  const source = maps.drivable ? sampleLabels(maps.drivable, width, height) : labels;
  const sourceLut = maps.drivable ? yes : lut;
  const mask = drivableMask(source, sourceLut);
  const area = drivableArea(source, cfg.corridor, sourceLut);
  return {
    labels,
    drivableFraction: area.drivableFraction,
    egoFraction: area.egoFraction,
    histogram: classHistogram(labels, cfg.classNames.length),
    edges: roadEdges(mask, width, height, cfg.corridor.centerX),
    ...(maps.drivable && { drivableHead: mask }),
    ...(maps.lanes && { laneMask: sampleLabels(maps.lanes, width, height).data, lanes: nearestLines(maps.lanes, cfg.edgeRows, cfg.corridor.centerX) }),
  };
}

/**
 * In each row (fraction of the height), the x (fraction of the width) of the nearest line pixel
 * left of the centre column and at or right of it, null where the row has none. Measured on the
 * head's own map: downsampling could break thin lines.
 */
export function nearestLines(lines: LabelMap, rows: readonly number[], centerX: number): EdgeSample[] {
  const width = widthOf(lines);
  const height = heightOf(lines);
  const cx = Math.min(width - 1, Math.max(0, Math.round(centerX * (width - 1))));
  return rows.map((y) => {
    const row = Math.min(height - 1, Math.round(y * (height - 1))) * width;
    let left = cx - 1;
    while (left >= 0 && !lines.data[row + left]) left--;
    let right = cx;
    while (right < width && !lines.data[row + right]) right++;
    return { y, left: left < 0 ? null : round(left / (width - 1), 4), right: right >= width ? null : round(right / (width - 1), 4) };
  });
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
    ...(a.lanes && { lanes: a.lanes }),
    histogram: histogramFractions(a.histogram, cfg.classNames),
  };
}

export function hudLine(s: DrivableSummary, extra = ''): string {
  return `drivable ${s.drivablePct.toFixed(1)}%  ego ${s.egoCorridorPct.toFixed(1)}%${extra ? '  ' + extra : ''}`;
}
