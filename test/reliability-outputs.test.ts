// Issue 14, outputs: readers that go away, outputs that cannot be written, outputs that clash with
// the input or each other or another run, interrupts, runs that produce nothing. Each through the
// real CLI, asserting the message, the exit status, and that every output left behind is complete.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, expectClean, ffmpeg, runCli, startCli, testClip } from './helpers/cli.js';
import { cli, data, modelsDir, repoRoot, tempDir } from './helpers/paths.js';
import { readOnlyTmpfsForSuite } from './helpers/mounts.js';
import { readBack, readSignal } from './helpers/video.js';

const fast = ['--input-height', '65', '--models-dir', modelsDir, '--no-progress'];
const street = join(data, 'images/camvid/0001TP_008550.png');
let dir: string;
/** 2 s at 10 fps, 160x90: 20 frames. */
let clip: string;

/** The model was not loaded: the run failed before it (the device line comes with the model). */
const beforeModel = (r: CliResult) => expect(r.stderr).not.toMatch(/device: /);

beforeAll(() => {
  dir = tempDir();
  clip = join(dir, 'clip.mp4');
  testClip(clip);
});

/** A run whose stdout reader goes away after the first line, as `| head -1` does. */
function runHeadOne(args: string[]): Promise<CliResult & { firstLine: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let firstLine = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (firstLine) return;
      firstLine = d.split('\n')[0]!;
      child.stdout.destroy();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout: firstLine, stderr, firstLine }));
  });
}

describe('a reader that goes away', () => {
  it('run --signal - | head -1: the stdout sink ends quietly and counted, the video is complete', async () => {
    const out = join(tempDir(), 'o.mp4');
    const r = await runHeadOne(['run', clip, out, '--signal', '-', ...fast]);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.firstLine)).toMatchObject({ type: 'signal', frame: 0 });
    expect(r.stderr).toMatch(/standard output was closed by its reader after \d+ signal lines/);
    expect(r.stderr).toMatch(/sink signal stdout: lines \d+, dropped 0, notSent \d+/);
    expect(readBack(out).frames).toBe(20);
  });

  it('run - | head -1 with no other sink: the run stops early, exit 0', async () => {
    const r = await runHeadOne(['run', clip, '-', '--loop', ...fast]);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/stopping/);
  });

  it('segment | head -1: every image is still segmented and written', async () => {
    const images = tempDir();
    for (const n of ['a', 'b', 'c']) ffmpeg('-i', street, '-vf', 'scale=96:72', join(images, `${n}.png`));
    const out = tempDir();
    const r = await runHeadOne(['segment', images, '-o', out, ...fast.slice(0, 4)]);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(readdirSync(out).filter((f) => f.endsWith('.json'))).toHaveLength(3);
  });
});

describe('outputs that cannot be written: exit 5 before the model loads, nothing reported as written', () => {
  it('a folder named out.mp4, a 300-character file name, a --summary that is a folder', () => {
    const d = tempDir();
    mkdirSync(join(d, 'out.mp4'));
    const cases: [string[], RegExp][] = [
      [[join(d, 'out.mp4')], /a folder of that name is in the way/],
      [[join(d, `${'a'.repeat(300)}.mp4`)], /file name is 304 bytes long/],
      [['--signal', join(d, 's.jsonl'), '--summary', join(d, 'out.mp4')], /--summary file .*a folder of that name is in the way/],
    ];
    for (const [args, message] of cases) {
      const r = runCli(['run', clip, ...args, ...fast]);
      expectClean(r);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/where: .*\n\s+hint: /);
      beforeModel(r);
    }
    expect(existsSync(join(d, 's.jsonl'))).toBe(false);
  });

  describe('a read-only place (a read-only tmpfs mount)', () => {
    const ro = readOnlyTmpfsForSuite((dir) => {
      writeFileSync(join(dir, 'old.mp4'), 'an older file');
      writeFileSync(join(dir, 'old.jsonl'), '');
    });

    it('an existing read-only output file, a new file in a read-only folder, a read-only --summary', (ctx) => {
      const mnt = ro.path;
      if (!mnt) return ctx.skip(ro.skip);
      for (const args of [[join(mnt, 'old.mp4')], ['--signal', join(mnt, 'new.jsonl')], ['--signal', join(tempDir(), 's.jsonl'), '--summary', join(mnt, 'summary.json')]]) {
        const r = runCli(['run', clip, ...args, ...fast]);
        expectClean(r);
        expect(r.code).toBe(5);
        expect(r.stderr).toMatch(/cannot write .*read-only file system/);
        beforeModel(r);
      }
      expect(readFileSync(join(mnt, 'old.mp4'), 'utf8')).toBe('an older file');
    });
  });
});

