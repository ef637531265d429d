/**
 * Video through OpenCV's VideoCapture (FFmpeg backend): files, cameras and network streams.
 * Decoding runs on libuv's thread pool (readAsync), so it overlaps with inference.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { cv } from '../util/cv.js';
import type { Mat } from '../util/cv.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import type { Frame, StreamInfo } from '../core/frame.js';
import { toBgr } from '../stages/preprocess.js';
import type { SourceOptions } from '../core/source.js';
import type { RewindableSource } from './frame-window.js';

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

/**
 * Frames from a VideoCapture, from its start (src/sources/frame-window.ts applies start, duration,
 * stride and loop). Files carry the container's pts; live sources the capture clock's.
 */
export class CaptureSource implements RewindableSource {
  readonly info: StreamInfo;
  endedEarly: { decoded: number; expected: number } | undefined;
  private index = -1;
  private closed = false;
  /** The decode in progress on libuv's pool: the capture is released only after it (an aborted run closes mid-read). */
  private reading: Promise<unknown> | undefined;
  /** Last pts read from the container in this pass (-1 before the first frame). */
  private lastFilePts = -1;
  /** The container's pts of every frame, read with ffprobe when OpenCV's are missing. */
  private containerPtsList: number[] | undefined;
  private readonly clockStart = performance.now();

  constructor(
    private readonly cap: Capture,
    info: Omit<StreamInfo, 'width' | 'height' | 'fps' | 'frameCount'>,
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
  }

  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    let mat: Mat;
    try {
      const read = this.cap.readAsync();
      this.reading = read;
      mat = await read;
    } catch (e) {
      throw new RoadsegError(`decoding failed after frame ${this.index} (${messageOf(e)})`, { where: this.info.uri, exitCode: ExitCode.input });
    } finally {
      this.reading = undefined;
    }
    if (this.closed) {
      mat.release();
      return null;
    }
    if (mat.empty) {
      this.checkComplete();
      return null;
    }
    this.index++;
    const ptsMs = this.info.kind === 'file' ? await this.containerPts() : performance.now() - this.clockStart;
    return { sourceId: this.info.sourceId, index: this.index, ptsMs, captureTimeMs: Date.now(), image: toBgr(mat) };
  }

  rewind(): void {
    this.index = -1;
    this.lastFilePts = -1;
    this.cap.set(cv.CAP_PROP_POS_FRAMES, 0);
  }

  /**
   * OpenCV reports 0 (or a repeated value) for the last frames of some files, those the decoder
   * gives back only when flushed at the end: their pts then come from the container's packet
   * list (ffprobe), the next one after the previous frame's, so variable frame rates stay right.
   */
  private async containerPts(): Promise<number> {
    const pts = this.cap.get(cv.CAP_PROP_POS_MSEC);
    const previous = this.lastFilePts;
    if (pts > previous || previous < 0) this.lastFilePts = pts;
    else {
      // Asynchronous: probing a long file takes a while, and the sinks and servers go on meanwhile.
      this.containerPtsList ??= await readContainerPts(this.info.uri);
      this.lastFilePts = this.containerPtsList.find((p) => p > previous + 0.5) ?? previous + 1000 / this.info.fps;
    }
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
    if (expected && decoded < expected * 0.8) this.endedEarly = { decoded, expected };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const cap = this.cap;
    if (this.reading) void this.reading.catch(() => {}).finally(() => cap.release());
    else cap.release();
  }
}

/**
 * The presentation times of the first video stream's packets, in ms from the stream's start (as
 * OpenCV counts them), ascending; empty when ffprobe is missing or fails.
 */
async function readContainerPts(path: string): Promise<number[]> {
  try {
    const { stdout: out } = await promisify(execFile)('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=start_time:packet=pts_time', '-of', 'json', path], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const probe = JSON.parse(out) as { streams?: { start_time?: string }[]; packets?: { pts_time?: string }[] };
    const start = Number(probe.streams?.[0]?.start_time ?? 0) || 0;
    return (probe.packets ?? [])
      .map((p) => (Number(p.pts_time) - start) * 1000)
      .filter((ms) => Number.isFinite(ms))
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

export function openVideoFile(path: string, opts: SourceOptions): CaptureSource {
  if (!existsSync(path)) throw new RoadsegError(`input not found: ${path}`, { where: resolve(path), hint: 'check the path, or give camera:0, rtsp://..., a folder of images', exitCode: ExitCode.input });
  const st = statSync(path);
  if (st.isDirectory()) throw new RoadsegError(`expected a video file, got a directory without images: ${path}`, { where: resolve(path), exitCode: ExitCode.input });
  if (st.size === 0) throw new RoadsegError(`empty file: ${path}`, { where: resolve(path), hint: 'the file has 0 bytes; give a complete video file', exitCode: ExitCode.input });
  const hint = 'the file is not a video OpenCV/FFmpeg can decode; check it with `ffprobe`';
  const cap = openCapture(path, `video ${basename(path)}`, hint);
  return new CaptureSource(cap, { sourceId: basename(path), uri: resolve(path), kind: 'file', live: !!opts.realtime });
}
