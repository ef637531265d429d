/**
 * The drivable-area signal as JSON lines: every frame, flushed per line, never blocking the graph.
 * A file gets a synchronous write per line (microseconds; nothing is lost on a crash); it is
 * created at the first line, so a run that produces nothing leaves no empty file behind (its
 * path was checked before the model loaded, by src/app/outputs.ts). Standard output may be a pipe
 * to a slow reader: lines are handed over asynchronously and, if the reader lags by more than
 * `maxBacklog` bytes, dropped and counted rather than buffered without limit. A reader that goes
 * away (`| head -1`) ends this sink quietly: the lines it did not get are counted, the other sinks
 * carry on.
 *
 * A named pipe (FIFO) as the path is a pipe too, never a blocking write: it is opened without
 * waiting for a reader (none is an output error at once: a blocking open would hang the process,
 * deaf even to Ctrl-C), written asynchronously with the same bounded backlog, and a reader that
 * goes away is an output failure of the sink's source (the graph stops that source; the others go
 * on), not a crash.
 */
import { closeSync, constants, openSync, statSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { within } from '../util/deadline.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { signalJson, type SignalMessage } from '../core/signal.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';

export interface SignalSinkOptions {
  /** Called once when the reader of standard output went away, with the lines it got. */
  onReaderGone?: (lines: number) => void;
  /** Bytes standard output may lag behind before lines are dropped. */
  maxBacklog?: number;
}

/** How long closing waits for the reader of a named pipe to take the lines queued for it. */
const pipeDrainMs = 2000;

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

export class SignalSink implements Sink {
  readonly name: string;
  readonly policy = 'every' as const;
  lines = 0;
  dropped = 0;
  /** Lines not sent because the reader of standard output went away. */
  notSent = 0;
  private fd: number | undefined;
  /** The named pipe the path is, once opened. */
  private pipe: Socket | undefined;
  /** Lines handed to the pipe and not yet taken by its reader. */
  private inPipe = 0;
  /** Why the pipe's reader is gone: thrown at the next line. */
  private pipeFailure: RoadsegError | undefined;
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
      if (this.pipeFailure) throw this.pipeFailure;
      if (this.fd === undefined && this.pipe === undefined && isFifo(this.target)) this.openPipe();
      if (this.pipe) {
        this.writeToPipe(line);
        return;
      }
      try {
        this.fd ??= openSync(this.target, 'w');
        writeSync(this.fd, line);
      } catch (e) {
        throw new RoadsegError(`writing the signal to ${this.target} failed: ${messageOf(e)}`, { where: resolve(this.target), hint: 'choose a writable location for --signal', exitCode: ExitCode.output });
      }
    }
    this.lines++;
  }

  /** Opens the named pipe without waiting for a reader: ENXIO means nobody has it open for reading. */
  private openPipe(): void {
    let fd: number;
    try {
      fd = openSync(this.target, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      const none = (e as NodeJS.ErrnoException).code === 'ENXIO';
      throw new RoadsegError(none ? `nobody reads the named pipe ${this.target}` : `cannot open the named pipe ${this.target}: ${messageOf(e)}`, {
        where: resolve(this.target),
        hint: none ? 'start its reader before roadseg sends the first line, or write the signal to a regular file' : 'choose a writable location for --signal',
        exitCode: ExitCode.output,
      });
    }
    const pipe = new Socket({ fd, readable: false, writable: true });
    pipe.on('error', (e: NodeJS.ErrnoException) => {
      this.notSent += this.inPipe;
      this.inPipe = 0;
      const gone = e.code === 'EPIPE' || e.code === 'ECONNRESET';
      this.pipeFailure ??= new RoadsegError(gone ? `the reader of the named pipe ${this.target} went away after ${this.lines - this.notSent} signal lines` : `writing the signal to the named pipe ${this.target} failed: ${messageOf(e)}`, {
        where: resolve(this.target),
        hint: 'keep the reader running for the whole run, or write the signal to a regular file; the other sources and outputs went on',
        exitCode: ExitCode.output,
      });
      pipe.destroy();
    });
    this.pipe = pipe;
  }

  private writeToPipe(line: string): void {
    const pipe = this.pipe!;
    if (pipe.writableLength > this.maxBacklog) {
      this.dropped++;
      return;
    }
    this.inPipe++;
    this.lines++;
    pipe.write(line, (e) => {
      if (!e) this.inPipe--;
    });
  }

  stats(): Record<string, number> {
    return { lines: this.lines, dropped: this.dropped, ...((this.readerGone || this.pipeFailure || this.notSent > 0) && { notSent: this.notSent }) };
  }

  close(): Promise<void> | void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.pipe) return this.closePipe(this.pipe);
    // Keeps swallowing a late EPIPE of lines already handed over.
    if (this.toStdout && !this.readerGone) process.stdout.off('error', this.onStdoutError);
  }

  /**
   * Lets the reader take what is queued, for at most `pipeDrainMs`: a reader that stopped reading
   * must not hold the run's end (nor Ctrl-C); what it did not take is counted as not sent.
   */
  private async closePipe(pipe: Socket): Promise<void> {
    if (!pipe.destroyed) {
      await within(new Promise<void>((r) => pipe.end(r)), pipeDrainMs);
    }
    this.notSent += this.inPipe;
    this.inPipe = 0;
    pipe.destroy();
  }

  private readonly onStdoutError = (e: NodeJS.ErrnoException): void => {
    if (this.readerGone) return;
    this.readerGone = true;
    if (e.code !== 'EPIPE') process.stderr.write(`roadseg: standard output failed (${messageOf(e)}): the signal on stdout ends here\n`);
    this.opts.onReaderGone?.(this.lines);
  };
}
