// Issue 20, section 3 and part of 7: an output never replaces an input or another output, whatever
// name reaches it (a hard link, a symbolic link to the file or to its folder), for every command
// that writes files; a run whose source fails still writes its --summary, with the failed
// source's reason; `{source}` in --summary and --report gives one file per source. Each through
// the real CLI, asserting the message, the exit status and that the input's bytes are unchanged.
import { linkSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, ffmpeg, runCli, testClip } from './helpers/cli.js';
import { data, modelsDir, repoRoot, tempDir, videos } from './helpers/paths.js';
import { readSignal } from './helpers/video.js';

const fast = ['--input-height', '65', '--models-dir', modelsDir, '--no-progress'];
const street = join(data, 'images/camvid/0001TP_008550.png');
/** 2 s at 10 fps, 160x90: 20 frames. */
let clip: string;

/** A clean refusal: exit 2 with what, where and hint, no stack trace, before the model loads. */
function expectRefused(r: CliResult, message: RegExp): void {
  expect(r.stderr).not.toMatch(/internal error|\n\s+at .*:\d+:\d+|Unhandled/);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).toMatch(/error: [^]*?\n\s+where: .*\n\s+hint: /);
  expect(r.stderr).not.toMatch(/device: /);
}

beforeAll(() => {
  clip = join(tempDir(), 'clip.mp4');
  testClip(clip);
});

describe('an output that is an input under another name', () => {
  it('run: a hard link, a symbolic link, a linked folder of the input as the video, --signal, --summary, --report: exit 2, the input unchanged', () => {
    const d = tempDir();
    const input = join(d, 'in.mp4');
    writeFileSync(input, readFileSync(clip));
    const bytes = readFileSync(input);
    linkSync(input, join(d, 'hard.mp4'));
    symlinkSync('in.mp4', join(d, 'soft.mp4'));
    symlinkSync('.', join(d, 'here'));
    const hard: [string, RegExp] = [join(d, 'hard.mp4'), /hard\.mp4 is a hard link to .*in\.mp4/];
    const soft: [string, RegExp] = [join(d, 'soft.mp4'), /soft\.mp4 leads to .*in\.mp4 through a symbolic link/];
    const folder: [string, RegExp] = [join(d, 'here', 'in.mp4'), /here\/in\.mp4 leads to .*in\.mp4 through a symbolic link/];
    const as = { video: (p: string) => [p], '--signal': (p: string) => ['--signal', p], '--summary': (p: string) => ['--summary', p], '--report': (p: string) => ['--report', p] };
    const what = { video: 'video sink', '--signal': 'signal sink', '--summary': '--summary file', '--report': '--report file' };
    // The hard link as each output; the two kinds of symbolic link as two each (one run costs a start of OpenCV).
    const cases: [keyof typeof as, [string, RegExp]][] = [
      ['video', hard], ['--signal', hard], ['--summary', hard], ['--report', hard],
      ['video', soft], ['--summary', soft], ['--signal', folder], ['--report', folder],
    ];
    for (const [flag, [name, how]] of cases) {
      const r = runCli(['run', input, ...as[flag](name), ...fast]);
      expectRefused(r, new RegExp(`the ${what[flag]} .* is the input file: writing it would destroy the input file`));
      expect(r.stderr).toMatch(how);
    }
    expect(readFileSync(input).equals(bytes)).toBe(true);
    expect(readdirSync(d).sort()).toEqual(['hard.mp4', 'here', 'in.mp4', 'soft.mp4']);
  });

  it('run: the --config file or a model manifest as --summary or a sink: exit 2, the file unchanged', () => {
    const d = tempDir();
    const config = join(d, 'cfg.json');
    writeFileSync(config, '{"fps": 10}');
    const r = runCli(['run', clip, '-c', config, '-s', join(d, 's.jsonl'), '--summary', config, ...fast]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is the config file/);
    expect(readFileSync(config, 'utf8')).toBe('{"fps": 10}');
    const manifest = join(d, 'model.json');
    const text = readFileSync(join(repoRoot, 'models', 'efficientvit-b0.json'), 'utf8');
    writeFileSync(manifest, text);
    const m = runCli(['run', clip, '--model', manifest, '-s', manifest, ...fast]);
    expect(m.code, m.stderr).toBe(2);
    expect(m.stderr).toMatch(/is the model manifest/);
    expect(readFileSync(manifest, 'utf8')).toBe(text);
  });

  it('report s.jsonl -o s.jsonl, through a symbolic link, through a hard link: exit 2, the signal untouched', () => {
    const d = tempDir();
    const signal = join(d, 's.jsonl');
    expect(runCli(['run', clip, '--signal', signal, '--stride', '5', ...fast]).code).toBe(0);
    const bytes = readFileSync(signal);
    linkSync(signal, join(d, 'hard.jsonl'));
    symlinkSync('s.jsonl', join(d, 'report.html'));
    const cases: [string, RegExp][] = [
      [signal, /the report .*s\.jsonl is the signal file: writing it would destroy the signal file/],
      [join(d, 'report.html'), /report\.html leads to .*s\.jsonl through a symbolic link/],
      [join(d, 'hard.jsonl'), /hard\.jsonl is a hard link to .*s\.jsonl/],
    ];
    for (const [out, message] of cases) {
      const r = runCli(['report', signal, '-o', out]);
      expectRefused(r, message);
      expect(r.stderr).toMatch(/hint: +give -o another file name/);
    }
    expect(readFileSync(signal).equals(bytes)).toBe(true);
    expect(readSignal(signal)).toHaveLength(4);
    // Another name is written as before.
    const r = runCli(['report', signal, '-o', join(d, 'other.html')]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(d, 'other.html'), 'utf8')).toMatch(/^<!doctype html>/i);
  });

  it("segment: an output that is a hard or symbolic link of an input image: exit 2, the image unchanged", () => {
    const images = tempDir();
    const image = join(images, 'a.png');
    ffmpeg('-i', street, '-vf', 'scale=96:72', image);
    const bytes = readFileSync(image);
    const out = tempDir();
    const cases: [string, (target: string) => void, RegExp][] = [
      ['a_labels.png', (target) => linkSync(image, target), /a_labels\.png is a hard link to .*a\.png/],
      ['a.json', (target) => symlinkSync(image, target), /a\.json leads to .*a\.png through a symbolic link/],
    ];
    for (const [name, make, how] of cases) {
      make(join(out, name));
      const r = runCli(['segment', images, '-o', out, '--input-height', '65', '--models-dir', modelsDir]);
      expectRefused(r, /the output .* is the input image: writing it would destroy the input image/);
      expect(r.stderr).toMatch(how);
      expect(r.stderr).toMatch(/hint: +write to another --out folder/);
      expect(readdirSync(out)).toEqual([name]);
      rmSync(join(out, name));
    }
    expect(readFileSync(image).equals(bytes)).toBe(true);
  });
});

