/**
 * The native memory of one frame, reference counted: the graph holds it while the frame is in a
 * step or a sink; a sink that keeps the frame past its write (a `latest` sink's pending frame)
 * takes its own hold with `retain`. The Mats are released once, when the last holder lets go.
 */
import type { Mat } from '../util/cv.js';
import { releaseMats } from '../util/mats.js';

export interface FrameHold {
  /** Another holder; the function it returns lets go of that hold (a second call does nothing). */
  retain(): () => void;
  /** The graph's own hold let go (called exactly once). */
  letGo(): void;
}

/** A hold on `mats` (the same Mat listed twice is released once), held by the graph. */
export function holdFrame(mats: readonly Mat[]): FrameHold {
  let holders = 1;
  const letGo = () => {
    if (--holders === 0) releaseMats(mats);
  };
  return {
    letGo,
    retain: () => {
      holders++;
      let once = false;
      return () => {
        if (!once) (once = true), letGo();
      };
    },
  };
}
