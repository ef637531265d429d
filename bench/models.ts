/**
 * `npm run bench:models`: the figures that choose the default model, each measured the same way
 * for every configuration (a scene model alone, and with `--drivable-model twinlitenet`; TTA for
 * accuracy and cost only):
 *
 *   accuracy     `roadseg eval`'s figures on the three labelled sets: CamVid 20 pairs, the 101-frame
 *                CamVid sequence (every --seq-step-th frame), the Cityscapes pair; pixel accuracy,
 *                mIoU and road IoU of the scene model, and IoU / precision / recall against road of
 *                the drivable area the signal uses (the drivable head's where one runs)
 *   CPU ms       bare inference per frame (all models of the configuration) at the default sizes,
 *                tensors of the fps clip prepared beforehand; every configuration's engine open at
 *                once and called in turn, --infer-frames rounds, median (a shared machine's load
 *                then weighs on all alike)
 *   fps          the whole graph with the signal sink on the first --frames frames of the fps clip,
 *                the configurations in turn, best of two rounds
 *   steadiness   mean |frame-to-frame change| of egoCorridorPct over the first --frames frames of
 *                each of the six real dashcam clips (lower is steadier), and its mean over clips
 *
 * Usage: npm run bench:models [-- --frames N --seq-step N --infer-frames N --json FILE --only a,b --speed-only]
 * (--speed-only: the CPU ms and fps columns alone.)
 * The machine is shared and noisy: speed figures are comparable within one run only.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluate, pairByStem, type EvaluationReport, type Pair } from '../src/eval/evaluate.js';
import { createPipeline } from '../src/app/open.js';
import { openSource } from '../src/app/sources.js';
import { isStale } from '../src/core/frame.js';
import type { PackedInput, PrecisionChoice } from '../src/core/model.js';
import { SegmentationEngine, type EngineOptions } from '../src/engine/engine.js';
import { toBgr } from '../src/stages/preprocess.js';
import { packageRoot } from '../src/util/package.js';
import { meanChange } from '../src/eval/series.js';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: {
    frames: { type: 'string', default: '40' },
    'seq-step': { type: 'string', default: '1' },
    'infer-frames': { type: 'string', default: '15' },
    json: { type: 'string' },
    only: { type: 'string' },
    'speed-only': { type: 'boolean', default: false },
    'models-dir': { type: 'string' },
  },
});
const frames = Number(args.frames);
const seqStep = Number(args['seq-step']);
const inferFrames = Number(args['infer-frames']);
const modelsDir = args['models-dir'];
const data = join(packageRoot, '..', 'shared', 'data');
const videos = join(data, 'videos');
/** The six real dashcam clips (the seventh is made from the CamVid stills). */
const clips = readdirSync(videos).filter((f) => f.startsWith('udacity_') && f.endsWith('.mp4')).sort();
const fpsClip = 'udacity_vehicledet_pr2_test_small2.mp4';

const sets: Record<string, Pair[]> = {
  camvid: pairByStem(join(data, 'images/camvid'), join(data, 'labels/camvid'), '.png', '_trainIds.png'),
  sequence: pairByStem(join(data, 'sequences/camvid_0016E5_15hz/images'), join(data, 'sequences/camvid_0016E5_15hz/labels'), '.png', '_trainIds.png').filter((_, i) => i % seqStep === 0),
  cityscapes: pairByStem(join(data, 'images/cityscapes'), join(data, 'labels/cityscapes'), '_leftImg8bit.png', '_gtFine_labelTrainIds.png'),
};

interface Config {
  label: string;
  model: string;
  precision?: PrecisionChoice;
  drivableModel?: string;
  tta?: number[];
  /** Accuracy and cost only (TTA is for offline replay). */
  offline?: boolean;
}

const scene: Config[] = [
  { label: 'deeplabv3 fp32', model: 'deeplabv3-mnedgetpu-slim', precision: 'fp32' },
  { label: 'deeplabv3 int8', model: 'deeplabv3-mnedgetpu-slim', precision: 'int8' },
  { label: 'efficientvit-b0', model: 'efficientvit-b0' },
  { label: 'espnetv2-s2', model: 'espnetv2-s2' },
];
const withTwin = (c: Config): Config => ({ ...c, label: `${c.label} + twinlitenet`, drivableModel: 'twinlitenet' });
// The likely defaults first, so that a run cut short still compares them.
const [deeplabFp32, deeplabInt8, efficientvit, espnet] = scene as [Config, Config, Config, Config];
const configs: Config[] = [
  deeplabInt8,
  efficientvit,
  { label: 'twinlitenet alone', model: 'twinlitenet' },
  withTwin(deeplabInt8),
  withTwin(efficientvit),
  deeplabFp32,
  { ...efficientvit, label: 'efficientvit-b0, tta 0.75,1,1.25 + flip', tta: [0.75, 1, 1.25], offline: true },
  { ...deeplabInt8, label: 'deeplabv3 int8, tta 0.75,1,1.25 + flip', tta: [0.75, 1, 1.25], offline: true },
  espnet,
  withTwin(deeplabFp32),
  withTwin(espnet),
].filter((c) => !args.only || args.only.split(',').some((o) => c.label.includes(o)));

interface Row {
  label: string;
  accuracy?: Record<string, EvaluationReport>;
  /** Bare inference, ms per frame (median). */
  inferMs?: number;
  fps?: number;
  /** Mean |Δ egoCorridorPct| per clip. */
  steadiness?: Record<string, number>;
}

const engineOptions = (c: Config): EngineOptions => ({
  model: c.model,
  device: 'cpu',
  modelsDir,
  ...(c.precision && { precision: c.precision }),
  ...(c.drivableModel && { drivableModel: c.drivableModel }),
  ...(c.tta && { tta: c.tta }),
});

