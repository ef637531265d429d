/**
 * Drives a `latest`-policy sink: the graph offers each frame without waiting; a sink still busy
 * gets only the newest frame when it is free, and every frame it skipped is counted. The slot
 * holds a reference to the frame it keeps, so a skipped frame's Mats are freed at once.
 */
import { LatestSlot } from '../core/latest.js';
import type { ProcessedFrame, Sink } from '../core/sink.js';

interface Held {
  frame: ProcessedFrame;
  release: () => void;
}

export class LatestSinkDriver {
  private readonly slot: LatestSlot<Held>;
  private busy: Promise<void> | undefined;
  private failure: unknown;

  constructor(readonly sink: Sink, onSkip: (sinkName: string) => void) {
    this.slot = new LatestSlot<Held>((dropped) => {
      dropped.release();
      onSkip(sink.name);
    });
  }

  get skipped(): number {
    return this.slot.overwritten;
  }

  /** Never waits; rethrows an earlier failure of the sink. */
  offer(frame: ProcessedFrame): void {
    if (this.failure) throw this.failure;
    this.sink.writeSignal?.(frame.signal);
    this.slot.put({ frame, release: frame.retain() });
    this.busy ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      for (let held = this.slot.take(); held; held = this.slot.take()) {
        try {
          await this.sink.write(held.frame);
        } finally {
          held.release();
        }
      }
    } catch (e) {
      this.failure = e;
      this.slot.take()?.release();
    } finally {
      this.busy = undefined;
    }
  }

  /** Waits for the frame being written, if any (before closing the sink). */
  async settle(): Promise<void> {
    await this.busy;
    if (this.failure) throw this.failure;
  }
}
