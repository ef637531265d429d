/**
 * Live sources: cameras and network streams (the graph keeps their freshest frame). A network
 * stream that drops is retried with exponential backoff; meanwhile the source emits stale ticks
 * at the stream's frame rate, so the signal says "no picture" instead of going quiet or repeating
 * old values, and resumes when the stream is back.
 */
import { existsSync } from 'node:fs';
import { backoffMs } from '../util/backoff.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import type { Frame, SourceState, StaleTick, StreamInfo } from '../core/frame.js';
import { streamSourceId } from '../core/uri.js';
import { timeUp, valueWithin } from '../util/deadline.js';
import { CaptureSource, openCapture } from './video.js';
import { defaultStall, type FrameSource, type SourceOptions, type StallOptions } from '../core/source.js';

export function openCameraSource(n: number, uri: string): CaptureSource {
  const dev = `/dev/video${n}`;
  if (process.platform === 'linux' && !existsSync(dev)) {
    throw new RoadsegError(`camera ${n} not found: ${dev} does not exist`, { where: uri, hint: 'list cameras with `ls /dev/video*`; on a machine without one, replay a file instead', exitCode: ExitCode.input });
  }
  const cap = openCapture(n, `camera ${n}`, 'check that the camera is connected and not in use by another program');
  return new CaptureSource(cap, { sourceId: `camera${n}`, uri, kind: 'camera', live: true });
}

const streamHint = 'check that the stream is up and the URL is right (try it with `ffprobe URL`)';


/** A read of the current capture, and the capture it reads. */
interface PendingRead {
  capture: CaptureSource;
  result: Promise<Frame | null>;
}

/**
 * A network stream, with its state (online / stale / offline: core/frame.ts SourceState). A server
 * that stops answering without closing the connection (a hung camera, SIGSTOP) leaves OpenCV's read
 * waiting for up to 30 s: the stall detector does not wait for it. No frame for `staleAfterFrames`
 * frame intervals: stale, one stale tick per interval; none for `offlineAfterS`: the capture is
 * given up (released once its read returns) and the stream reconnected with backoff, offline.
 */
export class StreamSource implements FrameSource {
  readonly info: StreamInfo;
  private current: CaptureSource | undefined;
  private pending: PendingRead | undefined;
  private state: SourceState = 'online';
  private index = -1;
  private attempts = 0;
  private nextAttemptAt = 0;
  private offlineSince = 0;
  /** When the current capture last gave a frame (or was opened). */
  private lastFrameAt = performance.now();
  private nextTickAt = 0;
  private closed = false;
  private started = false;
  private readonly clockStart = performance.now();
  private readonly log: (line: string) => void;
  private readonly stall: StallOptions;

  constructor(readonly uri: string, opts: SourceOptions) {
    this.stall = opts.stall ?? defaultStall;
    this.current = this.open();
    this.info = this.current.info;
    this.log = opts.log ?? (() => {});
  }

  /**
   * Opens the stream with FFmpeg's I/O timeout at the offline time (unless the user set FFmpeg's
   * capture options himself): the open runs on the main thread, and a server that accepts and never
   * answers would otherwise hold it (and a read given up on, a decoding thread) for OpenCV's 30 s.
   * Without options OpenCV asks for RTSP over TCP, kept here.
   */
  private open(): CaptureSource {
    const given = process.env.OPENCV_FFMPEG_CAPTURE_OPTIONS;
    if (given === undefined) process.env.OPENCV_FFMPEG_CAPTURE_OPTIONS = `rtsp_transport;tcp|rw_timeout;${Math.round(this.stall.offlineAfterS * 1e6)}`;
    try {
      const cap = openCapture(this.uri, `stream ${this.uri}`, streamHint);
      return new CaptureSource(cap, { sourceId: streamSourceId(this.uri), uri: this.uri, kind: 'stream', live: true });
    } finally {
      if (given === undefined) delete process.env.OPENCV_FFMPEG_CAPTURE_OPTIONS;
    }
  }

  private get intervalMs(): number {
    return 1000 / this.info.fps;
  }

  private tick(): StaleTick {
    const state = this.state === 'online' ? 'stale' : this.state;
    return { sourceId: this.info.sourceId, index: ++this.index, ptsMs: performance.now() - this.clockStart, captureTimeMs: Date.now(), stale: true, state, reason: state === 'stale' ? 'stream stalled' : 'stream offline, reconnecting' };
  }

