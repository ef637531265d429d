/**
 * Overlay video file: every frame, in order. .mp4 .m4v .mov .mkv: H.264 encoded by an ffmpeg child
 * process at the `--video-quality` settings (ffmpeg-encoder.ts); without ffmpeg, OpenCV's
 * VideoWriter: H.264 (avc1) where its FFmpeg has an encoder for it, else MPEG-4 Part 2. .avi gets
 * MJPG through OpenCV. OpenCV writes run on libuv's pool (writeAsync). `close` finalises the
 * container, also after errors and interrupts.
 *
 * A full disk would leave an mp4 without its index (written last), unplayable. So before each
 * frame the sink checks the free space of the output's filesystem and the process's file-size
 * limit, and stops the run with a clear error while there is still room to finalise the file.
 *
 * The file is created at the first frame (its path was checked before the model loaded, by
 * src/app/outputs.ts), so a run that produces nothing leaves no empty container behind.
 */
import { existsSync, readFileSync, rmSync, statSync, statfsSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { cv } from '../util/cv.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import { FfmpegEncoder, ffmpegEncoderAvailable, type VideoQuality } from './ffmpeg-encoder.js';

type Writer = InstanceType<typeof cv.VideoWriter>;

/** Frames OpenCV's encoder (x264 at its default preset) holds before writing: lookahead and B-frames. */
const openCvEncoderDelayFrames = 50;

/** Containers the ffmpeg encoder writes (H.264); the others go through OpenCV. */
const ffmpegExtensions = new Set(['.mp4', '.m4v', '.mov', '.mkv']);

const codecsByExtension: Record<string, string[]> = {
  '.mp4': ['avc1', 'mp4v'],
  '.m4v': ['avc1', 'mp4v'],
  '.mov': ['avc1', 'mp4v'],
  '.mkv': ['avc1', 'mp4v', 'MJPG'],
  '.avi': ['MJPG', 'XVID'],
};

export class VideoFileSink implements Sink {
  readonly name: string;
  readonly policy = 'every' as const;
  readonly oneSource = true;
  codec = '';
  frames = 0;
  /** Frames of another size than the first, scaled to it (an image folder of mixed sizes). */
  resized = 0;
  private writer: Writer | undefined;
  private encoder: FfmpegEncoder | undefined;
  private useFfmpeg = false;
  private size: { width: number; height: number } | undefined;
  private fps = 25;
  private readonly fileSizeLimit = fileSizeLimitBytes();

  constructor(
    readonly path: string,
    private readonly quality: VideoQuality = 'fast',
  ) {
    this.name = `video ${path}`;
    if (!codecsByExtension[extname(path).toLowerCase()]) {
      throw new RoadsegError(`unsupported video file type: ${path}`, { hint: `use one of ${Object.keys(codecsByExtension).join(' ')}`, exitCode: ExitCode.usage });
    }
  }

  open(ctx: PipelineContext): void {
    this.size = { width: ctx.stream.width, height: ctx.stream.height };
    this.fps = ctx.stream.fps;
    // Asked here, before the frames flow: the probe runs ffmpeg once and waits for it.
    this.useFfmpeg = ffmpegExtensions.has(extname(this.path).toLowerCase()) && ffmpegEncoderAvailable();
  }

  /** At the first frame: the ffmpeg encoder for H.264 containers where there is one, else OpenCV's writer. */
  private openOutput(): void {
    if (this.useFfmpeg) {
      this.encoder = new FfmpegEncoder(this.path, { width: this.size!.width, height: this.size!.height, fps: this.fps }, this.quality);
      this.codec = this.encoder.codec;
      return;
    }
    this.writer = this.openWriter();
  }

  /**
   * OpenCV's writer does not throw when FFmpeg cannot open the file (it prints a line and writes
   * nothing), so an old file is removed first and the new one must exist afterwards.
   */
  private openWriter(): Writer {
    rmSync(this.path, { force: true });
    const size = new cv.Size(this.size!.width, this.size!.height);
    const tried: string[] = [];
    for (const codec of codecsByExtension[extname(this.path).toLowerCase()]!) {
      try {
        const w = new cv.VideoWriter(this.path, cv.VideoWriter.fourcc(codec), this.fps, size, true);
        if (existsSync(this.path)) {
          this.codec = codec;
          return w;
        }
        w.release();
        tried.push(`${codec}: the writer did not open the file`);
      } catch (e) {
        tried.push(`${codec}: ${messageOf(e)}`);
      }
    }
    throw new RoadsegError(`cannot write video ${this.path} (${tried.join('; ')})`, { where: resolve(this.path), hint: 'check that the folder is writable and the disk has space', exitCode: ExitCode.output });
  }

  async write(frame: ProcessedFrame): Promise<void> {
    if (!this.writer && !this.encoder) this.openOutput();
    this.checkRoom(frame.meta.index);
    const overlay = frame.overlay;
    // A frame of another size is scaled into a Mat of our own, released once written (the overlay is the graph's).
    const scaled = overlay.cols !== this.size!.width || overlay.rows !== this.size!.height ? overlay.resize(this.size!.height, this.size!.width) : undefined;
    if (scaled) this.resized++;
    const image = scaled ?? overlay;
    try {
      if (this.encoder) await this.encoder.write(image.getData());
      else await this.writer!.writeAsync(image);
    } catch (e) {
      if (e instanceof RoadsegError) throw e;
      throw new RoadsegError(`writing frame ${frame.meta.index} to ${this.path} failed: ${messageOf(e)}`, { where: this.path, exitCode: ExitCode.output });
    } finally {
      scaled?.release();
    }
    this.frames++;
  }

  async close(): Promise<void> {
    if (!this.writer && !this.encoder) return;
    this.writer?.release();
    this.writer = undefined;
    const encoder = this.encoder;
    this.encoder = undefined;
    await encoder?.close();
    // A container without a frame is no output: not left behind as an empty shell.
    if (this.frames === 0) rmSync(this.path, { force: true });
  }

  stats(): Record<string, number | string> {
    return { frames: this.frames, codec: this.codec, ...(this.resized && { resized: this.resized }) };
  }

  /**
   * Room to finish the file, judged from the frames so far. The encoder holds some frames (x264's
   * lookahead, B-frames and frame threads: ~50 at OpenCV's settings; ffmpeg reports its count) and
   * writes them, and the index, only at the end: keep room for those frames, 10 more, and 2 MiB.
   */
  private checkRoom(index: number): void {
    let written = 0;
    try {
      written = statSync(this.path).size;
    } catch {
      written = 0;
    }
    // Frames given to the encoder and not yet in the file, and the size of those that are.
    const pending = this.encoder ? this.frames - this.encoder.framesEncoded : openCvEncoderDelayFrames;
    const perFrame = this.encoder && this.encoder.framesEncoded === 0 ? 0 : written / Math.max(1, this.frames - pending);
    const needed = 2 * 1024 * 1024 + (pending + 10) * perFrame;
    const fs = statfsSync(dirname(resolve(this.path)));
    const free = fs.bavail * fs.bsize;
    const problem =
      free < needed ? `the disk is full (${(free / 1024 / 1024).toFixed(1)} MiB free)` : written + needed > this.fileSizeLimit ? `the file would pass the file-size limit (ulimit -f: ${this.fileSizeLimit} bytes)` : undefined;
    if (problem) {
      throw new RoadsegError(`stopping before frame ${index}: ${problem} while writing ${this.path}`, {
        where: this.path,
        hint: `the ${this.frames} frames written so far are kept in a finalised file; free some space or write elsewhere`,
        exitCode: ExitCode.output,
      });
    }
  }
}

/** RLIMIT_FSIZE of this process (Linux: /proc/self/limits), Infinity when unlimited or unknown. */
function fileSizeLimitBytes(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max file size'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : Infinity;
  } catch {
    return Infinity;
  }
}
