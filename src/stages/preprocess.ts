import ndarray from 'ndarray';
import { cv, type Mat } from '../util/cv.js';
import type { InputTensor } from '../engine/engine.js';
import type { InputSize } from './input-size.js';

/** Any decoded image (grey, BGR, BGRA) as 3-channel BGR, OpenCV's native order. */
export function toBgr(image: Mat): Mat {
  switch (image.channels) {
    case 3:
      return image;
    case 1:
      return image.cvtColor(cv.COLOR_GRAY2BGR);
    case 4:
      return image.cvtColor(cv.COLOR_BGRA2BGR);
    default:
      throw new RangeError(`images with ${image.channels} channels are not supported`);
  }
}

/** Resize a BGR frame to the model's input size and pack it NHWC in the model's colour order. */
export function packInput(bgr: Mat, size: InputSize, colorOrder: 'RGB' | 'BGR'): InputTensor {
  const resized = bgr.cols === size.width && bgr.rows === size.height ? bgr : bgr.resize(size.height, size.width, 0, 0, cv.INTER_LINEAR);
  const ordered = colorOrder === 'RGB' ? resized.cvtColor(cv.COLOR_BGR2RGB) : resized;
  const bytes = ordered.getData();
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return ndarray(data, [1, size.height, size.width, 3]);
}
