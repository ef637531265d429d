import ndarray from 'ndarray';
import { cv, type Mat } from '../util/cv.js';
import { releaseIntermediates } from '../util/mats.js';
import type { InputTensor } from '../core/model.js';
import type { InputSize } from '../core/input-size.js';

/**
 * Any decoded image (grey, BGR, BGRA) as 3-channel BGR, OpenCV's native order. A converted input
 * is released: callers keep only the returned Mat.
 */
export function toBgr(image: Mat): Mat {
  if (image.channels === 3) return image;
  if (image.channels !== 1 && image.channels !== 4) throw new RangeError(`images with ${image.channels} channels are not supported`);
  const bgr = image.cvtColor(image.channels === 1 ? cv.COLOR_GRAY2BGR : cv.COLOR_BGRA2BGR);
  image.release();
  return bgr;
}

/** Resize a BGR frame to the model's input size and pack it NHWC in the model's colour order. */
export function packInput(bgr: Mat, size: InputSize, colorOrder: 'RGB' | 'BGR'): InputTensor {
  const resized = bgr.cols === size.width && bgr.rows === size.height ? bgr : bgr.resize(size.height, size.width, 0, 0, cv.INTER_LINEAR);
  const ordered = colorOrder === 'RGB' ? resized.cvtColor(cv.COLOR_BGR2RGB) : resized;
  const bytes = ordered.getData();
  releaseIntermediates(bgr, resized, ordered);
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return ndarray(data, [1, size.height, size.width, 3]);
}

/** A small grey copy of a BGR frame (area-averaged to `width` columns), for camera health and the hood. */
export function greyThumbnail(bgr: Mat, width = 320): { grey: Uint8Array; width: number; height: number } {
  const height = Math.max(1, Math.round((bgr.rows * width) / bgr.cols));
  const small = bgr.resize(height, width, 0, 0, cv.INTER_AREA);
  const grey = small.cvtColor(cv.COLOR_BGR2GRAY);
  const bytes = grey.getData();
  releaseIntermediates(bgr, small, grey);
  return { grey: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), width, height };
}
