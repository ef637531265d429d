/** The label map: the model contract's per-pixel output, shared by the engine, stages and sinks. */
import ndarray from 'ndarray';

/** One class id (trainId) per pixel, shape [height, width], row-major. */
export type LabelMap = ndarray.NdArray<Uint8Array>;

export function labelMap(data: Uint8Array, height: number, width: number): LabelMap {
  if (data.length !== height * width) throw new RangeError(`label map: ${data.length} values for ${height}x${width}`);
  return ndarray(data, [height, width]);
}

export function heightOf(map: LabelMap): number {
  return map.shape[0]!;
}

export function widthOf(map: LabelMap): number {
  return map.shape[1]!;
}
