/**
 * Issue 20, section 5: a fleet worker always stops. Through the real `roadseg worker` and a real
 * redis-server: a worker whose Redis is gone or never came exits on SIGTERM / a second signal by
 * itself, with the signal's exit code (the test never has to SIGKILL it); a job in progress is
 * finished on the first signal and abandoned on the second; an output folder on a read-only disk
 * fails its job with the real cause. No assertion on time: each worker is waited for with a
 * generous limit, and needing the kill at that limit is the failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli, type CliResult } from './helpers/cli.js';
import { modelsDir, tempDir, videos } from './helpers/paths.js';
import { freePort, startRedis, waitFor } from './helpers/servers.js';
import { readOnlyTmpfsForSuite } from './helpers/mounts.js';
import { serverForSuite } from './helpers/suite-server.js';
import { readSignal } from './helpers/video.js';
import type { FleetStatus } from '../src/fleet/jobs.js';

const workerArgs = ['--models-dir', modelsDir, '--threads', '1', '--lock-duration', '4000'];
const jobArgs = ['--input-height', '129'];
/** 221 frames at 960x540: still running long after its first frame is written. */
const longClip = join(videos, 'udacity_lanelines_solidWhiteRight.mp4');
/** Far beyond any stop that works; reaching it is the failure. */
const exitLimitMs = 90_000;
/** A close deadline the double-signal cases must not wait for: only the second signal can end them within exitLimitMs. */
const neverMs = String((exitLimitMs / 1000) * 10);

type Worker = ReturnType<typeof startCli>;

function startWorker(url: string, queue: string, ...args: string[]): Worker {
  return startCli(['worker', url, '--queue', queue, ...workerArgs, ...args]);
}

/** The worker's result once it exits by itself; SIGKILLed (and failed) if it is still there at the limit. */
async function exitOf(w: Worker): Promise<CliResult> {
  const kill = setTimeout(() => w.child.kill('SIGKILL'), exitLimitMs);
  const r = await w.done;
  clearTimeout(kill);
  expect(r.signal, `the worker had to be killed:\n${r.stderr}`).toBeNull();
  expect(r.stderr).not.toMatch(/internal error|\n\s+at .*:\d+:\d+/);
  return r;
}

/** Sends `signals` in turn, each once the worker has said it took the one before. */
async function signal(w: Worker, signals: NodeJS.Signals[]): Promise<void> {
  for (const [i, sig] of signals.entries()) {
    w.child.kill(sig);
    const said = i === 0 ? new RegExp(`${sig}: `) : new RegExp(`${sig} again: `);
    await waitFor(() => said.test(w.err()), 30_000, `the worker to take ${sig}`);
  }
}

