/**
 * The drivable-area signal as JSON lines: every frame, flushed per line, never blocking the graph.
 * A file gets a synchronous write per line (microseconds; nothing is lost on a crash). Standard
 * output may be a pipe to a slow reader: lines are handed over asynchronously and, if the reader
 * lags by more than `maxBacklog` bytes, dropped and counted rather than buffered without limit.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { ensureOutputDir } from '../util/output.js';
import type { SignalMessage } from '../core/signal.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';

export class SignalSink implements Sink {
  readonly name: string;
  readonly policy = 'every' as const;
  lines = 0;
  dropped = 0;
  private fd: number | undefined;

  constructor(readonly target: string, private readonly maxBacklog = 4 * 1024 * 1024) {
    this.name = target === '-' ? 'signal stdout' : `signal ${target}`;
    if (target === '-') return;
    // Opened here, so a bad path fails before the model loads.
    ensureOutputDir(target);
    try {
      this.fd = openSync(target, 'w');
    } catch (e) {
      throw new RoadsegError(`cannot write the signal file ${this.target}: ${messageOf(e)}`, { where: resolve(this.target), hint: 'choose a writable location for --signal', exitCode: ExitCode.output });
    }
  }

  open(_ctx: PipelineContext): void {}

  write(frame: ProcessedFrame): void {
    this.writeSignal(frame.signal);
  }

  writeSignal(message: SignalMessage): void {
    const line = JSON.stringify(message) + '\n';
    if (this.fd === undefined) {
      if (process.stdout.writableLength > this.maxBacklog) {
        this.dropped++;
        return;
      }
      process.stdout.write(line);
    } else {
      try {
        writeSync(this.fd, line);
      } catch (e) {
        throw new RoadsegError(`writing the signal to ${this.target} failed: ${messageOf(e)}`, { where: resolve(this.target), exitCode: ExitCode.output });
      }
    }
    this.lines++;
  }

  stats(): Record<string, number> {
    return { lines: this.lines, dropped: this.dropped };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
