import { cv, type Mat } from '../util/cv.js';
import { releaseIntermediates } from '../util/mats.js';
import type { EdgeSample, EgoCorridor, Hood } from '../core/analysis.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { drivableTint, laneColour, overlayOpacity } from '../core/model.js';
import { colorize, paintMask, type Rgb } from './palette.js';

export interface OverlayStyle {
  /** Weight of the class colours, 0 (image only) .. 1 (colours only). */
  opacity: number;
  /** Colour of the road edges; none drawn when undefined. */
  edgeColor?: Rgb;
  /** Tint of the area a drivable head found, over the class colours. */
  drivableColor: Rgb;
  /** Colour of lane lines. */
  laneColor: Rgb;
}

export const defaultOverlayStyle: OverlayStyle = { opacity: overlayOpacity, edgeColor: [255, 255, 0], drivableColor: drivableTint, laneColor: laneColour };

/** 0/1 masks at the label map's size, painted over the class colours. */
export interface OverlayMasks {
  drivable?: Uint8Array;
  lanes?: Uint8Array;
  edges?: Uint8Array;
}

/**
 * The frame with class colours blended over it, the drivable head's area tinted, lane lines and
 * road edges drawn, and a HUD line on a dark band. Colours are computed at the label map's size
 * and scaled to the frame (nearest). Void pixels (255) nothing was painted on keep the image as
 * it is (a model with only binary heads colours only its areas).
 */
export function renderOverlay(bgr: Mat, labels: LabelMap, lut: Uint8Array, style: OverlayStyle, masks: OverlayMasks = {}, hud?: string, marks?: SignalMarks): Mat {
  const colours = colorize(labels, lut);
  if (masks.drivable) paintMask(colours, masks.drivable, style.drivableColor);
  if (masks.edges && style.edgeColor) paintMask(colours, masks.edges, style.edgeColor);
  // Lines last: they often run along the drivable area's edge.
  if (masks.lanes) paintMask(colours, masks.lanes, style.laneColor);
  const h = heightOf(labels);
  const w = widthOf(labels);
  const colourMat = new cv.Mat(Buffer.from(colours.buffer, colours.byteOffset, colours.byteLength), h, w, cv.CV_8UC3);
  const toFrame = (m: Mat) => (m.cols !== bgr.cols || m.rows !== bgr.rows ? m.resize(bgr.rows, bgr.cols, 0, 0, cv.INTER_NEAREST) : m);
  const scaled = toFrame(colourMat);
  const out = bgr.addWeighted(1 - style.opacity, scaled, style.opacity, 0);
  releaseIntermediates(bgr, colourMat, scaled);
  const keep = unpainted(labels, masks);
  if (keep) {
    const keepMat = new cv.Mat(Buffer.from(keep.buffer), h, w, cv.CV_8UC1);
    const keepScaled = toFrame(keepMat);
    bgr.copyTo(out, keepScaled);
    releaseIntermediates(bgr, keepMat, keepScaled);
  }
  if (marks) drawSignalMarks(out, marks, style);
  if (hud) drawHud(out, hud);
  return out;
}

/** What the signal reports, drawn over the overlay: all positions in fractions of the image size. */
export interface SignalMarks {
  corridor: EgoCorridor;
  hood: Hood;
  freeSpace: readonly number[];
  roadEdges: readonly EdgeSample[];
  /** Classes present, with their colours, for the legend. */
  legend: readonly { name: string; color: Rgb }[];
}

const bgrOf = ([r, g, b]: Rgb) => new cv.Vec3(b, g, r);
const white: Rgb = [255, 255, 255];
const hoodColor: Rgb = [255, 0, 255];
const freeSpaceColor: Rgb = [0, 255, 0];

/**
 * The ego corridor outline (cut at the hood line), the hood line, the free-space curve, a marker
 * where each reported road edge lies on its row, and a legend of the classes present.
 */
