/**
 * Source policies. Lossless (files): the graph pulls each frame when it has room, so decoding runs
 * ahead by at most the graph's in-flight limit. Freshest (live, or --realtime files): a pump reads
 * at the source's own pace into a one-frame slot; a frame not taken before the next arrives is
 * dropped (its image released) and counted.
 */
import { LatestSlot } from '../core/latest.js';
import { isStale, type Frame, type StaleTick, type StreamInfo } from '../core/frame.js';
import type { FrameSource } from '../core/source.js';
import type { RunStats } from './stats.js';

/** How the graph takes one source's frames: worked out once (`sourcePolicy`), carried on the pipeline handle. */
export interface SourcePolicy {
  /** lossless: every frame, pulled when the graph has room; freshest: the newest, older ones dropped. */
  mode: 'lossless' | 'freshest';
  /** Frames of this source decoded and not yet through the graph, at most. */
  inFlight: number;
  /** A freshest-frame file or image folder is read at its own frame rate (a camera paces itself). */
  paced: boolean;
}

/** The one rule: freshest when asked (`live`) or when the source is live; in flight by mode. */
export function sourcePolicy(info: StreamInfo, live: boolean | undefined, inFlight: (mode: SourcePolicy['mode']) => number): SourcePolicy {
  const mode = (live ?? info.live) ? 'freshest' : 'lossless';
  return { mode, inFlight: inFlight(mode), paced: info.kind === 'file' || info.kind === 'images' };
}

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
