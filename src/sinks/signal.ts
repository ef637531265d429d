/**
 * The drivable-area signal as JSON lines: every frame, flushed per line, never blocking the graph.
 * A file gets a synchronous write per line (microseconds; nothing is lost on a crash); it is
 * created at the first line, so a run that produces nothing leaves no empty file behind (its
 * path was checked before the model loaded, by src/app/outputs.ts). Standard output may be a pipe
 * to a slow reader: lines are handed over asynchronously and, if the reader lags by more than
 * `maxBacklog` bytes, dropped and counted rather than buffered without limit. A reader that goes
 * away (`| head -1`) ends this sink quietly: the lines it did not get are counted, the other sinks
 * carry on.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { signalJson, type SignalMessage } from '../core/signal.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';

export interface SignalSinkOptions {
  /** Called once when the reader of standard output went away, with the lines it got. */
  onReaderGone?: (lines: number) => void;
  /** Bytes standard output may lag behind before lines are dropped. */
  maxBacklog?: number;
}

export class SignalSink implements Sink {
  readonly name: string;
  readonly policy = 'every' as const;
  lines = 0;
  dropped = 0;
  /** Lines not sent because the reader of standard output went away. */
  notSent = 0;
  private fd: number | undefined;
  private readerGone = false;
  private closed = false;
  private readonly toStdout: boolean;
  private readonly maxBacklog: number;

  constructor(readonly target: string, private readonly opts: SignalSinkOptions = {}) {
    this.toStdout = target === '-';
    this.name = this.toStdout ? 'signal stdout' : `signal ${target}`;
    this.maxBacklog = opts.maxBacklog ?? 4 * 1024 * 1024;
    if (this.toStdout) process.stdout.on('error', this.onStdoutError);
  }

  open(_ctx: PipelineContext): void {}

  write(frame: ProcessedFrame): void {
    this.writeSignal(frame.signal);
  }

  writeSignal(message: SignalMessage): void {
    if (this.closed) return;
    const line = signalJson(message) + '\n';
    if (this.toStdout) {
      if (this.readerGone) {
        this.notSent++;
        return;
      }
      if (process.stdout.writableLength > this.maxBacklog) {
        this.dropped++;
        return;
      }
      process.stdout.write(line);
    } else {
      try {
        this.fd ??= openSync(this.target, 'w');
        writeSync(this.fd, line);
      } catch (e) {
        throw new RoadsegError(`writing the signal to ${this.target} failed: ${messageOf(e)}`, { where: resolve(this.target), hint: 'choose a writable location for --signal', exitCode: ExitCode.output });
      }
    }
    this.lines++;
  }

  stats(): Record<string, number> {
    return { lines: this.lines, dropped: this.dropped, ...(this.readerGone && { notSent: this.notSent }) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    // Keeps swallowing a late EPIPE of lines already handed over.
    if (this.toStdout && !this.readerGone) process.stdout.off('error', this.onStdoutError);
  }

  private readonly onStdoutError = (e: NodeJS.ErrnoException): void => {
    if (this.readerGone) return;
    this.readerGone = true;
    if (e.code !== 'EPIPE') process.stderr.write(`roadseg: standard output failed (${messageOf(e)}): the signal on stdout ends here\n`);
    this.opts.onReaderGone?.(this.lines);
  };
}
