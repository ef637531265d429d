/**
 * Fleet replay on BullMQ with a real redis-server: `roadseg submit`, several `roadseg worker`
 * processes (one killed mid-job), a bad file, a Redis restart. Clips are one second at 320x180,
 * 10 fps, cut from the shipped videos, so the whole file runs in about a minute on two cores.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from './helpers/cli.js';
import { modelsDir, tempDir, videos } from './helpers/paths.js';
import { startRedis, waitFor } from './helpers/servers.js';
import { serverForSuite } from './helpers/suite-server.js';
import { allClips, readSignal } from './helpers/video.js';
import type { FleetStatus } from '../src/fleet/jobs.js';

/** Short lock: a killed worker's job comes back within seconds (the default is 30 s). */
const workerArgs = ['--models-dir', modelsDir, '--threads', '1', '--lock-duration', '4000', '--exit-when-idle'];
const jobArgs = ['--input-height', '129'];

/** `count` one-second clips, 320x180 at 10 fps, from the shipped videos at different offsets. */
function oneSecondClips(count: number): string[] {
  const dir = tempDir('roadseg-clips-');
  const sources = allClips();
  return Array.from({ length: count }, (_, i) => {
    const out = join(dir, `clip${String(i).padStart(2, '0')}.mp4`);
    const src = sources[i % sources.length]!;
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-ss', String(Math.floor(i / sources.length)), '-i', src, '-t', '1', '-vf', 'scale=320:180,fps=10', '-an', out]);
    return out;
  });
}