interface SourceSummary {
  framesOut: number;
  failed?: string;
}

describe('a run whose source fails', () => {
  /** The first half of a shipped clip (its index is at the front): 11 of its 38 frames decode. */
  function truncatedClip(dir: string): string {
    const whole = readFileSync(join(videos, 'udacity_vehicledet_test_video.mp4'));
    const cut = join(dir, 'cut.mp4');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    return cut;
  }

  it('two sources, one a truncated mp4, with --summary and --report: both written, the summary has the failed source`s reason; exit 3', () => {
    const d = tempDir();
    const r = runCli(['run', clip, '--source', truncatedClip(d), '--summary', join(d, 'summary.json'), '--report', join(d, 'report.html'), ...fast]);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at .*:\d+:\d+|Unhandled/);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/error: input ended early: decoded \d+ of the 38 frames/);
    const s = JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')) as { failed: string; exitCode: number; sources: Record<string, SourceSummary> };
    expect(s.failed).toMatch(/input ended early/);
    expect(s.exitCode).toBe(3);
    expect(s.sources['clip.mp4']).toMatchObject({ framesOut: 20 });
    expect(s.sources['clip.mp4']!.failed).toBeUndefined();
    expect(s.sources['cut.mp4']!.failed).toMatch(/input ended early: decoded \d+ of the 38 frames/);
    expect(s.sources['cut.mp4']!.framesOut).toBeGreaterThan(0);
    const html = readFileSync(join(d, 'report.html'), 'utf8');
    expect(html).toMatch(/clip\.mp4/);
    expect(html).toMatch(/cut\.mp4/);
  });

  it('{source} in --summary and --report: one of each per source (the failed one with its reason), also for a single source', () => {
    const d = tempDir();
    const r = runCli(['run', clip, '--source', truncatedClip(d), '--summary', join(d, 'out/{source}.json'), '--report', join(d, 'out/{source}/report.html'), ...fast]);
    expect(r.code).toBe(3);
    expect(readdirSync(join(d, 'out')).sort()).toEqual(['clip', 'clip.json', 'cut', 'cut.json']);
    const of = (id: string) => JSON.parse(readFileSync(join(d, 'out', `${id}.json`), 'utf8')) as SourceSummary & { source: { sourceId: string } };
    expect(of('clip')).toMatchObject({ framesOut: 20, source: { sourceId: 'clip.mp4' } });
    expect(of('clip').failed).toBeUndefined();
    expect(of('cut').failed).toMatch(/input ended early/);
    for (const [id, other] of [['clip', 'cut.mp4'], ['cut', 'clip.mp4']]) {
      const html = readFileSync(join(d, 'out', id!, 'report.html'), 'utf8');
      expect(html).toMatch(new RegExp(`roadseg report: ${id}\\.mp4`));
      expect(html).not.toMatch(new RegExp(other!.replace('.', '\\.')));
    }
    const one = join(d, 'one');
    mkdirSync(one);
    expect(runCli(['run', clip, '--stride', '10', '--summary', join(one, '{source}.json'), '--report', join(one, '{source}.html'), ...fast]).code).toBe(0);
    expect(readdirSync(one).sort()).toEqual(['clip.html', 'clip.json']);
  });
});
