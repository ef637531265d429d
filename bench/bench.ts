/**
 * `npm run bench`: speed of the streaming graph against the model alone, measured side by side in
 * one run on one real clip (these machines are noisy: compare the ratios, not absolute fps).
 *
 *   bare       the engine alone on tensors prepared beforehand (the ceiling): DeepLabV3 fp32 and
 *              its reduced precision on this provider (int8 on the CPU, fp16 on WebGPU), and the
 *              default model (EfficientViT-B0, fp32), which replaced DeepLabV3 fp32 as what a
 *              plain `roadseg run` infers
 *   pipeline   the whole graph with no sinks, and with the video file and signal sinks, for each;
 *              the variants alternate within each round so that drift in machine load hits all
 *              alike
 *   websocket  the graph with 20 reading websocket clients and one stalled, over no clients
 *   latency    live sources: end-to-end latency with 1 and 2 frames in flight, on the clip paced
 *              in real time and on an MJPEG-over-HTTP stream served by a local ffmpeg
 *
 * `--in-memory` runs the graph from frames decoded into memory beforehand (no video decoding, no
 * sinks) against bare inference, on the provider `--device` picks: pipeline fps over bare
 * inference where decoding is not the question (a GPU machine).
 *
 * Usage: npm run bench [-- --clip PATH --frames N --rounds N --json FILE --models-dir DIR
 *                          --device D --threads N --in-flight N --in-memory --no-latency --no-multi]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createServer } from 'node:net';
import type { InputTensor, Precision } from '../src/core/model.js';
import { SegmentationEngine, type EngineOptions } from '../src/engine/engine.js';
import { getManifest } from '../src/engine/registry.js';
import { packageRoot } from '../src/util/package.js';
import { createPipeline } from '../src/app/open.js';
import { defaultInFlight, type PipelineConfigInput } from '../src/app/config.js';
import { openSource } from '../src/app/sources.js';
import { isStale } from '../src/core/frame.js';
import type { FrameSource } from '../src/core/source.js';
import { toBgr, packInput } from '../src/stages/preprocess.js';
import type { DeviceChoice } from '../src/engine/devices.js';
import type { RunSummary } from '../src/pipeline/graph.js';
import { DecodedFrames } from './memory-source.js';
import { benchMultiSource, multiSourceTable } from './multi-source.js';
import { roundRatio } from './stats.js';
import { benchWebsocket } from './websocket.js';

const { values: args } = parseArgs({
  options: {
    clip: { type: 'string', default: join(packageRoot, '..', 'shared', 'data', 'videos', 'udacity_vehicledet_pr2_test_small1.mp4') },
    mjpeg: { type: 'string', default: join(packageRoot, '..', 'shared', 'data', 'videos', 'derived_camvid_0016E5_15fps_from_labelled_frames.mp4') },
    frames: { type: 'string', default: '60' },
    rounds: { type: 'string', default: '2' },
    'latency-seconds': { type: 'string', default: '10' },
    json: { type: 'string' },
    'models-dir': { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    threads: { type: 'string' },
    'in-flight': { type: 'string' },
    'in-memory': { type: 'boolean', default: false },
    'no-latency': { type: 'boolean', default: false },
    'no-multi': { type: 'boolean', default: false },
    'no-websocket': { type: 'boolean', default: false },
  },
});
const clip = resolve(args.clip!);
const frames = Number(args.frames);
const rounds = Number(args.rounds);
const modelsDir = args['models-dir'];
const device = args.device as DeviceChoice;
const threads = args.threads ? Number(args.threads) : undefined;
const inFlight = args['in-flight'] ? Number(args['in-flight']) : undefined;
const log = (l: string) => process.stderr.write(`bench: ${l}\n`);

/** DeepLabV3's reduced precision on each provider: int8 on the CPU, fp16 on WebGPU (none on CUDA). */
const reduced = ({ cpu: 'int8', webgpu: 'fp16' } as Partial<Record<DeviceChoice, Precision>>)[device];
/** DeepLabV3 (the model with several precisions) in fp32 and its reduced precision, and the default model. */
const variantOptions: Record<string, EngineOptions> = {
  fp32: { model: 'deeplabv3-mnedgetpu-slim', precision: 'fp32' },
  ...(reduced && { [reduced]: { model: 'deeplabv3-mnedgetpu-slim', precision: reduced } }),
  default: { precision: 'auto' },
};
type Variant = string;
const variants = Object.keys(variantOptions);

async function bareFps(engine: SegmentationEngine): Promise<number> {
  const source = openSource(clip, { duration: undefined });
  const tensors: InputTensor[] = [];
  for (let i = 0; i < Math.min(frames, 20); i++) {
    const f = await source.read();
    if (!f || isStale(f)) break;
    tensors.push(packInput(toBgr(f.image), engine.inputSizeFor(f.image.cols, f.image.rows), engine.manifest.input.colorOrder));
    f.image.release();
  }
  source.close();
  const t0 = performance.now();
  for (let i = 0; i < frames; i++) await engine.infer(tensors[i % tensors.length]!);
  return frames / ((performance.now() - t0) / 1000);
}

