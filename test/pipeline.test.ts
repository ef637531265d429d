// The streaming graph through the real CLI, model, OpenCV decoding and encoding.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ffmpeg, runCli, startCli } from './helpers/cli.js';
import { cli, modelsDir, tempDir, videos } from './helpers/paths.js';
import { waitFor } from './helpers/servers.js';
import { allClips, clipFrames, readBack, readSignal } from './helpers/video.js';

// Small model input: these tests are about the graph (every frame, order, finalised files), not
// accuracy, and CI has two cores.
const fast = ['--input-height', '129', '--models-dir', modelsDir, '--no-progress'];
const shortClip = join(videos, 'udacity_vehicledet_test_video.mp4');

describe('replay of every real clip', () => {
  for (const clip of allClips()) {
    it(`${basename(clip)}: every frame to the video and the signal, in order`, () => {
      const out = tempDir();
      const video = join(out, 'overlay.mp4');
      const signal = join(out, 'signal.jsonl');
      const r = runCli(['run', clip, video, '--signal', signal, '--summary', join(out, 'summary.json'), ...fast]);
      expect(r.stderr).not.toMatch(/internal error|error:/);
      expect(r.code).toBe(0);
      const expected = clipFrames[basename(clip)]!;
      const back = readBack(video);
      expect(back.frames).toBe(expected);
      const lines = readSignal(signal);
      expect(lines.map((l) => l.frame)).toEqual([...Array(expected).keys()]);
      expect(lines.every((l, i) => i === 0 || l.ptsMs > lines[i - 1]!.ptsMs)).toBe(true);
      expect(lines[0]).toMatchObject({ v: 1, type: 'signal', source: basename(clip), device: 'cpu', status: 'ok' });
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      expect(summary).toMatchObject({ framesIn: expected, framesOut: expected, drops: {} });
      expect(r.stderr).toMatch(/lossless policy/);
    });
  }
});

