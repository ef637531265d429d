import { cv, type Mat } from '../util/cv.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { colorize, paintMask, type Rgb } from './palette.js';
import { releaseIntermediates } from './preprocess.js';

export interface OverlayStyle {
  /** Weight of the class colours, 0 (image only) .. 1 (colours only). */
  opacity: number;
  /** Colour of the road edges; none drawn when undefined. */
  edgeColor?: Rgb;
}

export const defaultOverlayStyle: OverlayStyle = { opacity: 0.45, edgeColor: [255, 255, 0] };

/**
 * The frame with class colours blended over it, road edges drawn, and a HUD line on a dark band.
 * Colours are computed at the label map's size and scaled to the frame (nearest).
 */
export function renderOverlay(bgr: Mat, labels: LabelMap, lut: Uint8Array, style: OverlayStyle, edgeMask?: Uint8Array, hud?: string): Mat {
  const colours = colorize(labels, lut);
  if (edgeMask && style.edgeColor) paintMask(colours, edgeMask, style.edgeColor);
  const colourMat = new cv.Mat(Buffer.from(colours.buffer, colours.byteOffset, colours.byteLength), heightOf(labels), widthOf(labels), cv.CV_8UC3);
  const scaled = colourMat.cols !== bgr.cols || colourMat.rows !== bgr.rows ? colourMat.resize(bgr.rows, bgr.cols, 0, 0, cv.INTER_NEAREST) : colourMat;
  const out = bgr.addWeighted(1 - style.opacity, scaled, style.opacity, 0);
  releaseIntermediates(bgr, colourMat, scaled);
  if (hud) drawHud(out, hud);
  return out;
}

export function drawHud(image: Mat, text: string): void {
  const scale = Math.max(0.4, Math.min(1.2, image.cols / 1400));
  const band = Math.round(30 * scale) + 6;
  image.drawRectangle(new cv.Point2(0, 0), new cv.Point2(image.cols - 1, band), new cv.Vec3(0, 0, 0), cv.FILLED);
  image.putText(text, new cv.Point2(8, band - Math.round(9 * scale) - 2), cv.FONT_HERSHEY_SIMPLEX, scale, new cv.Vec3(255, 255, 255), Math.max(1, Math.round(scale * 2)), cv.LINE_AA);
}
