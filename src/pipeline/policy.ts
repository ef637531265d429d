/**
 * Source policies. Lossless (files): the graph pulls each frame when it has room, so decoding runs
 * ahead by at most the graph's in-flight limit. Freshest (live, or --realtime files): a pump reads
 * at the source's own pace into a one-frame slot; a frame not taken before the next arrives is
 * dropped and counted.
 */
import type { FrameSource } from '../sources/source.js';
import type { Frame, StaleTick } from './types.js';
import type { RunStats } from './stats.js';

export type Pull = () => Promise<Frame | StaleTick | null>;

export function freshestPull(source: FrameSource, stats: RunStats, opts: { paced: boolean }): { pull: Pull; stop: () => void } {
  let slot: Frame | StaleTick | null = null;
  let ended = false;
  let failure: unknown;
  let waiter: (() => void) | undefined;
  let stopped = false;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  const t0 = performance.now();
  let firstPts: number | undefined;

  void (async () => {
    try {
      for (;;) {
        const f = await source.read();
        if (!f || stopped) break;
        if (opts.paced) {
          // A file delivered as a camera would: hold each frame until its presentation time.
          firstPts ??= f.ptsMs;
          const due = t0 + (f.ptsMs - firstPts) - performance.now();
          if (due > 0) await new Promise((r) => setTimeout(r, due));
          f.captureTimeMs = Date.now();
        }
        stats.framesIn++;
        if (slot) stats.drop('pipeline busy (freshest frame kept)');
        slot = f;
        wake();
      }
    } catch (e) {
      failure = e;
    }
    ended = true;
    wake();
  })();

  const pull: Pull = async () => {
    for (;;) {
      if (slot) {
        const f = slot;
        slot = null;
        return f;
      }
      if (failure) throw failure;
      if (ended || stopped) return null;
      await new Promise<void>((r) => (waiter = r));
    }
  };
  return {
    pull,
    stop: () => {
      stopped = true;
      wake();
    },
  };
}
