/**
 * The Mats' native memory, released now rather than at the next garbage collection: V8 does not
 * see its size, so it would pile up, and fresh memory for every frame costs a page fault per 4 KiB
 * (releasing made resize + convert + copy of a 1280x720 frame 7x faster here). Pure (no OpenCV
 * loaded), so the graph and its unit tier use it too.
 */
import type { Mat } from './cv.js';

/** Each distinct Mat released once (a step may pass its input on as its output), except `keep`. */
export function releaseMats(mats: readonly Mat[], keep?: Mat): void {
  for (const m of new Set(mats)) if (m !== keep) m.release();
}

/** The Mats made on the way to `keep`, released. */
export function releaseIntermediates(keep: Mat, ...mats: Mat[]): void {
  releaseMats(mats, keep);
}
