/**
 * The signal on message brokers, against real mosquitto and redis-server processes on loopback:
 * byte-identical messages in order, presence through the Last Will, and a broker that goes away
 * never stopping or slowing the run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from './helpers/cli.js';
import { modelsDir, tempDir, videos } from './helpers/paths.js';
import { startMosquitto, startRedis, waitFor } from './helpers/servers.js';
import { serverForSuite } from './helpers/suite-server.js';

const fast = ['--input-height', '129', '--models-dir', modelsDir, '--no-progress'];
const clip = join(videos, 'udacity_vehicledet_test_video.mp4');
/** The clip's source id as src/app puts it in place of {source}. */
const sourceId = 'udacity_vehicledet_test_video';

/** Lines of a signal file, without their newlines: what each broker message must equal. */
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

/** An 8-second 10 fps clip at 320x180, delivered with --realtime: a run that lasts 8 s whatever the CPU. */
let eight: string | undefined;
function eightSecondClip(): string {
  if (eight) return eight;
  const out = join(tempDir(), 'eight.mp4');
  eight = out;
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-stream_loop', '-1', '-i', clip, '-t', '8', '-vf', 'scale=320:180,fps=10', '-an', out]);
  return out;
}

interface Received {
  topic: string;
  payload: string;
}

async function subscriber(url: string, topics: string[]): Promise<{ client: MqttClient; got: Received[] }> {
  const client = mqtt.connect(url, { reconnectPeriod: 200 });
  const got: Received[] = [];
  client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString('utf8') }));
  client.on('connect', () => void client.subscribeAsync(topics, { qos: 1 }));
  await waitFor(() => client.connected, 60_000, 'the subscriber to connect');
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, got };
}

