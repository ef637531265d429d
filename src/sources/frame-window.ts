/**
 * start / duration / stride / loop, implemented once for every source kind: the source delivers
 * its frames from the beginning with their pts, and this wrapper keeps the frames in the window,
 * every n-th of them, and rewinds a source that can (files, image folders) for --loop. Indices and
 * pts keep increasing across loop passes. A source that ends without a single frame in the window
 * is an input error: a run with nothing to write must not look like a success.
 */
import { ExitCode, RoadsegError } from '../util/errors.js';
import { isStale, type Frame, type StaleTick, type StreamInfo } from '../core/frame.js';
import type { FrameSource, SourceOptions } from '../core/source.js';

/** A source read from its start; `rewind` (when it can) starts it again at its first frame. */
export interface RewindableSource extends FrameSource {
  rewind?(): void;
}

/** Half a millisecond of slack: container timestamps are rounded. */
const ptsSlackMs = 0.5;

class WindowedSource implements FrameSource {
  readonly info: StreamInfo;
  private readonly startMs: number;
  private readonly endMs: number;
  private readonly stride: number;
  private readonly loop: boolean;
  /** Frames inside the window so far (before the stride), this pass and overall delivered. */
  private inWindow = 0;
  private deliveredThisPass = 0;
  private delivered = 0;
  /** Added to the source's index and pts on later loop passes. */
  private indexOffset = 0;
  private ptsOffsetMs = 0;
  private lastIndex = -1;
  private lastPtsMs = 0;
  /** Pts of the last frame read, kept or not (-1 before the first). */
  private seenPtsMs = -1;
  private closed = false;

  constructor(private readonly inner: RewindableSource, opts: SourceOptions) {
    this.startMs = (opts.start ?? 0) * 1000;
    this.endMs = opts.duration !== undefined ? this.startMs + opts.duration * 1000 : Infinity;
    this.stride = opts.stride ?? 1;
    this.loop = !!opts.loop && !!inner.rewind;
    const { frameCount, fps } = inner.info;
    // The first frame whose pts (index / fps) passes the comparison in read(): pts >= bound - slack.
    const firstAt = (ms: number) => Math.min(frameCount ?? Infinity, Math.max(0, Math.ceil(((ms - ptsSlackMs) * fps) / 1000)));
    const first = firstAt(this.startMs);
    // The one count of the frames this source will deliver (progress and the where-line read it): unknown for a loop.
    const delivers = frameCount === undefined || this.loop ? undefined : Math.max(0, Math.ceil((firstAt(this.endMs) - first) / this.stride));
    this.info = { ...inner.info, frameCount: delivers };
    if (frameCount !== undefined && this.startMs > 0 && first >= frameCount) {
      inner.close();
      throw new RoadsegError(`--start ${this.startMs / 1000} s is past the end of the input: no frames to process`, {
        where: inner.info.uri,
        hint: `the input declares ${frameCount} frames (${(frameCount / fps).toFixed(2)} s); give a smaller --start`,
        exitCode: ExitCode.input,
      });
    }
  }

  /** Only a file read from its start can tell that it ended before its declared length. */
  get endedEarly(): { decoded: number; expected: number } | undefined {
    return this.startMs === 0 ? this.inner.endedEarly : undefined;
  }

  async read(): Promise<Frame | StaleTick | null> {
    for (;;) {
      if (this.closed) return null;
      const f = await this.inner.read();
      if (this.closed) {
        if (f && !isStale(f)) f.image.release();
        return null;
      }
      if (f && isStale(f)) return f;
      if (f) this.seenPtsMs = f.ptsMs;
      const pastEnd = f !== null && f.ptsMs >= this.endMs - ptsSlackMs;
      if (f === null || pastEnd) {
        f?.image.release();
        if (this.loop && this.deliveredThisPass > 0) {
          this.rewind();
          continue;
        }
        if (this.delivered === 0) throw this.nothingInWindow(pastEnd);
        return null;
      }
      if (f.ptsMs < this.startMs - ptsSlackMs || this.inWindow++ % this.stride !== 0) {
        f.image.release();
        continue;
      }
      this.lastIndex = f.index;
      this.lastPtsMs = f.ptsMs;
      this.deliveredThisPass++;
      this.delivered++;
      return { ...f, index: f.index + this.indexOffset, ptsMs: f.ptsMs + this.ptsOffsetMs };
    }
  }

  private rewind(): void {
    this.indexOffset += this.lastIndex + 1;
    this.ptsOffsetMs += this.lastPtsMs + 1000 / this.info.fps - this.startMs;
    this.deliveredThisPass = 0;
    this.inWindow = 0;
    this.inner.rewind!();
  }

  private nothingInWindow(pastEnd: boolean): RoadsegError {
    const { uri } = this.inner.info;
    if (pastEnd) {
      return new RoadsegError(`no frame between --start ${this.startMs / 1000} s and the end of --duration`, { where: uri, hint: 'give a longer --duration', exitCode: ExitCode.input });
    }
    if (this.startMs > 0 && this.seenPtsMs >= 0) {
      return new RoadsegError(`--start ${this.startMs / 1000} s is past the end of the input: no frames to process`, {
        where: uri,
        hint: `the input's last frame is at ${(this.seenPtsMs / 1000).toFixed(2)} s; give a smaller --start`,
        exitCode: ExitCode.input,
      });
    }
    return new RoadsegError('the input has no frames to process', {
      where: uri,
      hint: 'it holds no decodable video frames (is it a video? check it with `ffprobe`); nothing was written',
      exitCode: ExitCode.input,
    });
  }

  close(): void {
    this.closed = true;
    this.inner.close();
  }
}

/** The source with the shared options applied (start, duration, stride, loop). */
export function windowed(source: RewindableSource, opts: SourceOptions): FrameSource {
  return new WindowedSource(source, opts);
}