/** Runs a pipeline until `count` frames have left it (or `seconds` have passed); its summary. */
async function runPipeline(engine: SegmentationEngine, config: Omit<PipelineConfigInput, 'source'> & { source?: string }, limit: { count?: number; seconds?: number }, source?: FrameSource): Promise<RunSummary> {
  const p = await createPipeline({ source: clip, loop: true, modelsDir, ...(inFlight && { inFlight }), ...config }, { engine, ...(source && { source }) });
  let n = 0;
  p.results.subscribe(() => {
    if (++n === limit.count) p.stop();
  });
  const timer = limit.seconds ? setTimeout(() => p.stop(), limit.seconds * 1000) : undefined;
  try {
    return await p.run();
  } finally {
    clearTimeout(timer);
  }
}

const engines: Record<Variant, SegmentationEngine> = {};
for (const v of variants) engines[v] = await SegmentationEngine.create({ ...variantOptions[v]!, device, threads, ...(modelsDir && { modelsDir }), log });
const out = mkdtempSync(join(tmpdir(), 'roadseg-bench-'));
const rows: { name: string; variant: Variant; round: number; fps: number }[] = [];
const memory = args['in-memory'] ? await DecodedFrames.decode(clip, Math.min(frames, 30)) : undefined;
const sinkSets: [string, string[]][] = memory ? [['pipeline from memory, no sinks', []]] : [
  ['pipeline, no sinks', []],
  ['pipeline, video + signal sinks', [join(out, 'overlay.mp4'), `signal:${join(out, 'signal.jsonl')}`]],
];
let encoder = '';
for (let round = 0; round < rounds; round++) {
  for (const v of round % 2 ? [...variants].reverse() : variants) {
    const engine = engines[v]!;
    rows.push({ name: 'bare inference', variant: v, round, fps: await bareFps(engine) });
    for (const [name, sinks] of sinkSets) {
      const s = await runPipeline(engine, { model: engine.manifest.id, precision: engine.precision, sinks }, { count: frames }, memory?.source());
      rows.push({ name, variant: v, round, fps: s.fps });
      for (const [sink, c] of Object.entries(s.sinks)) if (sink.startsWith('video')) encoder = String(c.codec);
    }
  }
}
memory?.dispose();

/** Live latency: in-flight 1 and 2 on the realtime-paced clip and on an MJPEG stream (DeepLabV3 in its reduced precision). */
interface LatencyRow { source: string; inFlight: number; fps: number; p50: number; p95: number; inferP50: number; frameIntervalMs: number; goalMs: number; dropped: number }
const latency: LatencyRow[] = [];
if (!args['no-latency'] && !memory) {
  const seconds = Number(args['latency-seconds']);
  const measure = async (label: string, config: Omit<PipelineConfigInput, 'source'> & { source?: string }, fps: number, n: number) => {
    const s = await runPipeline(engines[reduced ?? 'fp32']!, { ...config, inFlight: n, sinks: [] }, { seconds });
    const e2e = s.latencyMs.endToEnd;
    const inferP50 = s.latencyMs.infer.p50;
    const frameIntervalMs = 1000 / fps;
    latency.push({ source: label, inFlight: n, fps: s.fps, p50: e2e.p50, p95: e2e.p95, inferP50, frameIntervalMs, goalMs: 1.5 * (inferP50 + frameIntervalMs), dropped: Object.values(s.drops).reduce((a, b) => a + b, 0) });
  };
  const fpsOfFile = (file: string) => {
    const s = openSource(file, {});
    s.close();
    return s.info.fps;
  };
  for (const n of [1, 2, 1, 2]) await measure('clip --realtime', { realtime: true }, fpsOfFile(clip), n);
  for (const n of [1, 2, 1, 2]) {
    const { url, stop } = await serveMjpeg(resolve(args.mjpeg!));
    try {
      await measure('MJPEG over HTTP', { source: url, loop: false }, fpsOfFile(resolve(args.mjpeg!)), n);
    } finally {
      stop();
    }
  }
}
for (const e of Object.values(engines)) await e.dispose();
const ws = memory || args['no-websocket'] ? undefined : await benchWebsocket({ clip, frames, modelsDir });
// Several sources: 1, 2 and 4 copies of the clip, batched and not (the default model).
const multi = memory || args['no-multi'] ? undefined : await benchMultiSource({ clip, frames: Math.max(10, Math.round(frames / 2)), rounds: 1, ...(modelsDir && { modelsDir }), log });

