// Issue 20, inputs that crash or lie: long command lines, signal files for `report`, manifests
// whose contract the weights break, label images for `eval`, and sources whose `{source}` names
// collide in a topic or stream. Each through the real CLI: the message (what / where / hint), the
// exit status, and what was written.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from './helpers/cli.js';
import { modelsDir, tempDir } from './helpers/paths.js';

const fast = ['--input-height', '65', '--models-dir', modelsDir, '--no-progress'];
let clip: string;

function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', ...args]);
}

function expectClean(r: CliResult): void {
  expect(r.stderr).not.toMatch(/internal error|\n\s+at .*:\d+:\d+|terminate called|Napi::Error|Unhandled/);
  expect(r.signal).toBeNull();
}

/** A RoadsegError's three lines. */
const expectWhereHint = (r: CliResult) => expect(r.stderr).toMatch(/error: [^]*?\n\s+where: .*\n\s+hint: /);

beforeAll(() => {
  clip = join(tempDir(), 'clip.mp4');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=160x90:rate=10:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', clip);
});

describe('long command lines', () => {
  it('a 32 KB command line runs (onnxruntime reads it on a stack sized to it); a 16 KB argument is a usage error', () => {
    const long = 'a'.repeat(8000);
    const signal = join(tempDir(), 's.jsonl');
    // Four --token values (the last wins): each within the limit, 32 KB together.
    const ok = runCli(['run', clip, '--signal', signal, '--token', long, '--token', long, '--token', long, '--token', long, ...fast]);
    expectClean(ok);
    expect(ok.code).toBe(0);
    expect(readFileSync(signal, 'utf8').trim().split('\n')).toHaveLength(10);
    const tooLong = runCli(['run', clip, '--signal', signal, '--token', 'b'.repeat(16_000), ...fast]);
    expectClean(tooLong);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/the value of --token is 16000 bytes long, more than the 8192/);
    expectWhereHint(tooLong);
  });
});
