import ndarray from 'ndarray';

/** A label map: one class id (trainId) per pixel, shape [height, width], row-major. */
export type LabelMap = ndarray.NdArray<Uint8Array>;

export function labelMap(data: Uint8Array, height: number, width: number): LabelMap {
  if (data.length !== height * width) throw new RangeError(`label map: ${data.length} values for ${height}x${width}`);
  return ndarray(data, [height, width]);
}

/**
 * Every `factor`-th pixel of every `factor`-th row (nearest neighbour; class ids are not blended).
 * Factor 1 returns the map itself.
 */
export function downsampleLabels(map: LabelMap, factor: number): LabelMap {
  if (factor <= 1) return map;
  const h = heightOf(map);
  const w = widthOf(map);
  const oh = Math.ceil(h / factor);
  const ow = Math.ceil(w / factor);
  const out = new Uint8Array(oh * ow);
  const src = map.data;
  for (let y = 0, o = 0; y < oh; y++) {
    const row = y * factor * w;
    for (let x = 0; x < ow; x++) out[o++] = src[row + x * factor]!;
  }
  return labelMap(out, oh, ow);
}

export function heightOf(map: LabelMap): number {
  return map.shape[0]!;
}

export function widthOf(map: LabelMap): number {
  return map.shape[1]!;
}
