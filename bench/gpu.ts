/**
 * GPU benchmark: both models on every execution provider this machine has, on real frames.
 *
 *   bare inference  the engine alone on tensors prepared beforehand, at 513x913 and 1025x2049
 *                   (DeepLabV3) and 512x1024 (ESPNetv2, fixed size): first run (graph set-up and,
 *                   for WebGPU, shader compilation), median ms, fps, and the share of pixels whose
 *                   label agrees with the CPU provider's on the same frames
 *   pipeline        the streaming graph with no sinks on a real clip (needs OpenCV; skipped, and
 *                   said so, where the binding cannot load)
 *
 * The frames come from a tensors file (`--frames`, written by `--prepare` here with OpenCV), so
 * the bare part runs where OpenCV is not installed: scripts/gpu-bench.sh carries it to GPU machines.
 *
 * Usage: node dist/bench/gpu.js [options] [report.md]
 *   --frames FILE        prepared tensors (default: out/gpu-bench/frames.bin.br if present, else
 *                        decoded now from ../shared/data with OpenCV)
 *   --prepare FILE       decode the frames with OpenCV, write them to FILE and exit
 *   --devices LIST       providers to try (default cpu,webgpu,cuda; unavailable ones are reported)
 *   --seconds S          timed runs per cell, at least (default 3), --min-runs N (default 3), --max-runs N (default 100)
 *   --layouts            also time WebGPU with the NHWC layout (the engine's default is NCHW)
 *                        (WebGPU is always also timed with fp16 weights where the model has them)
 *   --clip PATH          clip for the pipeline part; --pipeline-frames N (default 60); --no-pipeline
 *   --models-dir DIR, --json FILE, --quick (one frame per size, one timed run: for CPU-only checks)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants } from 'node:zlib';
import ndarray from 'ndarray';
import type { InputTensor, Provider } from '../src/core/model.js';
import { describeVulkan, probeDevices, webgpuIsSoftware } from '../src/engine/devices.js';
import { SegmentationEngine, type EngineOptions } from '../src/engine/engine.js';
import { getManifest } from '../src/engine/registry.js';
import { packageRoot } from '../src/util/package.js';
import { RoadsegError, messageOf } from '../src/util/errors.js';
import { median } from './stats.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    frames: { type: 'string' },
    prepare: { type: 'string' },
    devices: { type: 'string', default: 'cpu,webgpu,cuda' },
    seconds: { type: 'string', default: '3' },
    'min-runs': { type: 'string', default: '3' },
    'max-runs': { type: 'string', default: '100' },
    layouts: { type: 'boolean', default: false },
    clip: { type: 'string' },
    'pipeline-frames': { type: 'string', default: '60' },
    'no-pipeline': { type: 'boolean', default: false },
    'models-dir': { type: 'string' },
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});

const dataDir = join(packageRoot, '..', 'shared', 'data');
const defaultFramesFile = join(packageRoot, 'out', 'gpu-bench', 'frames.bin.br');
const modelsDir = args['models-dir'];
const quick = args.quick!;
const seconds = quick ? 0 : Number(args.seconds);
const minRuns = quick ? 1 : Number(args['min-runs']);
const maxRuns = Number(args['max-runs']);
const log = (line: string) => process.stderr.write(`gpu-bench: ${line}\n`);

// ---------------------------------------------------------------------------------------------
// Frames: real images packed as model inputs, stored as one brotli file.

interface PreparedFrame {
  /** Where the picture came from. */
  source: string;
  height: number;
  width: number;
  data: Uint8Array;
}

/** Model input sizes measured: [height, width, model]. */
const cells = [
  { model: 'deeplabv3-mnedgetpu-slim', height: 513, width: 913 },
  { model: 'deeplabv3-mnedgetpu-slim', height: 1025, width: 2049 },
  { model: 'espnetv2-s2', height: 512, width: 1024 },
] as const;