/** A row's fps by round, in round order. */
const fpsOf = (name: string, v: Variant) => rows.filter((r) => r.name === name && r.variant === v).sort((x, y) => x.round - y.round).map((r) => r.fps);
/** Ratios are taken within each round, then the median over rounds (see roundRatio). */
const ratio = (name: string, v: Variant, overName: string, overVariant: Variant) => roundRatio(fpsOf(name, v), fpsOf(overName, overVariant)).toFixed(2);
const names = ['bare inference', ...sinkSets.map(([n]) => n)];
const fp32 = engines.fp32!;
const def = engines.default!;
console.log(`clip ${clip.split('/').pop()}${memory ? ' (decoded into memory)' : ''}, ${frames} frames per variant, ${rounds} rounds with the variants alternated in each: fps the best of the rounds, ratios the median of the rounds' own ratios`);
console.log(`settings: on ${fp32.provider}; ${availableParallelism()} cores; inference threads ${threads ?? `default (${availableParallelism()})`}; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? 'default (4)'}; in flight ${inFlight ?? `default (${defaultInFlight.lossless} files, ${defaultInFlight.freshest} live)`}${encoder ? `; video ${encoder}` : ''}`);
console.log(`${['fp32', ...(reduced ? [reduced] : [])].join(', ')}: ${fp32.manifest.id}; default: ${def.manifest.id} ${def.precision} (what \`roadseg run\` infers with no --model)`);
const others = variants.filter((v) => v !== 'fp32');
const header = ['variant', ...variants.map((v) => `${v} fps`), ...others.map((v) => `${v} / fp32`), ...variants.map((v) => `${v} ratio to bare`)];
console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---|').join('')}`);
for (const name of names) {
  const cells = [name, ...variants.map((v) => Math.max(...fpsOf(name, v)).toFixed(2)), ...others.map((v) => ratio(name, v, name, 'fp32')), ...variants.map((v) => ratio(name, v, 'bare inference', v))];
  console.log(`| ${cells.join(' | ')} |`);
}
if (!memory) {
  const full = 'pipeline, video + signal sinks';
  if (reduced === 'int8') console.log(`\npipeline with video + signal: int8 ${ratio(full, 'int8', full, 'fp32')}x fp32 (goal >= 1.8), ${ratio(full, 'int8', 'bare inference', 'int8')} of bare int8 inference (goal >= 0.85)`);
  console.log(`the default run (${def.manifest.id} ${def.precision}) with video + signal: ${ratio(full, 'default', full, 'fp32')}x DeepLabV3 fp32, ${ratio(full, 'default', 'bare inference', 'default')} of its bare inference`);
}
if (latency.length) {
  console.log('\nlive latency (int8, no sinks): end-to-end ms from capture to the sinks');
  console.log('| source | in flight | fps | p50 | p95 | inference p50 | goal p95 <= 1.5 x (inference p50 + frame interval) | dropped |\n|---|---|---|---|---|---|---|---|');
  for (const l of latency) console.log(`| ${l.source} | ${l.inFlight} | ${l.fps.toFixed(2)} | ${l.p50.toFixed(0)} | ${l.p95.toFixed(0)} | ${l.inferP50.toFixed(0)} | ${l.goalMs.toFixed(0)} ${l.p95 <= l.goalMs ? 'met' : 'missed'} | ${l.dropped} |`);
}
if (ws) console.log(`\nwebsocket: ${ws.fpsWithClients.toFixed(2)} fps with 20 reading clients + 1 stalled, ${ws.fpsNoClients.toFixed(2)} fps with none: ratio ${ws.ratio.toFixed(2)} (CPU ms/frame ${ws.cpuMsPerFrameWithClients.toFixed(0)} vs ${ws.cpuMsPerFrameNoClients.toFixed(0)})`);
if (multi) console.log(`\nseveral sources (model ${getManifest().id}, ${Math.max(10, Math.round(frames / 2))} frames per source and phase): aggregate fps\n${multiSourceTable(multi)}`);
if (args.json) writeFileSync(args.json, JSON.stringify({ clip, frames, rounds, models: Object.fromEntries(variants.map((v) => [v, `${engines[v]!.manifest.id} ${engines[v]!.precision}`])), device: fp32.provider, threads, inFlight, encoder, rows, latency, websocket: ws, multiSource: multi }, null, 2));

/** An MJPEG-over-HTTP stream of a clip, in real time, as an IP camera serves one (one client). */
async function serveMjpeg(file: string): Promise<{ url: string; stop: () => void }> {
  const port = await new Promise<number>((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
  const url = `http://127.0.0.1:${port}/cam.mjpg`;
  const child = spawn('ffmpeg', ['-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', file, '-an', '-c:v', 'mjpeg', '-q:v', '6', '-f', 'mpjpeg', '-listen', '1', url], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1000));
  return { url, stop: () => child.kill('SIGKILL') };
}