function status(url: string, queue: string): FleetStatus {
  const r = runCli(['status', url, '--queue', queue, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as FleetStatus;
}

describe('a worker whose Redis is gone or never came stops on a signal', () => {
  it('never came (nothing listens): SIGTERM -> 143; SIGTERM twice -> 143; SIGINT twice -> 130', async () => {
    const url = `redis://127.0.0.1:${await freePort()}/0`;
    const cases: { signals: NodeJS.Signals[]; closeTimeout: string; code: number }[] = [
      { signals: ['SIGTERM'], closeTimeout: '1', code: 143 },
      { signals: ['SIGTERM', 'SIGTERM'], closeTimeout: neverMs, code: 143 },
      { signals: ['SIGINT', 'SIGINT'], closeTimeout: neverMs, code: 130 },
    ];
    await Promise.all(
      cases.map(async ({ signals, closeTimeout, code }) => {
        const w = startWorker(url, 'nowhere', '--close-timeout', closeTimeout);
        await waitFor(() => /ECONNREFUSED/.test(w.err()), 30_000, 'the worker to find no Redis');
        await signal(w, signals);
        const r = await exitOf(w);
        expect(r.code, `${signals.join(' ')}:\n${r.stderr}`).toBe(code);
        expect(r.stderr).toMatch(new RegExp(`${signals[0]}: no job in progress, exiting`));
        if (signals.length === 1) expect(r.stderr).toMatch(/Redis did not answer within 1 s \(--close-timeout\)/);
        else expect(r.stderr).toMatch(new RegExp(`${signals[1]} again: exiting now`));
      }),
    );
  });

  it('gone (killed after the worker connected): SIGTERM -> 143; SIGINT twice -> 130', async () => {
    const redis = await startRedis();
    const cases: { signals: NodeJS.Signals[]; closeTimeout: string; code: number }[] = [
      { signals: ['SIGTERM'], closeTimeout: '1', code: 143 },
      { signals: ['SIGINT', 'SIGINT'], closeTimeout: neverMs, code: 130 },
    ];
    const workers = cases.map((c) => startWorker(redis.url, 'gone', '--close-timeout', c.closeTimeout));
    try {
      // Each worker waits for jobs on its blocking connection (BZPOPMIN) once connected.
      const waiting = () => execFileSync('redis-cli', ['-p', String(redis.port), 'client', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('cmd=bzpopmin')).length;
      await waitFor(() => waiting() === workers.length, 60_000, 'the workers to connect');
    } finally {
      await redis.stop('SIGKILL');
    }
    await Promise.all(
      cases.map(async ({ signals, code }, i) => {
        const w = workers[i]!;
        await signal(w, signals);
        const r = await exitOf(w);
        expect(r.code, `${signals.join(' ')}:\n${r.stderr}`).toBe(code);
      }),
    );
  });
});

describe('jobs in progress when a worker is stopped', () => {
  const redis = serverForSuite(startRedis);

  it('one SIGTERM: the job in progress finishes, then 143; two: it is abandoned, nothing of it left, handed back to the queue, 143', async () => {
    const out = tempDir('roadseg-fleet-stop-');
    // The first second of the clip is a job of its own (another id): it finishes on the first signal.
    expect(runCli(['submit', redis.url, '--queue', 'graceful', longClip, '--out-dir', out, ...jobArgs, '--duration', '1']).stdout).toMatch(/^1 added/);
    const graceful = startWorker(redis.url, 'graceful');
    await waitFor(() => / started$/m.test(graceful.err()), 60_000, 'the job to start');
    await signal(graceful, ['SIGTERM']);
    const g = await exitOf(graceful);
    expect(g.code, g.stderr).toBe(143);
    expect(g.stderr).toMatch(/SIGTERM: finishing 1 job in progress, then exiting; send SIGTERM again \(or press Ctrl-C\) to stop now/);
    expect(status(redis.url, 'graceful').counts).toMatchObject({ completed: 1, waiting: 0, active: 0 });
    const [done] = readdirSync(out);
    expect(readdirSync(join(out, done!)).sort()).toEqual(['overlay.mp4', 'signal.jsonl', 'summary.json']);
    const summary = JSON.parse(readFileSync(join(out, done!, 'summary.json'), 'utf8')) as { framesOut: number };
    expect(summary.framesOut).toBeGreaterThan(0);
    expect(readSignal(join(out, done!, 'signal.jsonl'))).toHaveLength(summary.framesOut);

    const outNow = tempDir('roadseg-fleet-stop-');
    expect(runCli(['submit', redis.url, '--queue', 'now', longClip, '--out-dir', outNow, ...jobArgs]).stdout).toMatch(/^1 added/);
    const now = startWorker(redis.url, 'now', '--close-timeout', neverMs);
    // Stopped mid-run: once its first signal line is written (in the hidden temporary folder).
    const lines = () => readdirSync(outNow).filter((e) => e.startsWith('.')).map((e) => join(outNow, e, 'signal.jsonl')).filter(existsSync).map((f) => readFileSync(f, 'utf8').split('\n').length - 1);
    await waitFor(() => lines().some((n) => n > 0), 60_000, 'the job\'s first signal line');
    await signal(now, ['SIGTERM', 'SIGTERM']);
    const n = await exitOf(now);
    expect(n.code, n.stderr).toBe(143);
    expect(n.stderr).toMatch(/SIGTERM again: stopping now; 1 job in progress abandoned and handed back to the queue/);
    expect(n.stderr).not.toMatch(/ -> /);
    expect(readdirSync(outNow), 'an abandoned job leaves nothing').toEqual([]);
    // Back in the queue at once, its attempt not counted as a failure.
    expect(status(redis.url, 'now').counts).toMatchObject({ waiting: 1, active: 0, completed: 0, failed: 0 });
  });
});

describe('an output folder on a read-only disk (a read-only tmpfs)', () => {
  const redis = serverForSuite(startRedis);
  const ro = readOnlyTmpfsForSuite();

  it('the job fails (after its retries) with "read-only file system" as its reason, not ENOENT; `run` says the same', (ctx) => {
    const mnt = ro.path;
    if (!mnt) return ctx.skip(ro.skip);
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
