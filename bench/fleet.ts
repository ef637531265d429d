/**
 * `npm run bench:fleet`: fleet replay and broker costs on this machine, against real redis-server
 * and mosquitto processes on loopback.
 *
 *   replay     files per minute and frames per second with 1 and 2 `roadseg worker` processes
 *              (the cores shared among them: --threads each), the time from submit to the start of
 *              a job on an idle worker, and the longest event-loop block of a worker during a job
 *   brokers    the cost per signal message of the MQTT (QoS 0, QoS 1) and Redis Streams sinks at
 *              10 sources x 30 fps: CPU time of roadseg's process and of the broker per message
 *
 * Usage: npm run bench:fleet [-- --files N --seconds S --input-height PX --brokers-only --json FILE]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SignalMessage } from '../src/core/signal.js';
import type { Sink } from '../src/core/sink.js';
import { fleetStatus, openQueue } from '../src/fleet/jobs.js';
import { MqttSink } from '../src/sinks/mqtt.js';
import { RedisStreamSink } from '../src/sinks/redis-stream.js';
import { packageRoot } from '../src/util/package.js';
import { startMosquitto, startRedis, waitFor, type ServerProcess } from '../test/helpers/servers.js';

const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '1' },
    'input-height': { type: 'string', default: '257' },
    json: { type: 'string' },
    'brokers-only': { type: 'boolean', default: false },
  },
});
const files = Number(args.files);
const seconds = Number(args.seconds);
const cli = join(packageRoot, 'bin', 'roadseg.js');
const cores = availableParallelism();
const videos = join(packageRoot, '..', 'shared', 'data', 'videos');
const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

/** `files` clips of `seconds` s at the shipped clips' own size and rate (cut, not re-scaled). */
function clips(): string[] {
  const dir = tempDir('roadseg-bench-fleet-');
  const src = join(videos, 'udacity_lanelines_solidWhiteRight.mp4');
  return Array.from({ length: files }, (_, i) => {
    const out = join(dir, `clip${i}.mp4`);
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-ss', String(i % 6), '-i', src, '-t', String(seconds), '-an', out]);
    return out;
  });
}

