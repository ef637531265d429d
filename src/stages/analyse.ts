import type { DrivableSummary, EdgeSample, EgoCorridor, FrameAnalysis } from '../core/analysis.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { drivableArea, drivableLut, drivableMask } from './drivable.js';
import { roadEdges } from './edges.js';
import { freeSpace } from './freespace.js';
import type { Hood } from '../core/analysis.js';
import { hoodRows, noHood } from './hood.js';
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
  /** Column bands of the free-space boundary. */
  freeSpaceColumns: number;
}

/** Maps of binary heads (0/1), at their model's input size. */
export interface BinaryMaps {
  /** Where given, the drivable fields come from it instead of the drivable classes of `labels`. */
  drivable?: LabelMap;
  lanes?: LabelMap;
}

const yes = drivableLut([1]);

/** The hood's pixels are left out of every figure; a drivable head, where given, decides what is drivable. */
export function analyse(labels: LabelMap, cfg: AnalysisConfig, lut = drivableLut(cfg.drivableClasses), maps: BinaryMaps = {}, hood: Hood = noHood): FrameAnalysis {
  const width = widthOf(labels);
  const height = heightOf(labels);
  const source = maps.drivable ? sampleLabels(maps.drivable, width, height) : labels;
  const sourceLut = maps.drivable ? yes : lut;
  const mask = drivableMask(source, sourceLut);
  const hoodTop = hoodRows(hood, width, height);
  for (let x = 0; x < width; x++) for (let y = hoodTop[x]!; y < height; y++) mask[y * width + x] = 0;
  const area = drivableArea(source, cfg.corridor, sourceLut, hoodTop);
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
    ...(a.lanes && { lanes: a.lanes }),
    histogram: histogramFractions(a.histogram, cfg.classNames),
    hoodY: round(a.hood.y, 4),
    freeSpace: a.freeSpace,
    confidence: judged.confidence === null ? null : round(judged.confidence, 3),
    camera: judged.camera,
    status: judged.status,
  };
}

export function hudLine(s: DrivableSummary, extra = ''): string {
  const state = s.status === 'ok' ? '' : `  ${s.status === 'camera-fault' ? `camera ${s.camera.condition}` : s.status}`;
  return `drivable ${s.drivablePct.toFixed(1)}%  ego ${s.egoCorridorPct.toFixed(1)}%  ${s.confidence === null ? '' : `conf ${s.confidence.toFixed(2)}`}${state}${extra ? '  ' + extra : ''}`;
}
