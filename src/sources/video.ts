/**
 * Video through OpenCV's VideoCapture (FFmpeg backend): files, cameras and network streams.
 * Decoding runs on libuv's thread pool (readAsync), so it overlaps with inference.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { cv } from '../util/cv.js';
import type { Mat } from '../util/cv.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import type { Frame, StreamInfo } from '../core/frame.js';
import { toBgr } from '../stages/preprocess.js';
import type { FrameSource, SourceOptions } from '../core/source.js';

type Capture = InstanceType<typeof cv.VideoCapture>;

export function openCapture(target: string | number, what: string, hint: string): Capture {
  let cap: Capture;
  try {
    cap = typeof target === 'number' ? new cv.VideoCapture(target) : new cv.VideoCapture(target, cv.CAP_FFMPEG);
  } catch (e) {
    throw new RoadsegError(`cannot open ${what} (${messageOf(e)})`, { where: String(target), hint, exitCode: ExitCode.input });
  }
  return cap;
}

/** Frames from a VideoCapture with the shared options applied: start, duration, stride, loop. */
export class CaptureSource implements FrameSource {
  readonly info: StreamInfo;
  endedEarly: { decoded: number; expected: number } | undefined;
  private index = -1;
  private delivered = 0;
  private closed = false;
  private readonly startMs: number;
  private readonly endMs: number;
  private readonly stride: number;
  /** Added to the container's pts on later passes of a loop, so that pts keep increasing. */
  private loopOffsetMs = 0;
  private lastPtsMs = 0;
  /** Last pts read from the container in this pass (-1 before the first frame). */
  private lastFilePts = -1;
  private readonly clockStart = performance.now();

  constructor(
    private readonly cap: Capture,
    info: Omit<StreamInfo, 'width' | 'height' | 'fps' | 'frameCount'>,
    private readonly opts: SourceOptions,
  ) {
    const width = cap.get(cv.CAP_PROP_FRAME_WIDTH);
    const height = cap.get(cv.CAP_PROP_FRAME_HEIGHT);
    const fps = cap.get(cv.CAP_PROP_FPS);
    const count = cap.get(cv.CAP_PROP_FRAME_COUNT);
    if (!(width > 0 && height > 0)) {
      cap.release();
      throw new RoadsegError(`no video stream in ${info.uri}`, { where: info.uri, hint: 'give a video file (mp4, avi, mkv, ...), a camera or a stream URL', exitCode: ExitCode.input });
    }
    this.info = { ...info, width, height, fps: fps > 0 && fps < 1000 ? fps : 25, frameCount: info.kind === 'file' && count > 0 ? Math.round(count) : undefined };
    this.startMs = (opts.start ?? 0) * 1000;
    this.endMs = opts.duration !== undefined ? this.startMs + opts.duration * 1000 : Infinity;
    this.stride = opts.stride ?? 1;
  }

  async read(): Promise<Frame | null> {
    for (;;) {
      if (this.closed) return null;
      let mat: Mat;
      try {
        mat = await this.cap.readAsync();
      } catch (e) {
        throw new RoadsegError(`decoding failed after frame ${this.index} (${messageOf(e)})`, { where: this.info.uri, exitCode: ExitCode.input });
      }
      if (this.closed) return null;
      if (mat.empty) {
        if (this.opts.loop && this.info.kind === 'file' && this.index >= 0) {
          this.rewind();
          continue;
        }
        this.checkComplete();
        return null;
      }
      this.index++;
      const filePts = this.info.kind === 'file' ? this.containerPts() : performance.now() - this.clockStart;
      // Frames before --start are decoded and skipped: OpenCV's seeking lands on key frames and
      // loses the frame index, which the signal must keep.
      if (filePts < this.startMs - 0.5) continue;
      if (filePts >= this.endMs - 0.5) {
        if (!this.opts.loop) return null;
        this.rewind();
        continue;
      }
      this.lastPtsMs = this.loopOffsetMs + filePts;
      if (this.delivered++ % this.stride !== 0) continue;
      return { sourceId: this.info.sourceId, index: this.index, ptsMs: this.lastPtsMs, captureTimeMs: Date.now(), image: toBgr(mat) };
    }
  }

  private rewind(): void {
    this.loopOffsetMs = this.lastPtsMs + 1000 / this.info.fps - this.startMs;
    this.lastFilePts = -1;
    this.cap.set(cv.CAP_PROP_POS_FRAMES, 0);
  }

  /** OpenCV reports 0 for the last frames of some files: then continue from the previous pts. */
  private containerPts(): number {
    const pts = this.cap.get(cv.CAP_PROP_POS_MSEC);
    const previous = this.lastFilePts;
    this.lastFilePts = pts > previous || previous < 0 ? pts : previous + 1000 / this.info.fps;
    return this.lastFilePts;
  }

  /**
   * A file read from its start that stops well short of its declared frame count is damaged. The
   * declared count is often a little high (edit lists: two of the Udacity clips declare 91 and 116
   * frames and FFmpeg decodes 88 and 100), so only a shortfall over 20 % counts.
   */
  private checkComplete(): void {
    const expected = this.info.frameCount;
    const decoded = this.index + 1;
    if (expected && this.startMs === 0 && decoded < expected * 0.8) this.endedEarly = { decoded, expected };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cap.release();
  }
}

export function openVideoFile(path: string, opts: SourceOptions): CaptureSource {
  if (!existsSync(path)) throw new RoadsegError(`input not found: ${path}`, { where: resolve(path), hint: 'check the path, or give camera:0, rtsp://..., a folder of images', exitCode: ExitCode.input });
  const st = statSync(path);
  if (st.isDirectory()) throw new RoadsegError(`expected a video file, got a directory without images: ${path}`, { where: resolve(path), exitCode: ExitCode.input });
  if (st.size === 0) throw new RoadsegError(`empty file: ${path}`, { where: resolve(path), hint: 'the file has 0 bytes; give a complete video file', exitCode: ExitCode.input });
  const hint = 'the file is not a video OpenCV/FFmpeg can decode; check it with `ffprobe`';
  const cap = openCapture(path, `video ${basename(path)}`, hint);
  const source = new CaptureSource(cap, { sourceId: basename(path), uri: resolve(path), kind: 'file', live: !!opts.realtime }, opts);
  return source;
}
