// Issue 20, section 4: consumers that stall or go away. A per-source signal on a named pipe whose
// reader leaves or stops reading, and a live MJPEG stream whose server stops answering (SIGSTOP).
// Each through the real CLI, asserting states and their order, never timings.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli } from './helpers/cli.js';
import { modelsDir, tempDir, videos } from './helpers/paths.js';
import { freePort, serveMjpeg, waitFor } from './helpers/servers.js';
import { readSignal } from './helpers/video.js';

const fast = ['--input-height', '65', '--models-dir', modelsDir, '--no-progress'];
const clipA = join(videos, 'udacity_vehicledet_test_video.mp4');
const clipB = join(videos, 'udacity_vehicledet_pr2_test_small1.mp4');

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/**
 * A reader of a named pipe: opens it (read-write, so the open neither waits for roadseg nor sees
 * an end before roadseg opens it), says `ready`, then takes `lines` lines and exits, or with
 * `lines` 0 holds it open and never reads.
 */
function pipeReader(path: string, lines: number): { child: ChildProcess; ready: Promise<void>; exited: Promise<string> } {
  const code = `
    const fs = require('node:fs'), net = require('node:net');
    const fd = fs.openSync(process.argv[1], fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    process.stdout.write('ready\\n');
    const want = Number(process.argv[2]);
    if (want > 0) {
      let got = '';
      const s = new net.Socket({ fd, readable: true, writable: false });
      s.on('data', (d) => {
        got += d;
        const all = got.split('\\n');
        if (all.length > want) { process.stdout.write(all.slice(0, want).join('\\n') + '\\n'); process.exit(0); }
      });
    } else setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', code, path, String(lines)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.startsWith('ready\n')) resolve();
    });
    child.once('exit', (c) => reject(new Error(`the pipe reader exited with ${c} before it was ready`)));
  });
  const exited = new Promise<string>((resolve) => child.once('exit', () => resolve(out.slice('ready\n'.length))));
  return { child, ready, exited };
}

describe('a per-source signal on a named pipe', () => {
  it('whose reader goes away: that source stops with a clear error, the other goes to its end, the summary marks it, exit 5', async () => {
    const out = tempDir();
    // The clip's 91 lines are more than a pipe holds (64 KiB), so writes go on after the reader left, however late it leaves.
    const fifo = join(out, 'udacity_vehicledet_pr2_test_small1.jsonl');
    execFileSync('mkfifo', [fifo]);
    const reader = pipeReader(fifo, 3);
    await reader.ready;
    const run = startCli(['run', '--source', clipA, '--source', clipB, '--signal', join(out, '{source}.jsonl'), '--summary', join(out, 'summary.json'), ...fast]);
    const r = await run.done;
    expect(r.signal).toBeNull();
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/error: the reader of the named pipe .*udacity_vehicledet_pr2_test_small1\.jsonl went away after \d+ signal lines/);
    expect(r.stderr).toMatch(/where: .*udacity_vehicledet_pr2_test_small1\.jsonl/);
    expect(r.stderr).toMatch(/hint: /);
    expect(r.stderr).not.toMatch(/\n\s+at |internal error|Uncaught|Abort/);
    expect((await reader.exited).trim().split('\n').map((l) => JSON.parse(l).frame)).toEqual([0, 1, 2]);
    // The other source went on to its end (38 frames), every line complete.
    expect(readSignal(join(out, 'udacity_vehicledet_test_video.jsonl')).map((l) => l.frame)).toEqual([...Array(38).keys()]);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.sources['udacity_vehicledet_pr2_test_small1.mp4'].failed).toMatch(/the reader of the named pipe .* went away/);
    expect(summary.sources['udacity_vehicledet_test_video.mp4'].failed).toBeUndefined();
    expect(r.stderr).toMatch(/source udacity_vehicledet_pr2_test_small1\.mp4: .*; failed: the reader of the named pipe/);
  });

  it('without a reader: a clear error for that source at its first line, never a hang', async () => {
    const out = tempDir();
    execFileSync('mkfifo', [join(out, 'udacity_vehicledet_test_video.jsonl')]);
    const run = startCli(['run', '--source', clipA, '--source', clipB, '--signal', join(out, '{source}.jsonl'), '--duration', '0.5', ...fast]);
    const r = await run.done;
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/error: nobody reads the named pipe .*udacity_vehicledet_test_video\.jsonl/);
    expect(readSignal(join(out, 'udacity_vehicledet_pr2_test_small1.jsonl'))).toHaveLength(13);
  });

  it('whose reader stops reading: the run is not held back and stops cleanly on SIGINT', async () => {
    const out = tempDir();
    const fifo = join(out, 'udacity_vehicledet_test_video.jsonl');
    execFileSync('mkfifo', [fifo]);
    const reader = pipeReader(fifo, 0);
    await reader.ready;
    const other = join(out, 'udacity_vehicledet_pr2_test_small1.jsonl');
    const run = startCli(['run', '--source', clipA, '--source', clipB, '--signal', join(out, '{source}.jsonl'), '--loop', ...fast]);
    // Far more lines than a pipe holds (64 KiB, about 70 lines) went to the stalled one meanwhile.
    await waitFor(() => existsSync(other) && readSignal(other).length >= 200, 90_000, '200 lines of the other source');
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
    expect(r.stderr).toMatch(/sink signal .*udacity_vehicledet_test_video\.jsonl: lines \d+, dropped \d+, notSent \d+/);
    const lines = readSignal(other);
    expect(lines.every((l, i) => l.frame === i)).toBe(true);
  });
});

describe('a live MJPEG stream whose server stops answering (SIGSTOP)', () => {
  const serveStream = async (port: number) => {
    const server = await serveMjpeg(port, join(videos, 'derived_camvid_0016E5_15fps_from_labelled_frames.mp4'));
    children.push(server);
    return server;
  };

  /** /healthz's status and line, and roadseg_source_online, from the metrics server. */
  async function probe(metricsPort: number) {
    const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return { status: health.status, body: await health.text(), online: /^roadseg_source_online\{[^}]*\} (\S+)$/m.exec(metrics)?.[1] };
  }

  it('a stall shorter than the offline time: stale, then online again, the three outputs agreeing each time', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const out = tempDir();
    const signal = join(out, 's.jsonl');
    const config = join(out, 'config.json');
    writeFileSync(config, JSON.stringify({ stall: { staleAfterFrames: 5, offlineAfterS: 600 } }));
    const server = await serveStream(port);
    const run = startCli(['run', `http://127.0.0.1:${port}/cam.mjpg`, '--signal', signal, '--metrics-port', String(metricsPort), '--config', config, ...fast]);
    const lines = () => (existsSync(signal) ? readSignal(signal) : []);
    await waitFor(() => lines().filter((l) => l.status === 'ok').length >= 3, 60_000, '3 ok lines');
    server.kill('SIGSTOP');
    await waitFor(() => lines().some((l) => l.status === 'stale'), 30_000, 'a stale line');
    expect(await probe(metricsPort)).toMatchObject({ status: 503, body: 'stale: no frame for a while\n', online: '0' });
    server.kill('SIGCONT');
    await waitFor(() => run.err().includes('source back online'), 30_000, 'back online');
    await waitFor(() => lines().at(-1)?.status !== 'stale', 30_000, 'an ok line after the stale ones');
    expect(await probe(metricsPort)).toMatchObject({ status: 200, online: '1' });
    run.child.kill('SIGINT');
    const r = await run.done;
    server.kill('SIGKILL');
    expect(r.code).toBe(130);
    const pattern = readSignal(signal).map((l) => (l.status === 'stale' ? (l.sourceState === 'stale' ? 's' : 'f') : 'o')).join('').replace(/(.)\1+/g, '$1');
    // (A loaded machine may see a short stall of its own before; the order is what counts.)
    expect(pattern).toMatch(/^(s?o)+$/);
    expect(pattern).toContain('oso');
    expect(r.stderr).not.toMatch(/source offline/);
  });

  it('stale lines first, then offline; meanwhile /healthz is 503, roadseg_source_online 0 and the signal stale', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const out = tempDir();
    const signal = join(out, 's.jsonl');
    const server = await serveStream(port);
    const run = startCli(['run', `http://127.0.0.1:${port}/cam.mjpg`, '--signal', signal, '--metrics-port', String(metricsPort), ...fast]);
    const lines = () => (existsSync(signal) ? readSignal(signal) : []);
    await waitFor(() => lines().filter((l) => l.status === 'ok').length >= 5, 60_000, '5 ok lines');
    expect(await probe(metricsPort)).toMatchObject({ status: 200, online: '1' });
    server.kill('SIGSTOP');
    await waitFor(() => lines().some((l) => l.status === 'stale'), 30_000, 'a stale line');
    const stalled = await probe(metricsPort);
    expect(stalled.status).toBe(503);
    expect(stalled.body).toMatch(/^(stale|offline): /);
    expect(stalled.online).toBe('0');
    await waitFor(() => lines().some((l) => l.sourceState === 'offline'), 60_000, 'an offline line');
    const offline = await probe(metricsPort);
    expect(offline).toMatchObject({ status: 503, online: '0' });
    expect(offline.body).toMatch(/^offline: reconnecting/);
    expect(run.err()).toMatch(/source offline: /);
    run.child.kill('SIGINT');
    const r = await run.done;
    server.kill('SIGKILL');
    expect(r.code).toBe(130);
    const all = readSignal(signal);
    // ok lines, then stale ones that say stale, then stale ones that say offline: in this order.
    const pattern = all.map((l) => (l.status === 'stale' ? (l.sourceState === 'stale' ? 's' : l.sourceState === 'offline' ? 'f' : '?') : 'o')).join('').replace(/(.)\1+/g, '$1');
    expect(pattern).toMatch(/^(s?o)+sf$/);
    for (const l of all.filter((x) => x.status === 'stale')) expect(l).toMatchObject({ drivablePct: null, egoCorridorPct: null, roadEdges: [] });
    expect(all.every((l, i) => i === 0 || l.frame > all[i - 1]!.frame)).toBe(true);
    expect(r.stderr.indexOf('source stale: ')).toBeGreaterThan(0);
    expect(r.stderr.indexOf('source stale: ')).toBeLessThan(r.stderr.indexOf('source offline: '));
  });
});
