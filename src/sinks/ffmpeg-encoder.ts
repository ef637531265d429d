/**
 * H.264 encoding in an `ffmpeg` child process fed raw BGR frames on its stdin. OpenCV's VideoWriter
 * encodes with x264's default preset (medium), which it offers no way to change, in this process:
 * 63 ms of CPU per 1280x720 frame, more than int8 inference, and ~200 MiB of resident memory. Here
 * the preset is ours (docs/performance.md has the figures), the encoder's memory is not in the
 * pipeline's process, and the file is finalised even if this process dies: ffmpeg sees the end of
 * its input and writes the index.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ExitCode, RoadsegError } from '../util/errors.js';

/** `--video-quality`: x264 settings, cheapest first. */
export const videoQualities = ['fast', 'balanced', 'small', 'sharp'] as const;
export type VideoQuality = (typeof videoQualities)[number];

const x264Settings: Record<VideoQuality, { preset: string; crf: number }> = {
  fast: { preset: 'ultrafast', crf: 23 },
  balanced: { preset: 'superfast', crf: 23 },
  small: { preset: 'veryfast', crf: 26 },
  sharp: { preset: 'veryfast', crf: 18 },
};

export function describeQuality(quality: VideoQuality): string {
  const s = x264Settings[quality];
  return `H.264 (ffmpeg libx264 ${s.preset} crf ${s.crf})`;
}

let ffmpegHasX264: boolean | undefined;

/** Whether an `ffmpeg` with libx264 is on the PATH (checked once). */
export function ffmpegEncoderAvailable(): boolean {
  ffmpegHasX264 ??= (() => {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 && /\blibx264\b/.test(r.stdout);
  })();
  return ffmpegHasX264;
}

export interface EncoderFormat {
  width: number;
  height: number;
  fps: number;
}

export class FfmpegEncoder {
  readonly codec: string;
  /** Frames ffmpeg has encoded so far, from its progress reports (5 a second). */
  framesEncoded = 0;
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderrTail = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    private readonly path: string,
    format: EncoderFormat,
    quality: VideoQuality,
  ) {
    const { preset, crf } = x264Settings[quality];
    this.codec = describeQuality(quality);
    // x264's 4:2:0 needs even sizes: an odd one gets a black line rather than an error.
    const even = format.width % 2 || format.height % 2 ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'] : [];
    const args = [
      '-hide_banner', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', '-stats_period', '0.2', '-y',
      '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-video_size', `${format.width}x${format.height}`, '-framerate', String(format.fps), '-i', 'pipe:0',
      '-an', ...even, '-c:v', 'libx264', '-preset', preset, '-crf', String(crf), '-pix_fmt', 'yuv420p',
      path,
    ];
    // Its own process group: a Ctrl-C at the terminal goes to roadseg only, which stops gracefully,
    // writes the frames in flight and then ends ffmpeg's input (ffmpeg would stop at once).
    this.child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const frames = /.*frame=(\d+)/s.exec(d)?.[1];
      if (frames) this.framesEncoded = Number(frames);
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderrTail = (this.stderrTail + d).slice(-2000)));
    // Write errors (EPIPE once ffmpeg has gone) surface through the exit status.
    this.child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => resolve((this.exit ??= { code, signal }));
      this.child.on('error', (e) => {
        this.stderrTail += e.message;
        done(null, null);
      });
      this.child.on('close', done);
    });
  }

  /** Resolves once ffmpeg has taken the frame (backpressure: at most one frame waits in the pipe). */
  async write(bgr: Buffer): Promise<void> {
    if (this.exit) throw this.failure();
    if (this.child.stdin.write(bgr)) return;
    const drained = new Promise<void>((resolve) => this.child.stdin.once('drain', resolve));
    await Promise.race([drained, this.exited]);
    if (this.exit) throw this.failure();
  }

  /** Ends ffmpeg's input and waits until it has written the file's index. */
  async close(): Promise<void> {
    this.child.stdin.end();
    const { code } = await this.exited;
    if (code !== 0) throw this.failure();
  }

  private failure(): RoadsegError {
    const { code, signal } = this.exit ?? { code: null, signal: null };
    const why = this.stderrTail.trim().split('\n').slice(-3).join('; ') || (signal ? `killed by ${signal}` : `exit code ${code}`);
    return new RoadsegError(`the video encoder (ffmpeg) failed: ${why}`, { where: this.path, hint: 'check the disk and the output path', exitCode: ExitCode.output });
  }
}