  async read(): Promise<Frame | StaleTick | null> {
    // The stall clock starts at the first read, not at the open: the model loads in between.
    if (!this.started) {
      this.started = true;
      this.lastFrameAt = performance.now();
    }
    for (;;) {
      if (this.closed) return null;
      if (this.current) {
        const got = await this.readCurrent();
        if (got !== undefined) return got;
        continue;
      }
      const now = performance.now();
      if (now >= this.nextAttemptAt) {
        try {
          this.current = this.open();
          this.lastFrameAt = performance.now();
          this.log(`source reconnected after ${((performance.now() - this.offlineSince) / 1000).toFixed(1)} s: ${this.uri}; waiting for its first frame`);
          continue;
        } catch (e) {
          this.attempts++;
          this.nextAttemptAt = performance.now() + backoffMs(this.attempts);
          if (this.attempts === 1 || this.attempts % 5 === 0) this.log(`source still offline (attempt ${this.attempts}: ${messageOf(e)}); next try in ${(backoffMs(this.attempts) / 1000).toFixed(1)} s`);
        }
      }
      // One stale tick per frame interval while offline.
      const wait = this.nextTickAt - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, this.nextAttemptAt - performance.now()))));
      if (performance.now() < this.nextTickAt) continue;
      this.nextTickAt += this.intervalMs;
      return this.tick();
    }
  }

  /**
   * A frame of the current capture, a stale tick while it stalls, or undefined once it is given up
   * (offline: the caller reconnects) or the source is closed.
   */
  private async readCurrent(): Promise<Frame | StaleTick | null | undefined> {
    const capture = this.current!;
    this.pending ??= { capture, result: capture.read().catch(() => null) };
    const staleAt = this.lastFrameAt + this.stall.staleAfterFrames * this.intervalMs;
    const offlineAt = Math.max(this.lastFrameAt + this.stall.offlineAfterS * 1000, staleAt + this.intervalMs);
    const now = performance.now();
    const until = this.state === 'online' ? staleAt : Math.min(this.nextTickAt, offlineAt);
    const f = await valueWithin(this.pending.result, until - now);
    if (this.closed) return null;
    if (f !== timeUp) {
      this.pending = undefined;
      if (f) {
        if (this.state !== 'online') this.log(`source back online after ${((performance.now() - (this.state === 'offline' ? this.offlineSince : this.lastFrameAt)) / 1000).toFixed(1)} s: ${this.uri}`);
        this.state = 'online';
        this.lastFrameAt = performance.now();
        return { ...f, index: ++this.index, ptsMs: performance.now() - this.clockStart };
      }
      this.goOffline(`${this.uri} stopped sending`);
      return undefined;
    }
    const t = performance.now();
    if (t >= offlineAt) {
      this.goOffline(`no frame from ${this.uri} for ${((t - this.lastFrameAt) / 1000).toFixed(1)} s`);
      return undefined;
    }
    if (this.state === 'online') {
      this.state = 'stale';
      this.nextTickAt = t;
      this.log(`source stale: no frame from ${this.uri} for ${this.stall.staleAfterFrames} frame intervals; offline (reconnecting) after ${this.stall.offlineAfterS} s without one`);
    }
    if (t < this.nextTickAt) return this.readCurrent();
    this.nextTickAt += this.intervalMs;
    return this.tick();
  }

  /** Gives the current capture up (released once a read still running on it returns) and starts reconnecting. */
  private goOffline(why: string): void {
    this.release();
    this.state = 'offline';
    this.offlineSince = performance.now();
    this.attempts = 0;
    this.nextAttemptAt = this.offlineSince + backoffMs(0);
    this.nextTickAt = Math.max(this.nextTickAt, this.offlineSince);
    this.log(`source offline: ${why}; retrying with backoff`);
  }

  /** The capture is never released under its own read (a native use after free): after it, then. */
  private release(): void {
    const capture = this.current;
    const pending = this.pending;
    this.current = undefined;
    this.pending = undefined;
    if (!capture) return;
    if (pending?.capture === capture) {
      void pending.result.then((f) => {
        f?.image.release();
        capture.close();
      });
    } else capture.close();
  }

  close(): void {
    this.closed = true;
    this.release();
  }
}

export function openStreamSource(uri: string, opts: SourceOptions): StreamSource {
  return new StreamSource(uri, opts);
}