async function prepareFrames(): Promise<PreparedFrame[]> {
  // OpenCV only here: the rest of this file runs without it.
  const { readImage } = await import('../src/sources/images.js');
  const { openSource } = await import('../src/app/sources.js');
  const { packInput, toBgr } = await import('../src/stages/preprocess.js');
  const videoFrame = async (clip: string, skip: number) => {
    const source = openSource(join(dataDir, 'videos', clip), {});
    try {
      for (let i = 0; i < skip; i++) await source.read();
      const f = await source.read();
      if (!f || 'stale' in f) throw new Error(`${clip} has fewer than ${skip + 1} frames`);
      return toBgr(f.image);
    } finally {
      source.close();
    }
  };
  const pictures = [
    { source: 'videos/udacity_vehicledet_pr2_test_small1.mp4#30', bgr: await videoFrame('udacity_vehicledet_pr2_test_small1.mp4', 30) },
    { source: 'videos/udacity_lanelines_solidWhiteRight.mp4#60', bgr: await videoFrame('udacity_lanelines_solidWhiteRight.mp4', 60) },
    { source: 'images/cityscapes_fullres/cityscapes_example_2048x1024.png', bgr: toBgr(readImage(join(dataDir, 'images/cityscapes_fullres/cityscapes_example_2048x1024.png'))) },
  ];
  const out: PreparedFrame[] = [];
  for (const cell of cells) {
    // 16:9 size: the two video frames; 2:1 sizes: the Cityscapes frame first, then one video frame.
    const chosen = cell.width / cell.height > 1.9 ? [pictures[2]!, pictures[0]!] : [pictures[0]!, pictures[1]!];
    const order = getManifest(cell.model).input.colorOrder;
    for (const p of chosen) {
      const t = packInput(p.bgr, { height: cell.height, width: cell.width }, order);
      out.push({ source: p.source, height: cell.height, width: cell.width, data: new Uint8Array(t.data) });
    }
  }
  return out;
}

function writeFrames(file: string, frames: PreparedFrame[]): void {
  let offset = 0;
  const header = { version: 1, frames: frames.map((f) => ({ source: f.source, height: f.height, width: f.width, offset: (offset += f.data.length) - f.data.length })) };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const raw = Buffer.concat([len, json, ...frames.map((f) => Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength))]);
  mkdirSync(dirname(resolve(file)), { recursive: true });
  writeFileSync(file, brotliCompressSync(raw, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 9, [zlibConstants.BROTLI_PARAM_LGWIN]: 24, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: raw.length } }));
}

function readFrames(file: string): PreparedFrame[] {
  const raw = brotliDecompressSync(readFileSync(file));
  const len = raw.readUInt32LE(0);
  const header = JSON.parse(raw.subarray(4, 4 + len).toString('utf8')) as { version: number; frames: { source: string; height: number; width: number; offset: number }[] };
  if (header.version !== 1) throw new Error(`${file}: unknown frames file version ${header.version}`);
  const base = 4 + len;
  return header.frames.map((f) => ({ ...f, data: new Uint8Array(raw.subarray(base + f.offset, base + f.offset + f.height * f.width * 3)) }));
}

