/**
 * Credentials and messages, through the real CLI against real mosquitto and redis-server processes
 * on loopback: credentials are never echoed, a refused login or a database the server lacks is a
 * clear error (not an outage retried), a message the broker turns down says why once, and the
 * small messages that used to mislead (a UTF-16 config, a TTA size error) name what the user gave.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from './helpers/cli.js';
import { modelsDir, tempDir, videos } from './helpers/paths.js';
import { startMosquitto, startRedis, waitFor } from './helpers/servers.js';
import { serverForSuite } from './helpers/suite-server.js';

const fast = ['--input-height', '65', '--models-dir', modelsDir, '--no-progress', '--duration', '0.3'];
/** 1280x720, 25 fps: --duration 0.3 gives 8 frames. */
const clip = join(videos, 'udacity_vehicledet_test_video.mp4');
const secret = 'hunter2-s3cret';
const noEnv = { ROADSEG_MQTT_USERNAME: '', ROADSEG_MQTT_PASSWORD: '', ROADSEG_REDIS_USERNAME: '', ROADSEG_REDIS_PASSWORD: '' };

interface Summary {
  framesOut: number;
  sinks: Record<string, Record<string, number>>;
}
const summaryOf = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Summary;
const sinkCounters = (s: Summary, prefix: string) => Object.entries(s.sinks).find(([name]) => name.startsWith(prefix))![1]!;

describe('MQTT with a password file (mosquitto)', () => {
  const broker = serverForSuite(() => startMosquitto({ user: { name: 'roadseg', password: secret } }));
  const topic = () => `${broker.url}/cars/{source}/signal?qos=1`;

  it('credentials in the URI: refused, the password masked in every line', () => {
    const r = runCli(['run', clip, topic().replace('mqtt://', `mqtt://roadseg:${secret}@`), ...fast], { env: noEnv });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/credentials in an MQTT sink URI/);
    expect(r.stderr).toMatch(/where: mqtt:\/\/roadseg:\*\*\*@127\.0\.0\.1/);
    expect(r.stderr + r.stdout).not.toContain(secret);
  });

  it('a wrong password: a clear error with the credentials hint, before the first frame, not retried as an outage', () => {
    const out = tempDir();
    const r = runCli(['run', clip, topic(), '-s', join(out, 's.jsonl'), ...fast], { env: { ...noEnv, ROADSEG_MQTT_USERNAME: 'roadseg', ROADSEG_MQTT_PASSWORD: 'wrong' } });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/error: the MQTT broker refused the login \(user "roadseg"\): Connection refused: Not authorized/);
    expect(r.stderr).toMatch(/hint: +check the user and password: ROADSEG_MQTT_USERNAME and ROADSEG_MQTT_PASSWORD/);
    expect(r.stderr).not.toMatch(/retrying/);
    expect(r.stderr).not.toContain('wrong');
  });

  it('the right password: every message sent', () => {
    const out = tempDir();
    const r = runCli(['run', clip, topic(), '--summary', join(out, 'summary.json'), ...fast], { env: { ...noEnv, ROADSEG_MQTT_USERNAME: 'roadseg', ROADSEG_MQTT_PASSWORD: secret } });
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(join(out, 'summary.json'));
    expect(sinkCounters(s, 'mqtt')).toMatchObject({ sent: s.framesOut, dropped: 0, notSent: 0, inFlight: 0 });
  });
});