describe('outputs that clash', () => {
  it('an output that is the input: exit 2, the input untouched', () => {
    const copy = join(tempDir(), 'same.mp4');
    writeFileSync(copy, readFileSync(clip));
    const before = statSync(copy).size;
    for (const args of [[copy], ['--signal', copy], ['--out', join(copy, '..', '.', 'same.mp4')]]) {
      const r = runCli(['run', copy, ...args, ...fast]);
      expectClean(r);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is the input file: writing it would destroy the input/);
    }
    expect(statSync(copy).size).toBe(before);
    expect(readBack(copy).frames).toBe(20);
  });

  it('two outputs on one path, stdout twice: exit 2', () => {
    const d = tempDir();
    const cases: [string[], RegExp][] = [
      [[join(d, 'o.mp4'), '--out', join(d, 'o.mp4')], /given twice as an output \(video sink and video sink\)/],
      [['--signal', join(d, 's.jsonl'), '--summary', join(d, 's.jsonl')], /given twice as an output \(signal sink and --summary file\)/],
      [['-', 'signal:-'], /standard output is given twice/],
    ];
    for (const [args, message] of cases) {
      const r = runCli(['run', clip, ...args, ...fast]);
      expectClean(r);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(readdirSync(d)).toEqual([]);
  });

  it('an output in use by another run: exit 5 for the second; the first completes untorn', async () => {
    const d = tempDir();
    const signal = join(d, 's.jsonl');
    const first = startCli(['run', clip, '--loop', '--signal', signal, ...fast]);
    const t0 = Date.now();
    while (!(existsSync(signal) && readFileSync(signal, 'utf8').length > 0)) {
      if (Date.now() - t0 > 60_000) throw new Error('the first run wrote nothing');
      await new Promise((r) => setTimeout(r, 100));
    }
    const second = await startCli(['run', clip, '--signal', signal, ...fast]).done;
    first.child.kill('SIGINT');
    const r = await first.done;
    expectClean(second);
    expect(second.code).toBe(5);
    expect(second.stderr).toMatch(/being written by another roadseg run \(pid \d+\)/);
    beforeModel(second);
    expect(r.code).toBe(130);
    const lines = readSignal(signal);
    expect(lines.every((l, i) => i === 0 || l.frame > lines[i - 1]!.frame)).toBe(true);
    expect(readdirSync(d)).toEqual(['s.jsonl']);
  });

  it('a lock left by a killed run is taken over', () => {
    const d = tempDir();
    writeFileSync(join(d, '.s.jsonl.roadseg-lock'), '999999999\n');
    const r = runCli(['run', clip, '--signal', join(d, 's.jsonl'), '--stride', '10', ...fast]);
    expect(r.code).toBe(0);
    expect(readSignal(join(d, 's.jsonl'))).toHaveLength(2);
    expect(readdirSync(d)).toEqual(['s.jsonl']);
  });
});

describe('interrupts', () => {
  // A second SIGINT soon after the first: test/reliability-interrupts.test.ts (loops of tries).

  it('SIGTERM while the model loads: exit 143, a message, no empty output files', async () => {
    const d = tempDir();
    const run = startCli(['run', clip, join(d, 'o.mp4'), '--signal', join(d, 's.jsonl'), ...fast]);
    const t0 = Date.now();
    // The lock files appear when the outputs are checked, before the model loads.
    while (!readdirSync(d).some((f) => f.endsWith('roadseg-lock'))) {
      if (Date.now() - t0 > 30_000) throw new Error('no lock files');
      await new Promise((r) => setTimeout(r, 5));
    }
    run.child.kill('SIGTERM');
    const r = await run.done;
    expectClean(r);
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/SIGTERM: stopping/);
    expect(readdirSync(d)).toEqual([]);
  });
});

describe('runs that produce nothing: exit 3, no empty outputs', () => {
  it('a PNG named .mp4, --start past the end, an existing output left as it was', () => {
    const d = tempDir();
    const fake = join(d, 'picture.mp4');
    writeFileSync(fake, readFileSync(street));
    writeFileSync(join(d, 'keep.jsonl'), '{"older":"run"}\n');
    const cases: [string, string[], RegExp][] = [
      [fake, [], /the input has no frames to process/],
      [clip, ['--start', '50'], /--start 50 s is past the end of the input/],
    ];
    for (const [source, extra, message] of cases) {
      const r = runCli(['run', source, join(d, 'o.mp4'), '--signal', join(d, 'keep.jsonl'), ...extra, ...fast]);
      expectClean(r);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/where: .*\n\s+hint: /);
      expect(readdirSync(d).sort()).toEqual(['keep.jsonl', 'picture.mp4']);
      expect(readFileSync(join(d, 'keep.jsonl'), 'utf8')).toBe('{"older":"run"}\n');
    }
  });
});