async function replay(redis: ServerProcess, inputs: string[], workers: number) {
  const queueName = `bench${workers}`;
  const out = tempDir('roadseg-bench-out-');
  const threads = Math.max(1, Math.floor(cores / workers));
  const procs = Array.from({ length: workers }, () => {
    const p = spawn(process.execPath, [cli, 'worker', redis.url, '--queue', queueName, '--threads', String(threads)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    return { p, err: () => err };
  });
  await waitFor(() => procs.every((w) => w.err().includes('worker on queue')), 60_000, 'the workers');
  const queue = openQueue(redis.url, queueName);
  const t0 = Date.now();
  execFileSync(process.execPath, [cli, 'submit', redis.url, '--queue', queueName, ...inputs, '--out-dir', out, '--input-height', args['input-height']!, '--no-video']);
  await waitFor(async () => (await queue.getJobCounts('completed')).completed === inputs.length, 600_000, 'the jobs');
  const wallS = (Date.now() - t0) / 1000;
  const jobs = await queue.getCompleted(0, -1);
  const frames = jobs.reduce((n, j) => n + j.returnvalue.frames, 0);
  const startDelays = jobs.map((j) => (j.processedOn ?? 0) - j.timestamp).sort((a, b) => a - b);
  const status = await fleetStatus(queue);
  for (const w of procs) w.p.kill('SIGTERM');
  await Promise.all(procs.map((w) => new Promise((r) => w.p.once('exit', r))));
  await queue.close();
  return {
    workers,
    threadsEach: threads,
    files: inputs.length,
    frames,
    wallS: round(wallS),
    filesPerMinute: round((inputs.length / wallS) * 60),
    fps: round(frames / wallS),
    statusFps: status.fps,
    /** The first job of each worker includes loading the model; later ones start as soon as submitted. */
    submitToStartMsMin: startDelays[0],
    eventLoopMaxBlockMs: Math.max(...jobs.map((j) => j.returnvalue.eventLoopMaxBlockMs)),
  };
}

/** CPU seconds used so far by a process (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One sink per source, as `{source}` in the URI gives: 10 connections, 300 messages a second. */
async function brokerCost(name: string, makeSink: (source: string) => Sink, serverPid: number, sources = 10, fps = 30, durationS = 8) {
  const sinks = Array.from({ length: sources }, (_, s) => makeSink(`cam${s}`));
  for (const [s, sink] of sinks.entries()) {
    const stream = { sourceId: `cam${s}`, uri: `cam${s}`, kind: 'stream' as const, live: true, width: 1280, height: 720, fps };
    await sink.open({ stream, streams: [stream], manifest: {} as never, device: 'cpu', precision: 'fp32', classes: { names: [], palette: [] } });
  }
  await new Promise((r) => setTimeout(r, 500));
  const message = (source: number, frame: number): SignalMessage => ({
    v: 1, type: 'signal', source: `cam${source}`, frame, ptsMs: frame * 33.333, captureTime: Date.now(), latencyMs: 80.5, status: 'ok', model: 'deeplabv3_mnedgetpu_slim_cityscapes', device: 'cpu', precision: 'fp32', drivableSource: 'deeplabv3_mnedgetpu_slim_cityscapes',
    drivablePct: 41.2, egoCorridorPct: 88.9, roadEdges: [{ y: 0.6, left: 0.21, right: 0.83 }, { y: 0.8, left: 0.12, right: 0.91 }] as never, histogram: { road: 0.41, car: 0.12, sky: 0.2, building: 0.15, vegetation: 0.12 },
    confidence: 0.73, freeSpace: Array.from({ length: 32 }, (_, i) => 0.6 + (i % 5) * 0.05), hoodY: 0.93, camera: { condition: 'ok', luma: 103.2, sharpness: 1494.5, stillFrames: 0 },
  });
  const self0 = process.cpuUsage();
  const server0 = cpuSeconds(serverPid);
  const total = sources * fps * durationS;
  const t0 = performance.now();
  for (let i = 0; i < fps * durationS; i++) {
    for (let s = 0; s < sources; s++) sinks[s]!.writeSignal!(message(s, i));
    const due = t0 + ((i + 1) * 1000) / fps - performance.now();
    if (due > 0) await new Promise((r) => setTimeout(r, due));
  }
  for (const sink of sinks) await sink.close();
  const self = process.cpuUsage(self0);
  const counters = sinks.map((s) => s.stats!() as Record<string, number>);
  return {
    sink: name,
    messages: total,
    sent: counters.reduce((n, c) => n + c.sent!, 0),
    dropped: counters.reduce((n, c) => n + c.dropped!, 0),
    roadsegCpuUsPerMessage: round((self.user + self.system) / total),
    brokerCpuUsPerMessage: round(((cpuSeconds(serverPid) - server0) * 1e6) / total),
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

const redis = await startRedis();
const mosquitto = await startMosquitto();
try {
  const inputs = args['brokers-only'] ? [] : clips();
  const results = {
    machine: { cores, inputHeight: Number(args['input-height']), files, secondsEach: seconds },
    replay: args['brokers-only'] ? [] : [await replay(redis, inputs, 1), await replay(redis, inputs, 2)],
    brokers: [
      await brokerCost('mqtt qos 0', (id) => new MqttSink(`${mosquitto.url}/bench/${id}/signal?qos=0`), mosquitto.pid()),
      await brokerCost('mqtt qos 1', (id) => new MqttSink(`${mosquitto.url}/bench/${id}/signal?qos=1`), mosquitto.pid()),
      await brokerCost('redis stream', (id) => new RedisStreamSink(`${redis.url}/0?stream=bench:${id}&maxlen=10000`), redis.pid()),
    ],
  };
  console.log(JSON.stringify(results, null, 2));
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2) + '\n');
} finally {
  await redis.stop();
  await mosquitto.stop();
}
