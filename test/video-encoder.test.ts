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
});
