/**
 * The one label-map resampler: analysis, the websocket class map, still images and evaluation all
 * sample label maps through `sampleLabels`, so every consumer sees the same pixels.
 */
import { heightOf, labelMap, widthOf, type LabelMap } from '../core/labelmap.js';

/**
 * Nearest neighbour (class ids are never blended): output pixel (x, y) takes the source pixel
 * (floor(x * scaleX), floor(y * scaleY)), as OpenCV's INTER_NEAREST does.
 */
export function sampleLabels(map: LabelMap, width: number, height: number, scaleX = widthOf(map) / width, scaleY = heightOf(map) / height): LabelMap {
  const w = widthOf(map);
  const h = heightOf(map);
  if (width === w && height === h) return map;
  const cols = new Int32Array(width);
  for (let x = 0; x < width; x++) cols[x] = Math.min(w - 1, Math.floor(x * scaleX));
  const out = new Uint8Array(width * height);
  const src = map.data;
  for (let y = 0, o = 0; y < height; y++) {
    const row = Math.min(h - 1, Math.floor(y * scaleY)) * w;
    for (let x = 0; x < width; x++) out[o++] = src[row + cols[x]!]!;
  }
  return labelMap(out, height, width);
}

/** Every `factor`-th pixel of every `factor`-th row. Factor 1 returns the map itself. */
export function downsampleLabels(map: LabelMap, factor: number): LabelMap {
  if (factor <= 1) return map;
  return sampleLabels(map, Math.ceil(widthOf(map) / factor), Math.ceil(heightOf(map) / factor), factor, factor);
}
