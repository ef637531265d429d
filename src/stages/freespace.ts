/**
 * Free space per image column: how far up the drivable surface reaches, continuously, from the
 * hood line (or the bottom of the image) - the boundary a planner can drive up to.
 */

/**
 * For `columns` equal bands of the image, at each band's centre column: the top of the run of
 * drivable pixels that starts just above the hood, as a fraction of the height (0 = top). The run
 * may start up to `maxGap` of the height above the hood line (a drivable head's mask often stops a
 * few rows short of the bonnet); equal to the hood line where it does not (no free space).
 */
export function freeSpace(mask: Uint8Array, width: number, height: number, hoodTop: Int32Array, columns: number, maxGap = 0.1): number[] {
  const out: number[] = [];
  const gapRows = Math.round(maxGap * height);
  for (let k = 0; k < columns; k++) {
    const x = Math.min(width - 1, Math.floor(((k + 0.5) * width) / columns));
    const hood = hoodTop[x]!;
    let y = hood - 1;
    while (y >= 0 && y >= hood - gapRows && !mask[y * width + x]) y--;
    if (y < 0 || !mask[y * width + x]) {
      out.push(Math.round((hood / height) * 10000) / 10000);
      continue;
    }
    while (y >= 0 && mask[y * width + x]) y--;
    out.push(Math.round(((y + 1) / height) * 10000) / 10000);
  }
  return out;
}