/** Frames of the fps clip packed for an engine. */
async function prepared(engine: SegmentationEngine, count: number): Promise<PackedInput[]> {
  const source = openSource(join(videos, fpsClip), {});
  const inputs: PackedInput[] = [];
  for (let i = 0; i < count; i++) {
    const f = await source.read();
    if (!f || isStale(f)) break;
    const bgr = toBgr(f.image);
    inputs.push(engine.prepare(bgr));
    bgr.release();
  }
  source.close();
  return inputs;
}


/** The whole graph (signal sink) on a clip's first frames: fps and the ego corridor's values. */
async function runClip(engine: SegmentationEngine, clip: string): Promise<{ fps: number; ego: number[] }> {
  const out = mkdtempSync(join(tmpdir(), 'roadseg-bench-models-'));
  const p = await createPipeline({ source: join(videos, clip), sinks: [`signal:${join(out, 's.jsonl')}`], modelsDir }, { engine });
  const ego: number[] = [];
  p.results.subscribe((f) => {
    if (ego.length < frames) ego.push(f.summary.egoCorridorPct);
    if (ego.length === frames) p.stop();
  });
  const s = await p.run();
  return { fps: s.fps, ego };
}


const f3 = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(3));
const cls = (r: EvaluationReport) => (r.classes ? `${f3(r.classes.pixelAccuracy)} / ${f3(r.classes.meanIou)} / ${f3(r.classes.classes[0]!.iou)}` : '-');
const drv = (r: EvaluationReport) => `${f3(r.drivable.iou)} / ${f3(r.drivable.precision)} / ${f3(r.drivable.recall)}`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** The table of the rows so far (printed after every configuration, so a cut run keeps what it measured). */
const table = () => [
  `bench:models: ${frames} frames per clip, CamVid sequence every ${seqStep}th frame (${sets.sequence!.length} of 101), bare inference median of ${inferFrames}; CPU provider, ${new Date().toISOString()}`,
  '',
  '| configuration | CamVid 20: px acc / mIoU / road IoU | drivable vs road IoU / P / R | sequence: px acc / mIoU / road | drivable IoU / P / R | Cityscapes pair: px acc / mIoU / road | drivable IoU / P / R | CPU ms/frame | pipeline fps | steadiness (mean abs. change of ego %) |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const a = r.accuracy;
    const steady = r.steadiness ? f3(mean(Object.values(r.steadiness))) : '-';
    const acc = a ? [cls(a.camvid!), drv(a.camvid!), cls(a.sequence!), drv(a.sequence!), cls(a.cityscapes!), drv(a.cityscapes!)] : Array<string>(6).fill('-');
    return `| ${r.label} | ${acc.join(' | ')} | ${r.inferMs === undefined ? '-' : r.inferMs.toFixed(0)} | ${r.fps === undefined ? '-' : r.fps.toFixed(2)} | ${steady} |`;
  }),
  '',
  'steadiness per clip (mean abs. change of egoCorridorPct between consecutive frames):',
  '',
  `| configuration | ${clips.map((c) => c.replace(/^udacity_|\.mp4$/g, '')).join(' | ')} |`,
  `|---|${clips.map(() => '---').join('|')}|`,
  ...rows.filter((r) => r.steadiness).map((r) => `| ${r.label} | ${clips.map((c) => f3(r.steadiness![c])).join(' | ')} |`),
].join('\n');

const rows: Row[] = [];
const save = () => args.json && writeFileSync(args.json, JSON.stringify({ frames, seqStep, inferFrames, clips, rows }, null, 2) + '\n');

if (!args['speed-only']) {
  for (const c of configs) {
    const t0 = performance.now();
    const engine = await SegmentationEngine.create(engineOptions(c));
    try {
      const accuracy: Record<string, EvaluationReport> = {};
      for (const [name, pairs] of Object.entries(sets)) accuracy[name] = await evaluate(engine, pairs);
      const row: Row = { label: c.label, accuracy };
      if (!c.offline) {
        row.steadiness = {};
        for (const clip of clips) row.steadiness[clip] = meanChange((await runClip(engine, clip)).ego);
      }
      rows.push(row);
      process.stderr.write(`bench:models: ${c.label} done in ${((performance.now() - t0) / 1000).toFixed(0)} s\n${table()}\n\n`);
      save();
    } finally {
      await engine.dispose();
    }
  }
}

// Speed: every configuration's engine open at once, called in turn.
const engines = await Promise.all(configs.map((c) => SegmentationEngine.create(engineOptions(c))));
try {
  const inputs = await Promise.all(engines.map((e) => prepared(e, Math.min(inferFrames, 10))));
  const times: number[][] = engines.map(() => []);
  for (let round = 0; round < inferFrames; round++) {
    for (const [i, engine] of engines.entries()) {
      const t0 = performance.now();
      await engine.infer(inputs[i]![round % inputs[i]!.length]!);
      times[i]!.push(performance.now() - t0);
    }
  }
  const fps: number[][] = engines.map(() => []);
  for (let round = 0; round < 2; round++) {
    for (const [i, engine] of engines.entries()) if (!configs[i]!.offline) fps[i]!.push((await runClip(engine, fpsClip)).fps);
  }
  configs.forEach((c, i) => {
    let row = rows.find((r) => r.label === c.label);
    if (!row) rows.push((row = { label: c.label }));
    row.inferMs = median(times[i]!);
    if (fps[i]!.length) row.fps = Math.max(...fps[i]!);
  });
} finally {
  await Promise.all(engines.map((e) => e.dispose()));
}
save();
console.log(table());