if (args.prepare) {
  const frames = await prepareFrames();
  writeFrames(args.prepare, frames);
  log(`wrote ${frames.length} frames to ${args.prepare}`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The machine.

const probe = probeDevices();
function sh(cmd: string, argv: string[]): string | undefined {
  try {
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}
const gpuName = sh('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'])?.split('\n')[0];
const cpuInfo = `${cpus()[0]?.model.trim() ?? 'unknown CPU'} x ${cpus().length}`;
const ortVersion = (JSON.parse(readFileSync(join(packageRoot, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
const vulkanNote = `${describeVulkan(probe)}${webgpuIsSoftware(probe) ? ' - no hardware GPU with a Vulkan driver: webgpu runs on the CPU' : ''}`;

// ---------------------------------------------------------------------------------------------
// Bare inference.

interface Variant {
  label: string;
  provider: Provider;
  opts: Partial<EngineOptions>;
}
const requested = args.devices!.split(',').map((d) => d.trim()).filter(Boolean) as Provider[];
const variants: Variant[] = requested.flatMap((p): Variant[] =>
  p === 'webgpu'
    ? [{ label: 'webgpu', provider: p, opts: {} }, ...(args.layouts ? [{ label: 'webgpu NHWC', provider: p, opts: { webgpuLayout: 'NHWC' as const } }] : []), { label: 'webgpu fp16', provider: p, opts: { precision: 'fp16' as const } }]
    : [{ label: p, provider: p, opts: {} }],
);

interface BareRow {
  model: string;
  input: string;
  device: string;
  status: 'ok' | 'unavailable' | 'failed';
  note?: string;
  createMs?: number;
  firstRunMs?: number;
  medianMs?: number;
  fps?: number;
  runs?: number;
  /** Lowest share of agreeing pixels over the frames, vs the CPU provider. */
  agreement?: number;
}

function agreement(a: Uint8Array, b: Uint8Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

let frames: PreparedFrame[];
const framesFile = args.frames ?? (existsSync(defaultFramesFile) ? defaultFramesFile : undefined);
if (framesFile) {
  frames = readFrames(framesFile);
  log(`frames from ${framesFile}`);
} else {
  log('no frames file: decoding real frames with OpenCV');
  frames = await prepareFrames();
}

const bare: BareRow[] = [];
/** CPU labels per cell and frame, the reference for agreement. */
const reference = new Map<string, Uint8Array[]>();
const models = [...new Set(cells.map((c) => c.model))];
for (const model of models) {
  for (const v of variants) {
    // fp16 only for the models that have it (DeepLabV3), made from fp32 on first use.
    if (v.opts.precision && v.opts.precision !== 'auto' && !getManifest(model).weights[v.opts.precision]) continue;
    const modelCells = cells.filter((c) => c.model === model);
    const t0 = performance.now();
    let engine: SegmentationEngine;
    try {
      engine = await SegmentationEngine.create({ model, device: v.provider, precision: 'fp32', modelsDir, noWarmup: true, ...v.opts });
    } catch (e) {
      let note = e instanceof RoadsegError ? (e.where ?? e.message) : messageOf(e);
      if (/providers_cuda\.so .*is not installed/.test(note)) note = 'CUDA provider not installed (`npm run install:cuda`)';
      for (const c of modelCells) bare.push({ model, input: `${c.width}x${c.height}`, device: v.label, status: 'unavailable', note });
      log(`${model} on ${v.label}: unavailable (${note})`);
      continue;
    }
    const createMs = performance.now() - t0;
    try {
      for (const c of modelCells) {
        const key = `${model} ${c.width}x${c.height}`;
        let set = frames.filter((f) => f.height === c.height && f.width === c.width);
        if (quick) set = set.slice(0, 1);
        if (!set.length) throw new Error(`no prepared frames of ${c.width}x${c.height}`);
        const tensors: InputTensor[] = set.map((f) => ndarray(f.data, [1, f.height, f.width, 3]));
        // First pass: set-up cost and the labels compared with the CPU's.
        const labels: Uint8Array[] = [];
        let firstRunMs = 0;
        for (const t of tensors) {
          const f0 = performance.now();
          labels.push(new Uint8Array((await engine.infer(t)).labels.data));
          if (labels.length === 1) firstRunMs = performance.now() - f0;
        }
        if (v.provider === 'cpu' && !reference.has(key)) reference.set(key, labels);
        const ref = reference.get(key);
        const agree = ref ? Math.min(...labels.map((l, i) => agreement(l, ref[i]!))) : undefined;
        // Timed runs over the same frames, warm.
        const times: number[] = [];
        const start = performance.now();
        while (times.length < maxRuns && (times.length < minRuns || performance.now() - start < seconds * 1000)) {
          const r0 = performance.now();
          await engine.infer(tensors[times.length % tensors.length]!);
          times.push(performance.now() - r0);
        }
        const total = times.reduce((a, b) => a + b, 0);
        const row: BareRow = {
          model,
          input: `${c.width}x${c.height}`,
          device: v.label,
          status: 'ok',
          createMs,
          firstRunMs,
          medianMs: median(times),
          fps: (times.length * 1000) / total,
          runs: times.length,
          agreement: agree,
          note: v.provider === 'webgpu' && webgpuIsSoftware(probe) ? 'lavapipe (software Vulkan, on the CPU)' : undefined,
        };
        bare.push(row);
        log(`${model} ${row.input} on ${v.label}: ${row.medianMs!.toFixed(1)} ms median, ${row.fps!.toFixed(2)} fps, first run ${row.firstRunMs!.toFixed(0)} ms${agree !== undefined ? `, ${(agree * 100).toFixed(3)} % agree with cpu` : ''}`);
      }
    } catch (e) {
      for (const c of modelCells) if (!bare.some((r) => r.model === model && r.device === v.label && r.input === `${c.width}x${c.height}`)) bare.push({ model, input: `${c.width}x${c.height}`, device: v.label, status: 'failed', note: messageOf(e).split('\n')[0] });
      log(`${model} on ${v.label}: failed (${messageOf(e)})`);
    } finally {
      await engine.dispose();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pipeline fps on a real clip (the whole graph, no sinks).

interface PipelineRow {
  model: string;
  device: string;
  status: 'ok' | 'unavailable' | 'skipped' | 'failed';
  note?: string;
  frames?: number;
  fps?: number;
  inferP50?: number;
}
const pipeline: PipelineRow[] = [];
const clip = resolve(args.clip ?? join(dataDir, 'videos', 'udacity_vehicledet_pr2_test_small1.mp4'));
const pipelineFrames = quick ? 3 : Number(args['pipeline-frames']);
let skipPipeline: string | undefined = args['no-pipeline'] ? 'not asked for (--no-pipeline)' : undefined;
let createPipeline: typeof import('../src/app/open.js').createPipeline | undefined;
if (!skipPipeline) {
  try {
    ({ createPipeline } = await import('../src/app/open.js'));
  } catch (e) {
    // Where the project's node_modules did not travel (GPU machines): rxjs and the OpenCV binding,
    // which links Debian's OpenCV 4.6 (about 270 shared libraries), are not there.
    skipPipeline = `the streaming graph cannot load here: it needs the OpenCV binding and rxjs (${messageOf(e).split('\n')[0].slice(0, 120)})`;
  }
}
if (!skipPipeline && !existsSync(clip)) skipPipeline = `clip not found: ${clip}`;
const available = new Set(bare.filter((r) => r.status === 'ok').map((r) => `${r.model} ${r.device}`));
for (const model of models) {
  for (const v of variants.filter((x) => x.label === x.provider)) {
    if (skipPipeline) {
      pipeline.push({ model, device: v.label, status: 'skipped', note: skipPipeline });
      continue;
    }
    if (!available.has(`${model} ${v.label}`)) {
      pipeline.push({ model, device: v.label, status: 'unavailable', note: bare.find((r) => r.model === model && r.device === v.label)?.note });
      continue;
    }
    try {
      const p = await createPipeline!({ source: clip, sinks: [], device: v.provider, modelsDir, model, loop: true });
      let n = 0;
      const t0 = performance.now();
      // lavapipe: seconds per frame; stop on time too.
      const budgetMs = Math.max(seconds, 1) * 1000 * 4;
      p.results.subscribe(() => {
        if (++n >= pipelineFrames || (n >= 2 && performance.now() - t0 > budgetMs)) p.stop();
      });
      const s = await p.run();
      pipeline.push({ model, device: p.context.device, status: 'ok', frames: s.framesOut, fps: s.fps, inferP50: s.latencyMs.infer?.p50 });
      log(`pipeline ${model} on ${p.context.device}: ${s.framesOut} frames, ${s.fps.toFixed(2)} fps`);
    } catch (e) {
      pipeline.push({ model, device: v.label, status: 'failed', note: messageOf(e).split('\n')[0] });
      log(`pipeline ${model} on ${v.label}: failed (${messageOf(e)})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report.

const f = (x: number | undefined, d = 1) => (x === undefined ? '' : x.toFixed(d));
const pct = (x: number | undefined) => (x === undefined ? '' : `${(x * 100).toFixed(3)} %`);
const short: Record<string, string> = { 'deeplabv3-mnedgetpu-slim': 'DeepLabV3', 'espnetv2-s2': 'ESPNetv2' };
const lines = [
  `## GPU benchmark (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${hostname()})`,
  '',
  `- GPU: ${gpuName ?? (probe.hardwareGpu ? `hardware GPU (${(probe.gpuDrivers ?? []).join(', ')})` : 'none')}`,
  `- CPU: ${cpuInfo}; node ${process.version}; onnxruntime-node ${ortVersion}`,
  `- Vulkan (webgpu): ${vulkanNote}`,
  `- frames: ${framesFile ? framesFile.replace(packageRoot + '/', '') : 'decoded now'}; timed runs per cell: ${seconds} s, at least ${minRuns}, warm (after a first pass over every frame)`,
  '',
  '| model | input WxH | device | first run ms | median ms | fps | labels = cpu | note |',
  '|---|---|---|---:|---:|---:|---:|---|',
  ...bare.map((r) =>
    r.status === 'ok'
      ? `| ${short[r.model] ?? r.model} | ${r.input} | ${r.device} | ${f(r.firstRunMs, 0)} | ${f(r.medianMs)} | ${f(r.fps, 2)} | ${r.device === 'cpu' ? 'reference' : pct(r.agreement)} | ${r.note ?? ''} |`
      : `| ${short[r.model] ?? r.model} | ${r.input} | ${r.device} | | | | | ${r.status}: ${(r.note ?? '').replace(/\|/g, '/')} |`,
  ),
  '',
  `Pipeline (whole graph, no sinks) on ${clip.split('/').pop()}:`,
  '',
  '| model | device | frames | fps | infer p50 ms | note |',
  '|---|---|---:|---:|---:|---|',
  ...pipeline.map((r) => `| ${short[r.model] ?? r.model} | ${r.device} | ${r.frames ?? ''} | ${f(r.fps, 2)} | ${f(r.inferP50)} | ${r.status === 'ok' ? '' : `${r.status}: ${(r.note ?? '').replace(/\|/g, '/')}`} |`),
  '',
];
const report = lines.join('\n');
process.stdout.write(report + '\n');
const outFile = positionals[0];
if (outFile) {
  mkdirSync(dirname(resolve(outFile)), { recursive: true });
  writeFileSync(outFile, report + '\n');
}
if (args.json) writeFileSync(args.json, JSON.stringify({ machine: { gpu: gpuName, cpu: cpuInfo, node: process.version, ort: ortVersion, probe }, bare, pipeline }, null, 2) + '\n');
// Dawn's device threads can keep the process alive after the sessions are released.
process.exit(0);
