/**
 * Source policies. Lossless (files): the graph pulls each frame when it has room, so decoding runs
 * ahead by at most the graph's in-flight limit. Freshest (live, or --realtime files): a pump reads
 * at the source's own pace into a one-frame slot; a frame not taken before the next arrives is
 * dropped (its image released) and counted.
 */
import { LatestSlot } from '../core/latest.js';
import { isStale, type Frame, type StaleTick } from '../core/frame.js';
import type { FrameSource } from '../core/source.js';
import type { RunStats } from './stats.js';

export type Pull = () => Promise<Frame | StaleTick | null>;

export function losslessPull(source: FrameSource, stats: RunStats): Pull {
  return async () => {
    const f = await source.read();
    if (f && !isStale(f)) stats.frameIn();
    return f;
  };
}

export function freshestPull(source: FrameSource, stats: RunStats, opts: { paced: boolean }): { pull: Pull; stop: () => void } {
  const slot = new LatestSlot<Frame | StaleTick>((dropped) => {
    if (!isStale(dropped)) dropped.image.release();
    stats.drop('pipeline busy (freshest frame kept)');
  });
  let failure: unknown;
  let stopped = false;
  const t0 = performance.now();
  let firstPts: number | undefined;

  void (async () => {
    try {
      for (;;) {
        const f = await source.read();
        if (!f || stopped) {
          if (f && !isStale(f)) f.image.release();
          break;
        }
        if (opts.paced) {
          // A file delivered as a camera would: hold each frame until its presentation time.
          firstPts ??= f.ptsMs;
          const due = t0 + (f.ptsMs - firstPts) - performance.now();
          if (due > 0) await new Promise((r) => setTimeout(r, due));
          f.captureTimeMs = Date.now();
        }
        if (!isStale(f)) stats.frameIn();
        slot.put(f);
      }
    } catch (e) {
      failure = e;
    }
    slot.close();
  })();

  const pull: Pull = async () => {
    const f = await slot.next();
    if (f) return f;
    if (failure) throw failure;
    return null;
  };
  return {
    pull,
    stop: () => {
      stopped = true;
      slot.close();
      // The graph takes no more frames: the one waiting is released here.
      const left = slot.take();
      if (left && !isStale(left)) left.image.release();
    },
  };
}