describe('Redis with requirepass (redis-server)', () => {
  const redis = serverForSuite(() => startRedis({ requirepass: secret }));

  it('a password in the URL: refused, masked in the where-line', () => {
    const r = runCli(['run', clip, `redis://:${secret}@127.0.0.1:${redis.port}/0?stream=s`, ...fast], { env: noEnv });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/where: redis:\/\/:\*\*\*@127\.0\.0\.1/);
    expect(r.stderr + r.stdout).not.toContain(secret);
  });

  it('no password or a wrong one: NOAUTH / WRONGPASS as a clear error with the hint', () => {
    for (const password of ['', 'wrong']) {
      const r = runCli(['run', clip, `${redis.url}/0?stream=s`, ...fast], { env: { ...noEnv, ROADSEG_REDIS_PASSWORD: password } });
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toMatch(password ? /refused the credentials \(password only\): WRONGPASS/ : /refused the credentials \(none set\): NOAUTH/);
      expect(r.stderr).toMatch(/hint: +check the user and password: ROADSEG_REDIS_USERNAME and ROADSEG_REDIS_PASSWORD/);
      expect(r.stderr).not.toMatch(/retrying/);
    }
  });
  it('the password changed mid-run: the reconnect is refused, the run stops with the error, the outputs finalised', async () => {
    const out = tempDir();
    const signal = join(out, 's.jsonl');
    const run = startCli(['run', clip, '--loop', '--realtime', `${redis.url}/0?stream=mid`, '-s', signal, ...fast.slice(0, -2)], { env: { ...noEnv, ROADSEG_REDIS_PASSWORD: secret } });
    const admin = new Redis({ host: '127.0.0.1', port: redis.port, password: secret, lazyConnect: true });
    await admin.connect();
    await waitFor(async () => (await admin.xlen('mid')) > 0, 60_000, 'the first messages');
    await admin.config('SET', 'requirepass', 'rotated');
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const r = await run.done;
    await admin.config('SET', 'requirepass', secret);
    await admin.quit();
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/error: the Redis server refused the credentials \(password only\): WRONGPASS/);
    // Every line written is whole: the run stopped cleanly.
    for (const line of readFileSync(signal, 'utf8').split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe('Redis database and key (redis-server)', () => {
  const redis = serverForSuite(() => startRedis());

  it('a database index the server lacks: a usage error naming the range; nothing written to database 0', async () => {
    const r = runCli(['run', clip, `${redis.url}/99?stream=db99`, ...fast], { env: noEnv });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/error: the Redis server has no database 99: it has 16 \(0 to 15\)/);
    const client = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    await client.connect();
    expect(await client.exists('db99')).toBe(0);
    await client.quit();
  });

  it('a key of the wrong type: the reason said once, every message counted as dropped', async () => {
    const client = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    await client.connect();
    await client.select(2);
    await client.set('plain', 'not a stream');
    await client.quit();
    const out = tempDir();
    const r = runCli(['run', clip, `${redis.url}/2?stream=plain`, '--summary', join(out, 'summary.json'), ...fast], { env: noEnv });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/holds a value of another type, not a stream \(WRONGTYPE\)/g)).toHaveLength(1);
    const s = summaryOf(join(out, 'summary.json'));
    expect(sinkCounters(s, 'redis')).toMatchObject({ sent: 0, dropped: s.framesOut, notSent: 0, inFlight: 0 });
  });
});

describe('messages that name what the user gave', () => {
  it('after --source, a positional sink is a sink (said so); one that could be either is refused; --sink is never a source', () => {
    const out = tempDir();
    const video = join(out, 'out.mp4');
    const first = runCli(['run', '--source', clip, video, ...fast]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`"${video}": taken as a sink`);
    expect(first.stderr).toMatch(/^roadseg: sinks: video .*out\.mp4$/m);
    expect(first.stderr).not.toMatch(/source .*out\.mp4/);
    const again = runCli(['run', '--source', clip, video, ...fast]);
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toMatch(/could be a source \(the file exists\) or a sink/);
    expect(again.stderr).toMatch(/hint: +give it as --source .* or as --sink/);
    const flagged = runCli(['run', '--source', clip, '--sink', video, '--sink', join(out, 's.jsonl'), ...fast]);
    expect(flagged.code, flagged.stderr).toBe(0);
    expect(readFileSync(join(out, 's.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(8);
  });

  it('a stream source with credentials that cannot be opened: the error shows the URI with the password masked', () => {
    const r = runCli(['run', `http://admin:${secret}@127.0.0.1:1/cam.mjpg`, ...fast]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/error: cannot open stream http:\/\/admin:\*\*\*@127\.0\.0\.1:1\/cam\.mjpg/);
    expect(r.stderr).toMatch(/where: http:\/\/admin:\*\*\*@/);
    expect(r.stderr + r.stdout).not.toContain(secret);
  });

  it('a UTF-16 config file: said so, with no NUL bytes in the message', () => {
    const dir = tempDir();
    for (const [name, bytes] of [
      ['bom.json', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"stride": 2}', 'utf16le')])],
      ['nobom.json', Buffer.from('{"stride": 2}', 'utf16le')],
    ] as const) {
      writeFileSync(join(dir, name), bytes);
      const r = runCli(['run', clip, '-c', join(dir, name), ...fast]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/error: the config file is UTF-16, not UTF-8/);
      expect(r.stderr).toMatch(/hint: +save it as UTF-8/);
      expect(r.stderr).not.toContain('\0');
    }
  });

  it('a --tta scale too large for the input: the message names the user\'s frame size and the scale, before the model loads', () => {
    const r = runCli(['run', clip, '--tta', '1,4', ...fast, '--input-height', '1025']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/error: a 1280x720 picture needs a \d+x\d+ model input/);
    expect(r.stderr).toMatch(/where: .*udacity_vehicledet_test_video\.mp4, --tta scale 4/);
    expect(r.stderr).not.toMatch(/16x9/);
    expect(r.stderr).not.toMatch(/^roadseg: model:/m);
  });
});
