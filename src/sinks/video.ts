/**
 * Overlay video file: every frame, in order. H.264 (avc1) where OpenCV's FFmpeg has an encoder for
 * it, else MPEG-4 Part 2; .avi gets MJPG. Writes run on libuv's pool (writeAsync). `close` releases
 * the writer, which finalises the container, also after errors and interrupts.
 */
import { mkdirSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { cv } from '../util/cv.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../pipeline/types.js';

type Writer = InstanceType<typeof cv.VideoWriter>;

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
  codec = '';
  frames = 0;
  private writer: Writer | undefined;

  constructor(readonly path: string) {
    this.name = `video ${path}`;
    if (!codecsByExtension[extname(path).toLowerCase()]) {
      throw new RoadsegError(`unsupported video file type: ${path}`, { hint: `use one of ${Object.keys(codecsByExtension).join(' ')}`, exitCode: ExitCode.usage });
    }
  }

  open(ctx: PipelineContext): void {
    const dir = dirname(resolve(this.path));
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new RoadsegError(`cannot create the output folder for ${this.path}: ${messageOf(e)}`, { where: dir, hint: 'choose a writable location', exitCode: ExitCode.output });
    }
    const size = new cv.Size(ctx.stream.width, ctx.stream.height);
    const tried: string[] = [];
    for (const codec of codecsByExtension[extname(this.path).toLowerCase()]!) {
      try {
        const w = new cv.VideoWriter(this.path, cv.VideoWriter.fourcc(codec), ctx.stream.fps, size, true);
        this.writer = w;
        this.codec = codec;
        return;
      } catch (e) {
        tried.push(`${codec}: ${messageOf(e)}`);
      }
    }
    throw new RoadsegError(`cannot write video ${this.path}`, { where: tried.join('; '), hint: 'check that the folder is writable and the disk has space', exitCode: ExitCode.output });
  }

  async write(frame: ProcessedFrame): Promise<void> {
    try {
      await this.writer!.writeAsync(frame.overlay);
    } catch (e) {
      throw new RoadsegError(`writing frame ${frame.meta.index} to ${this.path} failed: ${messageOf(e)}`, { where: this.path, exitCode: ExitCode.output });
    }
    this.frames++;
  }

  close(): void {
    this.writer?.release();
    this.writer = undefined;
  }

  stats(): Record<string, number | string> {
    return { frames: this.frames, codec: this.codec };
  }
}