describe('policies', () => {
  it('a realtime-paced file with inference slower than its frame rate drops frames and counts them, queueing none', () => {
    const out = tempDir();
    const signal = join(out, 'signal.jsonl');
    // The clip's 88 frames retimed to 250 fps (4 ms apart): full-size float DeepLabV3 is slower than
    // that on any CPU, so the freshest-frame policy must drop, however fast the machine is.
    const clip = join(out, 'fast.mp4');
    ffmpeg('-i', join(videos, 'udacity_vehicledet_pr2_test_small1.mp4'), '-an', '-vf', 'setpts=N/(250*TB)', '-fps_mode', 'passthrough', '-video_track_timescale', '250', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', clip);
    const r = runCli(['run', clip, '--device', 'cpu', '--model', 'deeplabv3-mnedgetpu-slim', '--precision', 'fp32', '--realtime', '--signal', signal, '--summary', join(out, 's.json'), '--models-dir', modelsDir, '--no-progress']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/freshest-frame policy/);
    const s = JSON.parse(readFileSync(join(out, 's.json'), 'utf8'));
    expect(s.framesIn).toBe(88);
    const dropped = Object.values(s.drops as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(s.framesOut + dropped).toBe(s.framesIn);
    // No queue builds up behind the slow stage: the frames it could not take were dropped, not held
    // (a state, whatever the machine's speed; latency in milliseconds is the bench's to measure).
    const lines = readSignal(signal);
    expect(lines).toHaveLength(s.framesOut);
    expect(lines.every((l, i) => i === 0 || l.frame > lines[i - 1]!.frame)).toBe(true);
    expect(lines.some((l, i) => i > 0 && l.frame - lines[i - 1]!.frame > 1)).toBe(true);
  });

  it('a config file is equivalent to the flags', () => {
    const out = tempDir();
    const cfg = join(out, 'pipeline.json');
    writeFileSync(cfg, JSON.stringify({ source: shortClip, sinks: [`signal:${join(out, 'a.jsonl')}`], inputHeight: 129, modelsDir, stride: 3 }));
    expect(runCli(['run', '--config', cfg, '--no-progress']).code).toBe(0);
    expect(runCli(['run', shortClip, '--signal', join(out, 'b.jsonl'), '--stride', '3', ...fast]).code).toBe(0);
    const strip = (p: string) => readSignal(p).map(({ captureTime: _c, latencyMs: _l, ...rest }) => rest);
    expect(strip(join(out, 'a.jsonl'))).toEqual(strip(join(out, 'b.jsonl')));
    expect(strip(join(out, 'a.jsonl')).map((l) => l.frame)).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36]);
  });

  it('start and duration select a span by presentation time', () => {
    const out = tempDir();
    expect(runCli(['run', shortClip, '--start', '0.4', '--duration', '0.4', '--signal', join(out, 's.jsonl'), ...fast]).code).toBe(0);
    const lines = readSignal(join(out, 's.jsonl'));
    expect(lines.length).toBe(10);
    expect(lines[0]).toMatchObject({ frame: 10, ptsMs: 400 });
  });

  it('on a terminal, the where-line and the bar count the frames --start, --duration and --stride leave, once', () => {
    const out = tempDir();
    const signal = join(out, 's.jsonl');
    const args = ['run', shortClip, '--start', '0.4', '--duration', '0.8', '--stride', '2', '--signal', signal, '--input-height', '129', '--models-dir', modelsDir];
    // `script` gives the run a terminal, so that it draws the bar.
    const r = spawnSync('script', ['-qefc', [process.execPath, cli, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status).toBe(0);
    expect(readSignal(signal).map((l) => l.frame)).toEqual([10, 12, 14, 16, 18, 20, 22, 24, 26, 28]);
    expect(r.stdout).toMatch(/fps, about 10 frames; lossless policy/);
    expect(r.stdout).toMatch(/ 0\/~10 frames /);
    expect(r.stdout).toMatch(/ 100% \| 10\/10 frames /);
  });
});

describe('stopping', () => {
  /** A looping run with video and signal outputs, once more than `lines` signal lines are out. */
  async function loopingRun(lines: number) {
    const out = tempDir();
    const video = join(out, 'o.mp4');
    const signal = join(out, 's.jsonl');
    const run = startCli(['run', shortClip, '--loop', video, '--signal', signal, ...fast]);
    await waitFor(() => existsSync(signal) && readFileSync(signal, 'utf8').split('\n').length > lines, 60_000);
    return { run, video, signal };
  }

  it('SIGINT in mid-run leaves a playable video and complete signal lines', async () => {
    const { run, video, signal } = await loopingRun(15);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/SIGINT: stopping/);
    const lines = readSignal(signal);
    expect(lines.length).toBeGreaterThan(15);
    expect(readBack(video).frames).toBe(lines.length);
  });

  it('SIGTERM and a second SIGINT also leave valid outputs', async () => {
    for (const signals of [['SIGTERM'], ['SIGINT', 'SIGINT']] as const) {
      const { run, video, signal } = await loopingRun(10);
      for (const s of signals) run.child.kill(s);
      const r = await run.done;
      expect(r.code).toBe(signals[0] === 'SIGTERM' ? 143 : 130);
      const lines = readSignal(signal);
      expect(readBack(video).frames).toBeGreaterThanOrEqual(lines.length - 3);
    }
  });

  it('SIGKILL: the video is still finalised (its encoder, a separate process, sees its input end)', async () => {
    const { run, video, signal } = await loopingRun(10);
    run.child.kill('SIGKILL');
    await run.done;
    let frames = 0;
    await waitFor(() => {
      try {
        frames = readBack(video).frames;
      } catch {
        frames = 0;
      }
      return frames > 0;
    }, 60_000);
    // Frames the encoder had taken, up to those in the graph when it was killed.
    const lines = readFileSync(signal, 'utf8').split('\n').length - 1;
    expect(frames).toBeGreaterThanOrEqual(lines - 3);
  });
});

describe('window sink', () => {
  it('shows frames under Xvfb', () => {
    const out = tempDir();
    const r = runCli(['run', shortClip, '--window', '--summary', join(out, 's.json'), ...fast], { wrap: ['xvfb-run', '-a'] });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(join(out, 's.json'), 'utf8'));
    expect(s.sinks.window.shown).toBeGreaterThan(0);
  });

  it('a missing display is a clear error before anything starts', () => {
    const r = runCli(['run', shortClip, '--window', ...fast], { env: { DISPLAY: '', WAYLAND_DISPLAY: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no display for --window/);
    expect(r.stderr).not.toMatch(/device:/); // failed before the model was loaded
  });
});

describe('bad inputs give clear errors', () => {
  const cases: [string, () => string, number, RegExp][] = [
    ['a nonexistent path', () => '/nonexistent/clip.mp4', 3, /input not found: \/nonexistent\/clip\.mp4/],
    ['a zero-byte file', () => write('empty.mp4', Buffer.alloc(0)), 3, /empty file/],
    ['random bytes named .mp4', () => write('random.mp4', Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) % 251))), 3, /cannot open video random\.mp4/],
    ['a text file', () => write('notes.txt', Buffer.from('hello')), 3, /cannot open video notes\.txt/],
    ['an unknown URI scheme', () => 'foo://camera', 2, /unknown source URI scheme: foo:\/\/camera/],
    ['a camera that does not exist', () => 'camera:7', 3, /camera 7 not found/],
    ['an mp4 whose index is cut off', () => truncated('udacity_vehicledet_pr2_test_small1.mp4', 0.5), 3, /cannot open video/],
  ];
  for (const [name, make, code, message] of cases) {
    it(name, () => {
      const r = runCli(['run', make(), '--signal', join(tempDir(), 's.jsonl'), ...fast]);
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^error: /m);
      expect(r.stderr).not.toMatch(/    at /);
    });
  }

  it('an mp4 truncated in the middle: the frames before the cut are processed and finalised, then a clear error', () => {
    const out = tempDir();
    const r = runCli(['run', truncated('udacity_lanelines_solidWhiteRight.mp4', 0.5), join(out, 'o.mp4'), '--signal', join(out, 's.jsonl'), ...fast]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/input ended early: decoded \d+ of the 221 frames/);
    const lines = readSignal(join(out, 's.jsonl'));
    expect(lines.length).toBeGreaterThan(50);
    expect(readBack(join(out, 'o.mp4')).frames).toBe(lines.length);
  });

  it('an unknown sink is a clear error', () => {
    const r = runCli(['run', shortClip, 'out.xyz', ...fast]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unsupported video file type: out\.xyz/);
  });
});

function write(name: string, content: Buffer): string {
  const p = join(tempDir(), name);
  writeFileSync(p, content);
  return p;
}

function truncated(clip: string, fraction: number): string {
  const src = readFileSync(join(videos, clip));
  const p = join(tempDir(), `cut_${clip}`);
  writeFileSync(p, src.subarray(0, Math.floor(src.length * fraction)));
  return p;
}
