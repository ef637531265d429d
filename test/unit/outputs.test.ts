// The output check's notion of "the same file" (src/app/outputs.ts claimFiles): real path and
// device + inode, so every name of a file is caught; on real files in a temporary folder.
import { linkSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimFiles } from '../../src/app/outputs.js';
import { RoadsegError } from '../../src/util/errors.js';

function refusal(run: () => unknown): RoadsegError {
  try {
    run();
  } catch (e) {
    if (e instanceof RoadsegError) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('claimFiles', () => {
  const d = mkdtempSync(join(tmpdir(), 'roadseg-outputs-'));
  writeFileSync(join(d, 'in.mp4'), 'input');
  linkSync(join(d, 'in.mp4'), join(d, 'hard.mp4'));
  symlinkSync('in.mp4', join(d, 'soft.mp4'));
  symlinkSync('later.jsonl', join(d, 'dangling.jsonl'));
  mkdirSync(join(d, 'sub'));
  const input = [{ path: join(d, 'in.mp4'), what: 'input file' }];

  it('refuses every name of the input: itself, dir/../dir, a hard link, a symbolic link', () => {
    for (const [path, how] of [
      [join(d, 'in.mp4'), /is the input file: writing it would destroy the input file$/],
      [join(d, 'sub', '..', 'in.mp4'), /is the input file: writing it would destroy the input file$/],
      [join(d, 'hard.mp4'), /hard\.mp4 is a hard link to .*in\.mp4: one file under two names\)$/],
      [join(d, 'soft.mp4'), /soft\.mp4 leads to .*in\.mp4 through a symbolic link\)$/],
    ] as const) {
      const e = refusal(() => claimFiles(input, [{ path, what: 'video sink' }]));
      expect(e.exitCode).toBe(2);
      expect(e.message).toMatch(how);
    }
  });

  it('refuses two outputs that are one file: a hard link, a dangling symbolic link and the file it will create', () => {
    const twice = (a: string, b: string) => refusal(() => claimFiles([], [{ path: a, what: 'signal sink' }, { path: b, what: '--summary file' }]));
    expect(twice(join(d, 'hard.mp4'), join(d, 'soft.mp4')).message).toMatch(/given twice as an output \(signal sink and --summary file\)/);
    expect(twice(join(d, 'dangling.jsonl'), join(d, 'later.jsonl')).message).toMatch(/given twice as an output/);
  });

  it('takes distinct files, and releases their locks', () => {
    const claim = claimFiles(input, [{ path: join(d, 'sub', 'out.mp4'), what: 'video sink' }]);
    expect(readdirSync(join(d, 'sub'))).toEqual(['.out.mp4.roadseg-lock']);
    claim.release();
    expect(readdirSync(join(d, 'sub'))).toEqual([]);
  });
});
