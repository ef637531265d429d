// `roadseg run --serve` and the reference consumer `roadseg listen`, as a user runs them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalMessage } from '../src/core/signal.js';
import { getManifest } from '../src/engine/registry.js';
import { startCli } from './helpers/cli.js';
import { modelsDir } from './helpers/paths.js';
import { shortClip, until } from './helpers/ws-client.js';

const token = 'cli-token';

describe('roadseg run --serve, roadseg listen', () => {
  let server: ReturnType<typeof startCli>;
  let url: string;

  beforeAll(async () => {
    // Paced at the clip's frame rate and looping: a stream that lasts until it is interrupted.
    server = startCli(['run', shortClip, '--serve', '0', '--token', token, '--loop', '--realtime', '--input-height', '129', '--models-dir', modelsDir, '--no-progress']);
    await until('the server to listen', () => /serving on ws:\/\/127\.0\.0\.1:\d+/.test(server.err()), 60_000);
    const port = /serving on ws:\/\/127\.0\.0\.1:(\d+) \(viewer: http:\/\/127\.0\.0\.1:\1\/\)/.exec(server.err())![1];
    url = `ws://127.0.0.1:${port}`;
  });

  afterAll(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  });

  it('listen prints the signal as JSON lines', async () => {
    const r = await startCli(['listen', url, '--token', token, '--count', '5']).done;
    expect(r.stderr).not.toMatch(/error|internal/);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    const signals = lines.map((l) => JSON.parse(l) as SignalMessage);
    expect(signals[0]).toMatchObject({ v: 1, type: 'signal', source: 'udacity_vehicledet_test_video.mp4', model: getManifest().id, status: 'ok' });
    for (let i = 1; i < signals.length; i++) expect(signals[i]!.frame).toBeGreaterThan(signals[i - 1]!.frame);
    expect(r.stderr).toMatch(new RegExp(`listening to ws://127\\.0\\.0\\.1:\\d+: model ${getManifest().id} on cpu`));
  });

  it('a wrong or missing token: exit 2 with a clear message', async () => {
    const [wrong, missing] = await Promise.all([startCli(['listen', url, '--token', 'nope', '--count', '1']).done, startCli(['listen', url, '--count', '1']).done]);
    for (const r of [wrong, missing]) {
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/error: the server at ws:\/\/127\.0\.0\.1:\d+ rejected the access token \(HTTP 401\)/);
      expect(r.stderr).toMatch(/hint: .*--token/);
    }
  });

  it('nothing listening: exit 3, connection refused; a malformed URL: exit 2', async () => {
    const [refused, malformed] = await Promise.all([startCli(['listen', 'ws://127.0.0.1:1', '--count', '1']).done, startCli(['listen', '127.0.0.1:8080']).done]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/error: cannot connect to ws:\/\/127\.0\.0\.1:1: connection refused/);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/listen expects a websocket URL/);
  });

  it('when the server stops, listen sees the stream end and exits 0; the server reports its clients', async () => {
    const listener = startCli(['listen', url, '--token', token]);
    await until('signal lines', () => listener.out().split('\n').length > 3, 60_000);
    server.child.kill('SIGINT');
    const [l, s] = await Promise.all([listener.done, server.done]);
    expect(l.code).toBe(0);
    expect(l.stderr).toMatch(/the stream ended \(\d+ signal lines\)/);
    expect(s.code).toBe(130);
    expect(s.stderr).toMatch(/sink websocket ws:\/\/127\.0\.0\.1:0: connections \d+/);
  });
});
