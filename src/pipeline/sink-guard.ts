/**
 * The one place that guards writes to a sink: the graph talks to every sink through this. After
 * `close` begins nothing more reaches the sink (a frame or stale tick still in flight when the run
 * is aborted is dropped, never written to a closed file or redirected elsewhere), `close` waits for
 * the write in progress (a video encoder must not be released under a running write), and runs
 * once.
 */
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import type { SignalMessage } from '../core/signal.js';

export class GuardedSink implements Sink {
  readonly name: string;
  readonly policy: Sink['policy'];
  readonly writeSignal?: (message: SignalMessage) => void;
  private closing: Promise<void> | undefined;
  private inProgress: Promise<void> | undefined;

  constructor(readonly sink: Sink) {
    this.name = sink.name;
    this.policy = sink.policy;
    if (sink.writeSignal) {
      this.writeSignal = (message) => {
        if (!this.closing) sink.writeSignal!(message);
      };
    }
  }

  open(ctx: PipelineContext): Promise<void> | void {
    return this.sink.open(ctx);
  }

  write(frame: ProcessedFrame): Promise<void> | void {
    if (this.closing) return;
    const r = this.sink.write(frame);
    if (!(r instanceof Promise)) return;
    const tracked = r.finally(() => {
      if (this.inProgress === tracked) this.inProgress = undefined;
    });
    this.inProgress = tracked;
    return tracked;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.inProgress?.catch(() => {});
      await this.sink.close();
    })();
    return this.closing;
  }

  stats(): Record<string, number | string> {
    return this.sink.stats?.() ?? {};
  }
}
