import { labelMap, heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { cv, type Mat } from '../util/cv.js';

/** A label map as a single-channel 8-bit Mat (shares no memory with the map). */
export function matToLabels(mat: Mat): LabelMap {
  const bytes = mat.getData();
  return labelMap(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), mat.rows, mat.cols);
}
