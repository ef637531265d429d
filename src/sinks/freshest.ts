/**
 * The freshest-frame policy for sinks that must never slow the graph (window, websocket): the
 * graph offers each frame without waiting; a sink still busy with an earlier frame gets only the
 * newest one when it is free, and every frame it skipped is counted.
 */
import type { ProcessedFrame, Sink } from '../pipeline/types.js';

export class FreshestSlot {
  private pending: ProcessedFrame | undefined;
  private busy: Promise<void> | undefined;
  private failure: unknown;
  skipped = 0;

  constructor(private readonly sink: Sink, private readonly onSkip: (sinkName: string) => void) {}

  /** Never waits; rethrows an earlier failure of the sink. */
  offer(frame: ProcessedFrame): void {
    if (this.failure) throw this.failure;
    if (this.pending) {
      this.skipped++;
      this.onSkip(this.sink.name);
    }
    this.pending = frame;
    this.busy ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending) {
        const f = this.pending;
        this.pending = undefined;
        await this.sink.write(f);
      }
    } catch (e) {
      this.failure = e;
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
