import { cv, type Mat } from '../util/cv.js';
import { heightOf, labelMap, widthOf, type LabelMap } from './labelmap.js';

/** A label map as a single-channel 8-bit Mat (shares no memory with the map). */
export function labelsToMat(labels: LabelMap): Mat {
  return new cv.Mat(Buffer.from(labels.data.buffer, labels.data.byteOffset, labels.data.byteLength), heightOf(labels), widthOf(labels), cv.CV_8UC1);
}

export function matToLabels(mat: Mat): LabelMap {
  const bytes = mat.getData();
  return labelMap(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), mat.rows, mat.cols);
}

/** The label map at another size (nearest neighbour: class ids are not blended). */
export function resizeLabels(labels: LabelMap, width: number, height: number): LabelMap {
  if (widthOf(labels) === width && heightOf(labels) === height) return labels;
  const mat = labelsToMat(labels);
  const resized = mat.resize(height, width, 0, 0, cv.INTER_NEAREST);
  const out = matToLabels(resized);
  mat.release();
  resized.release();
  return out;
}