export function drawSignalMarks(image: Mat, m: SignalMarks, style: OverlayStyle): void {
  const w = image.cols;
  const h = image.rows;
  const at = (x: number, y: number) => new cv.Point2(Math.round(x * (w - 1)), Math.round(y * (h - 1)));
  const thick = Math.max(1, Math.round(w / 640));
  const c = m.corridor;
  const bottom = Math.max(c.topY, Math.min(c.bottomY, m.hood.y));
  const widthAt = (y: number) => c.topWidth + ((c.bottomWidth - c.topWidth) * (y - c.topY)) / Math.max(1e-6, c.bottomY - c.topY);
  const corridor = [at(c.centerX - c.topWidth / 2, c.topY), at(c.centerX + c.topWidth / 2, c.topY), at(c.centerX + widthAt(bottom) / 2, bottom), at(c.centerX - widthAt(bottom) / 2, bottom)];
  image.drawPolylines([corridor], true, bgrOf(white), thick, cv.LINE_AA);
  if (m.hood.y < 1) {
    const { edge } = m.hood;
    const hood = edge.length === 1 ? [at(0, edge[0]!), at(1, edge[0]!)] : Array.from(edge, (y, i) => at((i + 0.5) / edge.length, y));
    image.drawPolylines([hood], false, bgrOf(hoodColor), thick * 2, cv.LINE_AA);
  }
  if (m.freeSpace.length) {
    const k = m.freeSpace.length;
    image.drawPolylines([m.freeSpace.map((y, i) => at((i + 0.5) / k, y))], false, bgrOf(freeSpaceColor), thick * 2, cv.LINE_AA);
  }
  const edgeColor = bgrOf(style.edgeColor ?? white);
  for (const e of m.roadEdges) {
    for (const x of [e.left, e.right]) if (x !== null) image.drawCircle(at(x, e.y), thick * 4, edgeColor, thick, cv.LINE_AA);
  }
  drawLegend(image, m.legend);
}

function drawLegend(image: Mat, legend: SignalMarks['legend']): void {
  const scale = Math.max(0.35, Math.min(0.8, image.cols / 1800));
  const line = Math.round(22 * scale) + 4;
  const box = line - 6;
  const x = image.cols - Math.round(190 * scale) - 8;
  let y = image.rows - line * legend.length - 8;
  if (legend.length) image.drawRectangle(new cv.Point2(x - 4, y - 4), new cv.Point2(image.cols - 1, image.rows - 1), new cv.Vec3(0, 0, 0), cv.FILLED);
  for (const { name, color } of legend) {
    image.drawRectangle(new cv.Point2(x, y), new cv.Point2(x + box, y + box), bgrOf(color), cv.FILLED);
    image.putText(name, new cv.Point2(x + box + 6, y + box - 2), cv.FONT_HERSHEY_SIMPLEX, scale, new cv.Vec3(255, 255, 255), 1, cv.LINE_AA);
    y += line;
  }
}

/** 1 where a pixel is void and no mask painted it; undefined when there is none. */
function unpainted(labels: LabelMap, masks: OverlayMasks): Uint8Array | undefined {
  const src = labels.data;
  let out: Uint8Array | undefined;
  for (let i = 0; i < src.length; i++) {
    if (src[i] !== 255 || masks.drivable?.[i] || masks.lanes?.[i] || masks.edges?.[i]) continue;
    out ??= new Uint8Array(src.length);
    out[i] = 1;
  }
  return out;
}

export function drawHud(image: Mat, text: string): void {
  const scale = Math.max(0.4, Math.min(1.2, image.cols / 1400));
  const band = Math.round(30 * scale) + 6;
  image.drawRectangle(new cv.Point2(0, 0), new cv.Point2(image.cols - 1, band), new cv.Vec3(0, 0, 0), cv.FILLED);
  image.putText(text, new cv.Point2(8, band - Math.round(9 * scale) - 2), cv.FONT_HERSHEY_SIMPLEX, scale, new cv.Vec3(255, 255, 255), Math.max(1, Math.round(scale * 2)), cv.LINE_AA);
}