function status(url: string, queue: string): FleetStatus {
  const r = runCli(['status', url, '--queue', queue, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as FleetStatus;
}

/** Every output folder complete: overlay, summary and a signal with frames 0..n-1 once each. */
function expectCompleteOutputs(outDir: string, count: number): void {
  const entries = readdirSync(outDir);
  expect(entries.filter((e) => e.startsWith('.')), 'temporary folders left').toEqual([]);
  expect(entries.length).toBe(count);
  for (const e of entries) {
    const dir = join(outDir, e);
    expect(readdirSync(dir).sort()).toEqual(['overlay.mp4', 'signal.jsonl', 'summary.json']);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { framesOut: number };
    const frames = readSignal(join(dir, 'signal.jsonl')).map((m) => m.frame);
    expect(summary.framesOut).toBeGreaterThan(0);
    expect(frames).toEqual(Array.from({ length: summary.framesOut }, (_, i) => i));
  }
}

describe('fleet replay (BullMQ on redis-server)', () => {
  const redis = serverForSuite(startRedis);

  it('12 clips, 3 workers, one killed mid-job: 12 completed once, 0 failed, no temporary folders; submitting again adds nothing', async () => {
    const clips = oneSecondClips(12);
    const out = tempDir('roadseg-fleet-');
    const submit = runCli(['submit', redis.url, '--queue', 'kill', ...clips, '--out-dir', out, ...jobArgs]);
    expect(submit.stdout, submit.stderr).toMatch(/^12 added, 0 already known/);
    const again = runCli(['submit', redis.url, '--queue', 'kill', join(clips[0]!, '..'), '--out-dir', out, ...jobArgs]);
    expect(again.stdout, again.stderr).toMatch(/^0 added, 12 already known/);

    const workers = [0, 1, 2].map(() => startCli(['worker', redis.url, '--queue', 'kill', ...workerArgs]));
    // Worker 0 dies in the middle of its first job (the model load is part of it).
    await waitFor(() => / started$/m.test(workers[0]!.err()), 60_000, 'worker 0 to start a job');
    workers[0]!.child.kill('SIGKILL');
    const results = await Promise.all(workers.map((w) => w.done));
    expect(results[0]!.signal).toBe('SIGKILL');
    for (const r of results.slice(1)) expect(r.code, r.stderr).toBe(0);

    const s = status(redis.url, 'kill');
    expect(s.counts).toMatchObject({ completed: 12, failed: 0, waiting: 0, active: 0, delayed: 0 });
    expect(s.fps).toBeGreaterThan(0);
    expectCompleteOutputs(out, 12);
  });

  it('a truncated clip fails once, without retries, with the error\'s what/where/hint as the reason', async () => {
    const [good] = oneSecondClips(1);
    // Index first (faststart), so the cut file opens and ends early: 30 frames declared, ~15 there.
    const whole = join(tempDir(), 'whole.mp4');
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', join(videos, 'udacity_lanelines_solidWhiteRight.mp4'), '-t', '3', '-vf', 'scale=320:180,fps=10', '-an', '-movflags', '+faststart', whole]);
    const bad = join(tempDir(), 'truncated.mp4');
    const bytes = readFileSync(whole);
    writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length * 0.5)));
    const out = tempDir('roadseg-fleet-');
    expect(runCli(['submit', redis.url, '--queue', 'bad', good!, bad, '--out-dir', out, ...jobArgs]).stdout).toMatch(/^2 added/);
    const w = runCli(['worker', redis.url, '--queue', 'bad', ...workerArgs]);
    expect(w.code, w.stderr).toBe(0);
    const s = status(redis.url, 'bad');
    expect(s.counts).toMatchObject({ completed: 1, failed: 1 });
    expect(s.failed).toHaveLength(1);
    expect(s.failed[0]).toMatchObject({ input: bad, attempts: 1 });
    expect(s.failed[0]!.reason).toMatch(/^error: .*\n {2}where: .*truncated\.mp4/);
    expect(s.failed[0]!.reason).toMatch(/\n {2}hint: /);
    expect(w.stderr.match(/will retry/g)).toBeNull();
    // The frames before the cut are kept, beside the complete output, named as failed.
    const failedDir = readdirSync(out).find((e) => e.endsWith('.failed'))!;
    expect(failedDir).toMatch(/^truncated-[0-9a-f]{8}\.failed$/);
    expect(s.failed[0]!.reason).toContain(join(out, failedDir));
    expect(s.failed[0]!.reason).toMatch(/input ended early: decoded \d+ of the 30 frames/);
    expect(readSignal(join(out, failedDir, 'signal.jsonl')).length).toBeGreaterThan(5);
    rmSync(join(out, failedDir), { recursive: true });
    expectCompleteOutputs(out, 1);
    expect(readdirSync(out)[0]).toMatch(new RegExp(`^${basename(good!, '.mp4')}-[0-9a-f]{8}$`));
    // The text form names the failure too.
    expect(runCli(['status', redis.url, '--queue', 'bad']).stdout).toMatch(/failed .*truncated\.mp4 after 1 attempt/);
  });

  it('Redis restarted mid-run (append-only file on): every job still completes once', async () => {
    const clips = oneSecondClips(6);
    const out = tempDir('roadseg-fleet-');
    expect(runCli(['submit', redis.url, '--queue', 'restart', ...clips, '--out-dir', out, ...jobArgs]).stdout).toMatch(/^6 added/);
    const worker = startCli(['worker', redis.url, '--queue', 'restart', '--concurrency', '2', ...workerArgs]);
    await waitFor(() => /-> /.test(worker.err()), 60_000, 'the first job to complete');
    await redis.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    await redis.start();
    const r = await worker.done;
    expect(r.code, r.stderr).toBe(0);
    const s = status(redis.url, 'restart');
    expect(s.counts).toMatchObject({ completed: 6, failed: 0 });
    expectCompleteOutputs(out, 6);
  });

  it('usage errors: a Redis URL with credentials, a missing input', () => {
    const creds = runCli(['submit', 'redis://user:secret@127.0.0.1:1/0', '--queue', 'q', '--out-dir', tempDir(), join(videos, 'udacity_vehicledet_test_video.mp4')]);
    expect(creds.code).toBe(2);
    expect(creds.stderr).toMatch(/ROADSEG_REDIS_PASSWORD/);
    const missing = runCli(['submit', redis.url, '--queue', 'q', '--out-dir', tempDir(), '/nonexistent/clip.mp4']);
    expect(missing.code).toBe(3);
    expect(existsSync('/nonexistent')).toBe(false);
  });
});
