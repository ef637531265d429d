import { labelMap, type LabelMap } from '../core/labelmap.js';
import type { Mat } from '../util/cv.js';

/** A single-channel 8-bit Mat (a label image) as a label map; shares no memory with the Mat. */
export function matToLabels(mat: Mat): LabelMap {
  const bytes = mat.getData();
  return labelMap(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), mat.rows, mat.cols);
}
