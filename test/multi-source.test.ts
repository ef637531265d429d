// Several sources in one run, through the real CLI, model, OpenCV decoding and encoding.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cv } from '../src/util/cv.js';
import { runCli, startCli } from './helpers/cli.js';
import { modelsDir, tempDir, videos } from './helpers/paths.js';
import { waitFor } from './helpers/servers.js';
import { readBack, readSignal } from './helpers/video.js';

const fast = ['--input-height', '129', '--models-dir', modelsDir, '--no-progress'];
const dir = tempDir('roadseg-multi-');

/** A short clip cut from a shipped one, at its own size and length (moov first, so a cut file still decodes). */
function clip(name: string, from: string, frames: number, width: number): string {
  const out = join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', join(videos, from), '-frames:v', String(frames), '-vf', `scale=${width}:-2`, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', out]);
  return out;
}

let a: string, b: string, c: string;
beforeAll(() => {
  a = clip('highway.mp4', 'udacity_vehicledet_pr2_test_small2.mp4', 14, 640);
  b = clip('lanes.mp4', 'udacity_lanelines_solidWhiteRight.mp4', 9, 640);
  c = clip('city.mp4', 'derived_camvid_0016E5_15fps_from_labelled_frames.mp4', 18, 480);
});

const key = (l: { frame: number; drivablePct: number | null; egoCorridorPct: number | null }) => [l.frame, l.drivablePct, l.egoCorridorPct];

describe('several sources in one run', () => {
  it('replays three clips of different lengths and sizes completely, each as if alone, in batches', () => {
    const out = tempDir();
    const r = runCli(['run', '--source', a, '--source', b, '--source', c, '--signal', join(out, 'all.jsonl'), '--out', join(out, '{source}.mp4'), '--summary', join(out, 's.json'), ...fast]);
    expect(r.stderr).not.toMatch(/    at /);
    expect(r.code).toBe(0);
    const all = readSignal(join(out, 'all.jsonl'));
    const summary = JSON.parse(readFileSync(join(out, 's.json'), 'utf8'));
    for (const [path, id, frames] of [
      [a, 'highway.mp4', 14],
      [b, 'lanes.mp4', 9],
      [c, 'city.mp4', 18],
    ] as const) {
      const mine = all.filter((l) => l.source === id);
      expect(mine.map((l) => l.frame)).toEqual([...Array(frames).keys()]);
      expect(readBack(join(out, id)).frames).toBe(frames);
      expect(summary.sources[id].framesOut).toBe(frames);
      const alone = tempDir();
      expect(runCli(['run', path, '--signal', join(alone, 's.jsonl'), ...fast]).code).toBe(0);
      expect(mine.map(key)).toEqual(readSignal(join(alone, 's.jsonl')).map(key));
    }
    // The two 640-wide clips have one input size: their frames were inferred together.
    expect(Object.keys(summary.batches.sizes).map(Number).some((n) => n > 1)).toBe(true);
    expect(r.stderr).toMatch(/batches: \d+ inference calls, sizes .*2x\d+/);
  });

  it('a damaged clip among good ones fails alone: the others complete, every output is finalised, exit 3', () => {
    const out = tempDir();
    const whole = readFileSync(c);
    const cut = join(dir, 'cut.mp4');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.5)));
    const r = runCli(['run', '--source', a, '--source', cut, '--source', b, '--signal', join(out, 'all.jsonl'), '--out', join(out, '{source}.mp4'), ...fast]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: input ended early/m);
    expect(r.stderr).not.toMatch(/    at /);
    const all = readSignal(join(out, 'all.jsonl'));
    expect(all.filter((l) => l.source === 'highway.mp4')).toHaveLength(14);
    expect(all.filter((l) => l.source === 'lanes.mp4')).toHaveLength(9);
    const cutLines = all.filter((l) => l.source === 'cut.mp4');
    expect(cutLines.length).toBeGreaterThan(0);
    expect(cutLines.length).toBeLessThan(18);
    expect(readBack(join(out, 'cut.mp4')).frames).toBe(cutLines.length);
    expect(readBack(join(out, 'highway.mp4')).frames).toBe(14);
  });

  it('a realtime-paced source beside a lossless file keeps the freshest frame: each of its frames went out or was dropped, none queued behind the file', () => {
    const out = tempDir();
    const config = join(out, 'pipeline.json');
    const live = join(videos, 'udacity_vehicledet_pr2_test_small1.mp4');
    writeFileSync(config, JSON.stringify({ sources: [{ uri: live, realtime: true, id: 'cam' }, a], sinks: [`signal:${join(out, 'all.jsonl')}`], inputHeight: 257, modelsDir }));
    const r = runCli(['run', '--config', config, '--summary', join(out, 's.json'), '--no-progress']);
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(join(out, 's.json'), 'utf8'));
    const cam = s.sources.cam;
    expect(cam.framesIn).toBe(88);
    expect(s.sources['highway.mp4'].framesOut).toBe(14);
    const dropped = Object.values(cam.drops as Record<string, number>).reduce((x, y) => x + y, 0);
    expect(cam.framesOut + dropped).toBe(cam.framesIn);
  });

  it('a video file without {source} in a run of several sources is a usage error naming the fix', () => {
    const r = runCli(['run', '--source', a, '--source', b, '--out', join(tempDir(), 'one.mp4'), ...fast]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/takes the frames of one source, and this run has 2/);
    expect(r.stderr).toMatch(/\{source\}/);
  });

  it('the window tiles the sources, each tile showing its own source', async () => {
    const display = `:${100 + (process.pid % 800)}`;
    const xvfb = spawn('Xvfb', [display, '-screen', '0', '1600x900x24'], { stdio: 'ignore' });
    try {
      // The X server is up once its socket exists.
      await waitFor(() => existsSync(`/tmp/.X11-unix/X${display.slice(1)}`), 60_000, 'Xvfb');
      const signal = join(tempDir(), 's.jsonl');
      const run = startCli(['run', '--source', a, '--source', c, '--loop', '--window', '--signal', signal, ...fast], { env: { DISPLAY: display } });
      await waitFor(() => readSignalSafe(signal) >= 20, 120_000, 'frames in the window');
      const shot = join(tempDir(), 'screen.png');
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'x11grab', '-video_size', '1600x900', '-i', display, '-frames:v', '1', shot]);
      run.child.kill('SIGINT');
      expect((await run.done).code).toBe(130);
      // Two 640-pixel tiles side by side below the window's toolbar: both show a picture.
      const screen = cv.imread(shot);
      const mean = (x: number) => screen.getRegion(new cv.Rect(x, 120, 500, 200)).mean().w + screen.getRegion(new cv.Rect(x, 120, 500, 200)).mean().x;
      expect(mean(40)).toBeGreaterThan(20);
      expect(mean(680)).toBeGreaterThan(20);
    } finally {
      xvfb.kill();
    }
  });
});

function readSignalSafe(path: string): number {
  try {
    return readFileSync(path, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}
