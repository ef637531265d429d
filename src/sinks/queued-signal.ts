/**
 * What the broker sinks (MQTT, Redis Streams) share: every frame's signal as its JSONL text, into
 * a bounded send queue (util/broker.ts) that never blocks the pipeline, and their counters. A
 * subclass connects (open), sends one message (send) and finalises (close).
 */
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import { signalJson, type SignalMessage } from '../core/signal.js';
import { SendQueue, throttledLog, type SendQueueOptions } from '../util/broker.js';

export abstract class QueuedSignalSink implements Sink {
  abstract readonly name: string;
  readonly policy = 'every' as const;
  reconnects = 0;
  protected readonly queue: SendQueue<string>;
  /** Connection troubles, at most one line per 10 s. */
  protected readonly warn: (line: string) => void;

  constructor(queue: SendQueueOptions, log: (line: string) => void) {
    this.queue = new SendQueue((payload) => this.send(payload), queue);
    this.warn = throttledLog(log);
  }

  /** Sends one message (the JSONL line of a signal) to the broker. */
  protected abstract send(payload: string): Promise<void>;
  abstract open(ctx: PipelineContext): void | Promise<void>;
  abstract close(): Promise<void>;

  write(frame: ProcessedFrame): void {
    this.writeSignal(frame.signal);
  }

  writeSignal(message: SignalMessage): void {
    this.queue.push(signalJson(message));
  }

  stats(): Record<string, number> {
    return { ...this.queue.counters(), reconnects: this.reconnects };
  }
}