describe('MQTT sink (mosquitto)', () => {
  const broker = serverForSuite(startMosquitto);

  it('every frame published once, in order, byte-identical to the JSONL line; status online, then offline', async () => {
    const out = tempDir();
    const signal = join(out, 's.jsonl');
    const { client, got } = await subscriber(broker.url, ['roadseg/+/signal', 'roadseg/+/status']);
    const r = runCli(['run', clip, `${broker.url}/roadseg/{source}/signal?qos=1`, '--signal', signal, '--summary', join(out, 'summary.json'), ...fast]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const expected = lines(signal);
    expect(expected.length).toBe(38);
    await waitFor(() => got.filter((m) => m.topic.endsWith('/signal')).length >= expected.length && got.at(-1)?.payload === 'offline', 60_000, 'every message');
    expect(got.filter((m) => m.topic === `roadseg/${sourceId}/signal`).map((m) => m.payload)).toEqual(expected);
    expect(got.filter((m) => m.topic === `roadseg/${sourceId}/status`).map((m) => m.payload)).toEqual(['online', 'offline']);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { sinks: Record<string, Record<string, number>> };
    const counters = Object.entries(summary.sinks).find(([name]) => name.startsWith('mqtt'))![1];
    expect(counters).toMatchObject({ sent: 38, dropped: 0 });
    await client.endAsync();
  });

  it('roadseg killed with SIGKILL: the broker publishes offline (Last Will); the status is retained', async () => {
    const { client, got } = await subscriber(broker.url, ['kill/+/status', 'kill/+/signal']);
    const run = startCli(['run', clip, '--loop', `${broker.url}/kill/{source}/signal`, ...fast]);
    await waitFor(() => got.some((m) => m.topic.endsWith('/signal')), 60_000, 'the first message');
    run.child.kill('SIGKILL');
    await run.done;
    await waitFor(() => got.at(-1)?.payload === 'offline', 60_000, 'the Last Will');
    expect(got.filter((m) => m.topic.endsWith('/status')).map((m) => m.payload)).toEqual(['online', 'offline']);
    await client.endAsync();
    // A late subscriber still learns the source is offline.
    const late = await subscriber(broker.url, ['kill/+/status']);
    await waitFor(() => late.got.length > 0, 60_000, 'the retained status');
    expect(late.got).toEqual([{ topic: `kill/${sourceId}/status`, payload: 'offline' }]);
    await late.client.endAsync();
  });

  it('mosquitto stopped mid-run and restarted: the run goes on, the queued messages follow in order after the reconnect', async () => {
    const clip8 = eightSecondClip();
    const out = tempDir();
    const { client, got } = await subscriber(broker.url, ['gap/+/signal']);
    const run = startCli(['run', clip8, '--realtime', `${broker.url}/gap/{source}/signal`, '--signal', join(out, 's.jsonl'), '--summary', join(out, 'summary.json'), ...fast]);
    await waitFor(() => got.length >= 5, 60_000, 'the first messages');
    await broker.stop('SIGKILL');
    const stoppedAt = got.length;
    await waitFor(() => /mqtt .*retrying/.test(run.err()), 60_000, 'the sink to notice the outage');
    await broker.start();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { framesOut: number; sinks: Record<string, Record<string, number>> };
    const counters = Object.entries(summary.sinks).find(([name]) => name.startsWith('mqtt'))![1]!;
    expect(counters.reconnects).toBeGreaterThanOrEqual(1);
    expect(counters.sent + counters.dropped + counters.notSent + counters.inFlight).toBe(summary.framesOut);
    // Messages after the restart reached the (reconnected) subscriber, in order, none twice.
    await waitFor(() => got.length > stoppedAt, 60_000, 'messages after the restart');
    const frames = got.map((m) => (JSON.parse(m.payload) as { frame: number }).frame);
    expect(frames).toEqual([...new Set(frames)].sort((a, b) => a - b));
    expect(frames.at(-1)).toBe(JSON.parse(lines(join(out, 's.jsonl')).at(-1)!).frame);
    await client.endAsync();
  });

  it('mosquitto gone until the end: the run ends by itself and counts what it could not send (dropped, notSent)', async () => {
    const clip8 = eightSecondClip();
    const out = tempDir();
    const { client, got } = await subscriber(broker.url, ['gone/+/signal']);
    const run = startCli(['run', clip8, '--realtime', `${broker.url}/gone/{source}/signal`, '--summary', join(out, 'summary.json'), ...fast]);
    await waitFor(() => got.length >= 5, 60_000, 'the first messages');
    await client.endAsync(true);
    await broker.stop('SIGKILL');
    const r = await run.done;
    await broker.start();
    // The run ends by itself (no test timeout), the outage never holding it up.
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { framesOut: number; sinks: Record<string, Record<string, number>> };
    const counters = Object.entries(summary.sinks).find(([name]) => name.startsWith('mqtt'))![1]!;
    expect(counters.dropped + counters.notSent).toBeGreaterThan(0);
    expect(counters.sent + counters.dropped + counters.notSent + counters.inFlight).toBe(summary.framesOut);
    expect(r.stderr).toMatch(/mqtt .*retrying/);
  });
});

describe('Redis Streams sink (redis-server)', () => {
  const server = serverForSuite(startRedis);
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(server.port, '127.0.0.1');
  });
  afterAll(() => {
    redis?.disconnect();
  });

  it('one entry per frame, equal to the JSONL line; a consumer group that does not read shows lag and does not slow the run', async () => {
    const out = tempDir();
    const signal = join(out, 's.jsonl');
    const key = `roadseg:${sourceId}`;
    await redis.xgroup('CREATE', key, 'idle-consumers', '$', 'MKSTREAM');
    const r = runCli(['run', clip, `${server.url}/0?stream=roadseg:{source}&maxlen=1000`, '--signal', signal, '--summary', join(out, 'summary.json'), ...fast]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const expected = lines(signal);
    expect(await redis.xlen(key)).toBe(expected.length);
    const entries = await redis.xrange(key, '-', '+');
    expect(entries.map(([, fields]) => fields)).toEqual(expected.map((l) => ['signal', l]));
    const groups = (await redis.call('XINFO', 'GROUPS', key)) as unknown[][];
    const info = Object.fromEntries(Array.from({ length: groups[0]!.length / 2 }, (_, i) => [groups[0]![2 * i], groups[0]![2 * i + 1]]));
    expect(info).toMatchObject({ name: 'idle-consumers', lag: expected.length, 'entries-read': null });
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { sinks: Record<string, Record<string, number>> };
    expect(Object.entries(summary.sinks).find(([name]) => name.startsWith('redis'))![1]).toMatchObject({ sent: 38, dropped: 0 });
  });

  it('rejects a Redis sink URI without a stream, with a usage error', () => {
    const r = runCli(['run', clip, `${server.url}/0`, ...fast]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/names no stream/);
    expect(r.stderr).toMatch(/hint:/);
  });
});
