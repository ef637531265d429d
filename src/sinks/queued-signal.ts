/**
 * What the broker sinks (MQTT, Redis Streams) share: every frame's signal as its JSONL text, into
 * a bounded send queue (util/broker.ts) that never blocks the pipeline, and their counters. A
 * subclass connects (open), sends one message (send) and finalises (close).
 *
 * Two kinds of trouble are told apart: an outage (the broker down, slow or restarting) is retried
 * and costs counted messages; a refusal retrying cannot mend (credentials refused, a database that
 * does not exist) stops the run with a clear error (`refuse`). A message the broker turns down
 * (a key of the wrong type) is counted as dropped and its reason logged once.
 */
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import { signalJson, type SignalMessage } from '../core/signal.js';
import { SendQueue, throttledLog, type SendQueueOptions } from '../util/broker.js';
import type { RoadsegError } from '../util/errors.js';

export abstract class QueuedSignalSink implements Sink {
  abstract readonly name: string;
  readonly policy = 'every' as const;
  reconnects = 0;
  protected readonly queue: SendQueue<string>;
  /** Connection troubles, at most one line per 10 s. */
  protected readonly warn: (line: string) => void;
  /** Why the broker refused this sink for good: thrown by the next write. */
  protected refused: RoadsegError | undefined;
  private readonly reasonsLogged = new Set<string>();

  constructor(
    queue: SendQueueOptions,
    private readonly log: (line: string) => void,
  ) {
    this.queue = new SendQueue(
      (payload) =>
        this.send(payload).catch((e: unknown) => {
          this.noteFailedSend(e);
          throw e;
        }),
      queue,
    );
    this.warn = throttledLog(log);
  }

  /** Sends one message (the JSONL line of a signal) to the broker. */
  protected abstract send(payload: string): Promise<void>;
  /**
   * Why the broker turned a message down, when it did (not a lost connection, which `warn` reports):
   * a line for people, the same for every message that fails the same way.
   */
  protected abstract dropReason(error: unknown): string | undefined;
  abstract open(ctx: PipelineContext): void | Promise<void>;
  abstract close(): Promise<void>;

  write(frame: ProcessedFrame): void {
    this.writeSignal(frame.signal);
  }

  writeSignal(message: SignalMessage): void {
    if (this.refused) throw this.refused;
    this.queue.push(signalJson(message));
  }

  stats(): Record<string, number> {
    return { ...this.queue.counters(), reconnects: this.reconnects };
  }

  /** A refusal that retrying cannot mend: nothing more is sent, and the run stops with `error`. */
  protected refuse(error: RoadsegError): void {
    this.refused ??= error;
    this.queue.setReady(false);
  }

  private noteFailedSend(e: unknown): void {
    const reason = this.dropReason(e);
    if (reason === undefined || this.reasonsLogged.has(reason)) return;
    this.reasonsLogged.add(reason);
    this.log(`${this.name}: signal messages dropped: ${reason} (said once; each one is counted as dropped)`);
  }
}
