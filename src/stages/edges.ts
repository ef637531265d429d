/**
 * Road edges, as the seed design finds them: Sobel on the 0/1 road mask, edge where the gradient
 * magnitude exceeds a threshold. On a 0/1 mask the gradient is non-zero exactly on the two pixel
 * columns either side of a road/non-road transition.
 */
import type { RoadEdges } from '../core/analysis.js';

export function sobelEdges(mask: Uint8Array, width: number, height: number, threshold = 0.1, out = new Uint8Array(mask.length)): Uint8Array {
  const t2 = threshold * threshold;
  for (let y = 0; y < height; y++) {
    // Replicated border, as scipy's and OpenCV's defaults.
    const r0 = Math.max(0, y - 1) * width;
    const r1 = y * width;
    const r2 = Math.min(height - 1, y + 1) * width;
    for (let x = 0; x < width; x++) {
      const xl = x > 0 ? x - 1 : 0;
      const xr = x < width - 1 ? x + 1 : x;
      const a = mask[r0 + xl]!, b = mask[r0 + x]!, c = mask[r0 + xr]!;
      const d = mask[r1 + xl]!, f = mask[r1 + xr]!;
      const g = mask[r2 + xl]!, h = mask[r2 + x]!, i = mask[r2 + xr]!;
      const gx = c + 2 * f + i - (a + 2 * d + g);
      const gy = g + 2 * h + i - (a + 2 * b + c);
      out[r1 + x] = gx * gx + gy * gy > t2 ? 1 : 0;
    }
  }
  return out;
}

/** Left and right boundaries of the road ahead in every row (see RoadEdges). */
export function rowBoundaries(mask: Uint8Array, width: number, height: number, centerX: number): { left: Int32Array; right: Int32Array } {
  const left = new Int32Array(height).fill(-1);
  const right = new Int32Array(height).fill(-1);
  const cx = Math.min(width - 1, Math.max(0, Math.round(centerX * width)));
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let start = -1;
    let end = -1;
    if (mask[row + cx]) {
      start = cx;
      while (start > 0 && mask[row + start - 1]) start--;
      end = cx;
      while (end < width - 1 && mask[row + end + 1]) end++;
    } else {
      for (let x = 0; x < width; ) {
        if (!mask[row + x]) { x++; continue; }
        let e = x;
        while (e < width - 1 && mask[row + e + 1]) e++;
        if (e - x > end - start) { start = x; end = e; }
        x = e + 1;
      }
    }
    if (start < 0) continue;
    if (start > 0) left[y] = start;
    if (end < width - 1) right[y] = end;
  }
  return { left, right };
}

export function roadEdges(mask: Uint8Array, width: number, height: number, centerX: number): RoadEdges {
  return { edgeMask: sobelEdges(mask, width, height), ...rowBoundaries(mask, width, height, centerX) };
}
