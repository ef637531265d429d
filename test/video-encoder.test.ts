// The video file sink's encoder (an ffmpeg child process): every --video-quality gives a playable
// H.264 file with every frame, odd frame sizes are padded, and a bad value is a usage error.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { data, modelsDir, tempDir, videos } from './helpers/paths.js';
import { readBack, readSignal } from './helpers/video.js';
import { videoQualities } from '../src/sinks/ffmpeg-encoder.js';
import { VideoFileSink } from '../src/sinks/video.js';
import { cv, type Mat } from '../src/util/cv.js';
import type { PipelineContext, ProcessedFrame } from '../src/core/sink.js';

const fast = ['--input-height', '129', '--models-dir', modelsDir, '--no-progress'];
const shortClip = join(videos, 'udacity_vehicledet_test_video.mp4');

function codecOf(path: string): string {
  return execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,pix_fmt', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim();
}

describe('video encoder', () => {
  it.each(videoQualities)('--video-quality %s: a playable H.264 file with every frame', (quality) => {
    const out = tempDir();
    const video = join(out, 'o.mkv');
    const r = runCli(['run', shortClip, video, '--signal', join(out, 's.jsonl'), '--stride', '4', '--video-quality', quality, ...fast]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/codec H\.264 \(ffmpeg libx264 \w+ crf \d+\)/);
    expect(codecOf(video)).toBe('h264,yuv420p');
    expect(readBack(video)).toEqual({ frames: readSignal(join(out, 's.jsonl')).length, width: 1280, height: 720 });
  });

  it('the quality from a config file; odd frame sizes padded to even ones', () => {
    const out = tempDir();
    const config = join(out, 'pipeline.json');
    writeFileSync(config, JSON.stringify({ source: join(data, 'images/unlabeled/kitti_road_kittiseg'), sinks: [join(out, 'o.mp4')], videoQuality: 'small' }));
    const r = runCli(['run', '--config', config, ...fast]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/libx264 veryfast/);
    // KITTI frames are 1242x375: x264's 4:2:0 needs even sizes, so one black row is added.
    expect(readBack(join(out, 'o.mp4'))).toEqual({ frames: 6, width: 1242, height: 376 });
  });

  it('an unknown quality is a usage error', () => {
    const r = runCli(['run', shortClip, join(tempDir(), 'o.mp4'), '--video-quality', 'best', ...fast]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--video-quality/);
  });

  it('a frame of another size is scaled into a Mat of the sink own, released exactly once; the overlay is left to the graph', async () => {
    const out = tempDir();
    const sink = new VideoFileSink(join(out, 'o.avi'));
    sink.open({ stream: { width: 64, height: 48, fps: 10 } } as PipelineContext);
    const scaled: { mat: Mat; releases: number }[] = [];
    const resize = cv.Mat.prototype.resize;
    cv.Mat.prototype.resize = function (this: Mat, ...args: unknown[]) {
      const mat = (resize as (...a: unknown[]) => Mat).apply(this, args);
      const entry = { mat, releases: 0 };
      const release = mat.release.bind(mat);
      mat.release = () => (entry.releases++, release());
      scaled.push(entry);
      return mat;
    } as typeof resize;
    const overlay = new cv.Mat(24, 32, cv.CV_8UC3, [0, 128, 255]);
    try {
      await sink.write({ overlay, meta: { index: 0 } } as unknown as ProcessedFrame);
      await sink.write({ overlay, meta: { index: 1 } } as unknown as ProcessedFrame);
    } finally {
      cv.Mat.prototype.resize = resize;
      await sink.close();
    }
    expect(sink.stats()).toMatchObject({ frames: 2, resized: 2 });
    expect(scaled.map((s) => s.releases)).toEqual([1, 1]);
    expect(overlay.empty).toBeFalsy();
    overlay.release();
  });
});
