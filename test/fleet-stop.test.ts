/**
 * Issue 20, section 5: fleet workers. Through the real `roadseg worker` and a real redis-server:
 * an output folder on a read-only disk fails its job with the real cause.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { modelsDir, tempDir, videos } from './helpers/paths.js';
import { startRedis } from './helpers/servers.js';
import { serverForSuite } from './helpers/suite-server.js';
import type { FleetStatus } from '../src/fleet/jobs.js';

const workerArgs = ['--models-dir', modelsDir, '--threads', '1', '--lock-duration', '4000'];
const jobArgs = ['--input-height', '129'];
/** 221 frames at 960x540. */
const longClip = join(videos, 'udacity_lanelines_solidWhiteRight.mp4');

function status(url: string, queue: string): FleetStatus {
  const r = runCli(['status', url, '--queue', queue, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as FleetStatus;
}

describe('an output folder on a read-only disk (a read-only tmpfs)', () => {
  const redis = serverForSuite(startRedis);
  let mnt: string | undefined;
  let skip = '';
  beforeAll(() => {
    const m = tempDir('roadseg-ro-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', m], { stdio: 'ignore' });
      mnt = m;
    } catch (e) {
      skip = `cannot mount a read-only tmpfs here (needs root): ${(e as Error).message.split('\n')[0]}`;
    }
  });
  afterAll(() => {
    if (mnt) execFileSync('umount', [mnt]);
  });

  it('the job fails (after its retries) with "read-only file system" as its reason, not ENOENT; `run` says the same', (ctx) => {
    if (!mnt) return ctx.skip(skip);
    const out = join(mnt, 'out', 'fleet');
    expect(runCli(['submit', redis.url, '--queue', 'ro', longClip, '--out-dir', out, ...jobArgs, '--duration', '1']).stdout).toMatch(/^1 added/);
    const w = runCli(['worker', redis.url, '--queue', 'ro', ...workerArgs, '--exit-when-idle']);
    expect(w.code, w.stderr).toBe(0);
    const s = status(redis.url, 'ro');
    expect(s.counts).toMatchObject({ failed: 1, completed: 0 });
    const reason = s.failed[0]!.reason;
    expect(reason).toMatch(/^error: cannot write to the output folder of .*solidWhiteRight\.mp4: EROFS: read-only file system/);
    expect(reason).toContain(`where: ${out}`);
    expect(reason).not.toMatch(/ENOENT/);
    // The same home checks `roadseg run`'s outputs: a new folder in a read-only place.
    const r = runCli(['run', longClip, '--signal', join(mnt, 'new', 's.jsonl'), '--models-dir', modelsDir, '--no-progress', ...jobArgs]);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/cannot write to the output folder of .*: EROFS: read-only file system/);
    expect(r.stderr).not.toMatch(/ENOENT/);
  });
});
