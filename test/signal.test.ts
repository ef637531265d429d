// Issue 11: the drivable-area signal through the real CLI on real clips and on clips derived from
// them with ffmpeg (a frozen stretch, darkened, blurred, a still scene): hood, camera health,
// smoothing options, bad input, eval --sequence. Every signal line read is schema-checked (readSignal).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { data, modelsDir, tempDir, videos } from './helpers/paths.js';
import { readSignal } from './helpers/video.js';

const fast = ['--input-height', '129', '--models-dir', modelsDir, '--no-progress'];
const short = join(videos, 'udacity_vehicledet_test_video.mp4');
const night = join(videos, 'udacity_lanelines_pr6_custom_me_night_1.mp4');
const camvidClip = join(videos, 'derived_camvid_0016E5_15fps_from_labelled_frames.mp4');
const dir = tempDir('roadseg-signal-');

/** A clip made from `source` with an ffmpeg filter, small enough to run quickly. */
function derive(name: string, source: string, filter: string, extra: string[] = []): string {
  const out = join(dir, name);
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', ...extra, '-i', source, '-vf', `${filter},scale=640:-2`, '-an', '-c:v', 'libx264', '-crf', '18', '-pix_fmt', 'yuv420p', out]);
  return out;
}

function signalOf(clip: string, extra: string[] = []) {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.jsonl`);
  const r = runCli(['run', clip, '--signal', path, ...fast, ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return { lines: readSignal(path), stderr: r.stderr };
}

const share = <T>(xs: T[], pick: (x: T) => boolean) => xs.filter(pick).length / xs.length;

describe('signal fields on real clips', () => {
  it('the night clip reports its hood (bottom ~18 % of the frame) on most frames', () => {
    const { lines } = signalOf(night);
    expect(lines).toHaveLength(157);
    const withHood = lines.filter((l) => l.hoodY! < 1);
    expect(withHood.length / lines.length).toBeGreaterThan(0.8);
    for (const l of withHood) expect(l.hoodY).toBeGreaterThan(0.7), expect(l.hoodY).toBeLessThan(0.92);
    // The free space never reaches below the hood line, and the corridor no longer counts the bonnet.
    for (const l of withHood) for (const y of l.freeSpace) expect(y).toBeLessThanOrEqual(l.hoodY! + 1e-9);
  });

  it('every line carries confidence, 32 free-space columns, hoodY and camera; --free-space-columns and --hood change them', () => {
    const { lines } = signalOf(short);
    for (const l of lines) {
      expect(l.confidence).toBeGreaterThanOrEqual(0);
      expect(l.freeSpace).toHaveLength(32);
      expect(l.camera?.condition).toBe('ok');
      expect(['ok', 'low-confidence']).toContain(l.status);
    }
    const given = signalOf(short, ['--hood', '0.9', '--free-space-columns', '8', '--no-smooth']).lines;
    for (const l of given) expect(l.hoodY).toBeCloseTo(0.9, 2), expect(l.freeSpace).toHaveLength(8);
    // A threshold above every confidence marks every frame, values still given.
    const strict = signalOf(short, ['--low-confidence', '1']).lines;
    for (const l of strict) expect(l.status).toBe('low-confidence'), expect(l.egoCorridorPct).not.toBeNull();
  });
});

describe('camera health on derived clips', () => {
  let frozen: string, dark: string, blurred: string, still: string;
  beforeAll(() => {
    frozen = derive('frozen.mp4', short, 'tpad=stop_mode=clone:stop_duration=1');
    dark = derive('dark.mp4', short, 'lutyuv=y=val*0.1');
    blurred = derive('blurred.mp4', short, 'gblur=sigma=8');
    // A still scene: one real frame, looped for two seconds.
    still = derive('still.mp4', join(data, 'images', 'camvid', '0016E5_01560.png'), 'fps=15', ['-loop', '1', '-t', '2']);
  });

  it('a frozen stretch is reported as frozen after a few frame intervals, not before', () => {
    const { lines } = signalOf(frozen);
    const first = lines.findIndex((l) => l.camera?.condition === 'frozen');
    expect(first).toBeGreaterThan(38); // the clip's own 38 frames move
    expect(first).toBeLessThanOrEqual(38 + 7);
    for (const l of lines.slice(first)) expect(l).toMatchObject({ status: 'camera-fault', camera: { condition: 'frozen' } });
  });

  it('a darkened clip is too dark, a blurred one blurred; values are still given', () => {
    const d = signalOf(dark).lines;
    expect(share(d, (l) => l.camera?.condition === 'dark' && l.status === 'camera-fault')).toBe(1);
    expect(d.every((l) => typeof l.egoCorridorPct === 'number')).toBe(true);
    const b = signalOf(blurred).lines;
    expect(share(b, (l) => l.camera?.condition === 'blurred')).toBeGreaterThan(0.9);
  });

  it('a still scene: the hood cannot settle (said once, no hood) and the picture is frozen', () => {
    const { lines, stderr } = signalOf(still);
    expect(stderr.match(/hood: .*cannot be estimated/g)).toHaveLength(1);
    expect(lines.every((l) => l.hoodY === 1)).toBe(true);
    expect(lines.at(-1)!.camera?.condition).toBe('frozen');
  });
});

describe('signal options: bad input', () => {
  it.each([
    [['--hood', '1.5'], '"1.5"'],
    [['--hood', 'bonnet'], '"bonnet"'],
    [['--smooth', '2'], '"2"'],
    [['--smooth', '-0.1'], '"-0.1"'],
    [['--low-confidence', '3'], '"3"'],
  ])('%s is a usage error naming the value', (flags, named) => {
    const r = runCli(['run', short, ...fast, ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(named);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [{ polygon: [[0, 1], [1, 1]] }, 'at least 3 points, got 2'],
    [{ polygon: [[0, 1], [0.5, 1.2], [1, 1]] }, 'hood polygon y 1.2 is outside the image'],
    [1.5, 'hood line 1.5 is outside the image'],
  ])('config hood %j is a usage error naming the value', (hood, message) => {
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ source: short, hood }));
    const r = runCli(['run', '--config', cfg, ...fast]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('a hood polygon from the config is used', () => {
    const cfg = join(dir, 'poly.json');
    writeFileSync(cfg, JSON.stringify({ source: short, hood: { polygon: [[0, 1], [0, 0.9], [0.5, 0.85], [1, 0.9], [1, 1]] } }));
    const path = join(dir, 'poly.jsonl');
    expect(runCli(['run', '--config', cfg, '--signal', path, ...fast]).code).toBe(0);
    for (const l of readSignal(path)) expect(l.hoodY).toBeCloseTo(0.85, 2);
  });
});

describe('eval --sequence', () => {
  it('compares the signal with the labels frame by frame, smoothed and plain', () => {
    const r = runCli(['eval', '--sequence', camvidClip, '--labels', join(data, 'sequences', 'camvid_0016E5_15hz', 'labels'), '--json', ...fast.slice(0, 4)]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { frames: number; labels: { egoChange: number }; signal: Record<string, number>; plain: Record<string, number> };
    expect(report.frames).toBe(101);
    expect(report.labels.egoChange).toBeGreaterThan(0);
    for (const s of [report.signal, report.plain]) {
      for (const k of ['drivableError', 'egoError', 'egoChange', 'egoChangeRatio', 'egoLagFrames', 'meanConfidence']) expect(typeof s[k]).toBe('number');
    }
    // Smoothing calms the signal without lagging it by more than a frame.
    expect(report.signal.egoChange!).toBeLessThan(report.plain.egoChange!);
    expect(report.signal.egoLagFrames).toBeLessThanOrEqual(1);
  });

  it('needs --images and --labels, or --sequence', () => {
    const r = runCli(['eval', '--models-dir', modelsDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--sequence');
  });
});
