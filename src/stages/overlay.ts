import { cv, type Mat } from '../util/cv.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { drivableTint, laneColour } from '../core/model.js';
import { colorize, paintMask, type Rgb } from './palette.js';
import { releaseIntermediates } from './preprocess.js';

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

export const defaultOverlayStyle: OverlayStyle = { opacity: 0.45, edgeColor: [255, 255, 0], drivableColor: drivableTint, laneColor: laneColour };

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
export function renderOverlay(bgr: Mat, labels: LabelMap, lut: Uint8Array, style: OverlayStyle, masks: OverlayMasks = {}, hud?: string): Mat {
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
  if (hud) drawHud(out, hud);
  return out;
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
