/**
 * Live sources: cameras and network streams (the graph keeps their freshest frame). A network
 * stream that drops is retried with exponential backoff; meanwhile the source emits stale ticks
 * at the stream's frame rate, so the signal says "no picture" instead of going quiet or repeating
 * old values, and resumes when the stream is back.
 */
import { existsSync } from 'node:fs';
import { backoffMs } from '../util/backoff.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import type { Frame, StaleTick, StreamInfo } from '../core/frame.js';
import { streamSourceId } from '../core/uri.js';
import { CaptureSource, openCapture } from './video.js';
import type { FrameSource, SourceOptions } from '../core/source.js';

export function openCameraSource(n: number, uri: string): CaptureSource {
  const dev = `/dev/video${n}`;
  if (process.platform === 'linux' && !existsSync(dev)) {
    throw new RoadsegError(`camera ${n} not found: ${dev} does not exist`, { where: uri, hint: 'list cameras with `ls /dev/video*`; on a machine without one, replay a file instead', exitCode: ExitCode.input });
  }
  const cap = openCapture(n, `camera ${n}`, 'check that the camera is connected and not in use by another program');
  return new CaptureSource(cap, { sourceId: `camera${n}`, uri, kind: 'camera', live: true });
}

const streamHint = 'check that the stream is up and the URL is right (try it with `ffprobe URL`)';


export class StreamSource implements FrameSource {
  readonly info: StreamInfo;
  private current: CaptureSource | undefined;
  private index = -1;
  private attempts = 0;
  private nextAttemptAt = 0;
  private offlineSince = 0;
  private nextTickAt = 0;
  private closed = false;
  private readonly clockStart = performance.now();
  private readonly log: (line: string) => void;

  constructor(readonly uri: string, opts: SourceOptions) {
    this.current = this.open();
    this.info = this.current.info;
    this.log = opts.log ?? (() => {});
  }

  private open(): CaptureSource {
    const cap = openCapture(this.uri, `stream ${this.uri}`, streamHint);
    return new CaptureSource(cap, { sourceId: streamSourceId(this.uri), uri: this.uri, kind: 'stream', live: true });
  }

  async read(): Promise<Frame | StaleTick | null> {
    for (;;) {
      if (this.closed) return null;
      if (this.current) {
        const f = await this.current.read().catch(() => null);
        if (f && !('stale' in f)) return { ...f, index: ++this.index, ptsMs: performance.now() - this.clockStart };
        if (this.closed) return null;
        this.current.close();
        this.current = undefined;
        this.offlineSince = performance.now();
        this.attempts = 0;
        this.nextAttemptAt = this.offlineSince + backoffMs(0);
        this.nextTickAt = this.offlineSince;
        this.log(`source offline: ${this.uri} stopped sending; retrying with backoff`);
      }
      const now = performance.now();
      if (now >= this.nextAttemptAt) {
        try {
          this.current = this.open();
          this.log(`source back online after ${((performance.now() - this.offlineSince) / 1000).toFixed(1)} s: ${this.uri}`);
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
      this.nextTickAt += 1000 / this.info.fps;
      return { sourceId: this.info.sourceId, index: ++this.index, ptsMs: performance.now() - this.clockStart, captureTimeMs: Date.now(), stale: true, reason: 'stream offline, reconnecting' };
    }
  }

  close(): void {
    this.closed = true;
    this.current?.close();
    this.current = undefined;
  }
}

export function openStreamSource(uri: string, opts: SourceOptions): StreamSource {
  return new StreamSource(uri, opts);
}
