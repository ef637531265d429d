/** Pure logic of the broker sinks and the fleet: the send queue, URIs, job ids, failure classes. */
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { expandVideoInputs, jobFor } from '../src/fleet/jobs.js';
import { classifyFailure } from '../src/fleet/worker.js';
import { parseMqttUri, statusTopicOf } from '../src/sinks/mqtt.js';
import { parseRedisStreamUri } from '../src/sinks/redis-stream.js';
import { SendQueue } from '../src/util/broker.js';
import { ExitCode, RoadsegError } from '../src/util/errors.js';
import { tempDir } from './helpers/paths.js';

describe('SendQueue', () => {
  it('holds messages while down, sends them in order when up, at most `window` unacknowledged', async () => {
    const sent: number[] = [];
    const acks: (() => void)[] = [];
    const q = new SendQueue<number>((n) => new Promise<void>((resolve) => (sent.push(n), acks.push(resolve))), { capacity: 10, window: 2 });
    for (let i = 0; i < 5; i++) q.push(i);
    expect(sent).toEqual([]);
    q.setReady(true);
    expect(sent).toEqual([0, 1]);
    acks.shift()!();
    await Promise.resolve();
    await Promise.resolve();
    expect(sent).toEqual([0, 1, 2]);
    while (acks.length) {
      acks.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(sent).toEqual([0, 1, 2, 3, 4]);
    expect(q.counters()).toEqual({ sent: 5, dropped: 0, notSent: 0, inFlight: 0, queued: 0 });
  });

  it('drops the oldest when full and counts failed sends as dropped; what is left at drain as notSent and inFlight', async () => {
    const q = new SendQueue<number>((n) => (n === 3 ? Promise.reject(new Error('lost')) : Promise.resolve()), { capacity: 3, window: 8 });
    for (let i = 0; i < 5; i++) q.push(i);
    expect(q.counters()).toEqual({ sent: 0, dropped: 2, notSent: 0, inFlight: 0, queued: 3 });
    q.setReady(true);
    await q.drain(1000);
    expect(q.counters()).toEqual({ sent: 2, dropped: 3, notSent: 0, inFlight: 0, queued: 0 });
    const stuck = new SendQueue<number>(() => new Promise<void>(() => {}), { capacity: 3, window: 1 });
    stuck.push(1);
    stuck.push(2);
    stuck.setReady(true);
    await stuck.drain(50);
    expect(stuck.counters()).toEqual({ sent: 0, dropped: 0, notSent: 1, inFlight: 1, queued: 0 });
  });
});

describe('broker URIs', () => {
  it('MQTT: topic, qos, TLS port; status topic beside the signal topic', () => {
    expect(parseMqttUri('mqtt://127.0.0.1:1883/roadseg/{source}/signal?qos=1')).toEqual({ url: 'mqtt://127.0.0.1:1883', topic: 'roadseg/{source}/signal', qos: 1 });
    expect(parseMqttUri('mqtts://broker.example/a')).toEqual({ url: 'mqtts://broker.example:8883', topic: 'a', qos: 0 });
    expect(statusTopicOf('roadseg/cam/signal')).toBe('roadseg/cam/status');
    expect(statusTopicOf('signal')).toBe('signal/status');
    for (const bad of ['mqtt://h:1/', 'mqtt://h:1/a%00b', 'mqtt://h:1/$SYS/x', 'mqtt://h:1/a/#', 'mqtt://h:1/a?qos=2', 'mqtt://h:1/a?retain=1', 'mqtt://u:p@h:1/a']) {
      expect(() => parseMqttUri(bad), bad).toThrow(RoadsegError);
    }
  });

  it('Redis Streams: db, key, maxlen; credentials and unknown options refused', () => {
    expect(parseRedisStreamUri('redis://127.0.0.1:6380/2?stream=roadseg:{source}&maxlen=500')).toMatchObject({ server: { host: '127.0.0.1', port: 6380, db: 2 }, key: 'roadseg:{source}', maxlen: 500 });
    expect(parseRedisStreamUri('rediss://r.example?stream=s').server).toMatchObject({ port: 6379, db: 0, tls: {} });
    for (const bad of ['redis://h:1/0', 'redis://h:1/x?stream=s', 'redis://h:1/0?stream=s&maxlen=0', 'redis://h:1/0?stream=s&foo=1', 'redis://:pw@h:1/0?stream=s']) {
      expect(() => parseRedisStreamUri(bad), bad).toThrow(RoadsegError);
    }
  });
});

describe('fleet jobs', () => {
  it('the id depends on the file (path, size, mtime) and the options, not on how the path is written', () => {
    const dir = tempDir();
    const file = join(dir, 'a.mp4');
    writeFileSync(file, 'x');
    const a = jobFor(file, { inputHeight: 129, model: undefined }, dir);
    expect(jobFor(join(dir, '.', 'a.mp4'), { inputHeight: 129 }, join(dir, 'elsewhere')).id).toBe(a.id);
    expect(jobFor(file, { inputHeight: 257 }, dir).id).not.toBe(a.id);
    expect(a.data.outputName).toMatch(/^a-[0-9a-f]{8}$/);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(jobFor(file, { inputHeight: 129 }, dir).id).not.toBe(a.id);
  });

  it('inputs: files as given, folders to their videos by name, globs in the last component; no match is an input error', () => {
    const dir = tempDir();
    for (const f of ['b.mp4', 'a.MKV', 'notes.txt', 'c.avi']) writeFileSync(join(dir, f), 'x');
    expect(expandVideoInputs([dir])).toEqual(['a.MKV', 'b.mp4', 'c.avi'].map((f) => join(dir, f)));
    expect(expandVideoInputs([join(dir, '?.mp4'), join(dir, 'notes.txt')])).toEqual([join(dir, 'b.mp4'), join(dir, 'notes.txt')]);
    expect(() => expandVideoInputs([join(dir, '*.mov')])).toThrow(/no files match/);
    expect(() => expandVideoInputs([join(dir, 'missing.mp4')])).toThrow(/input not found/);
  });

  it('usage and input errors are not retried; model, output, device and unknown errors are', () => {
    const err = (exitCode: number) => new RoadsegError('what', { where: 'there', hint: 'do this', exitCode });
    expect(classifyFailure(err(ExitCode.usage))).toBeInstanceOf(UnrecoverableError);
    expect(classifyFailure(err(ExitCode.input)).message).toBe('error: what\n  where: there\n  hint:  do this');
    for (const code of [ExitCode.failure, ExitCode.model, ExitCode.output, ExitCode.device]) expect(classifyFailure(err(code))).not.toBeInstanceOf(UnrecoverableError);
    expect(classifyFailure(new Error('boom')).message).toBe('error: boom');
  });
});
