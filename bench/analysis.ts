/**
 * `npm run bench:analysis`: what the signal's analysis step costs per frame, on real frames of a
 * clip through the real model: the whole step (`Segmenter.analyse`) and its kernels alone, each
 * timed over the same frames, best of a few passes (the machine is noisy; the kernels are
 * deterministic, so the fastest pass is the least disturbed one).
 *
 * Usage: npm run bench:analysis [-- --clip PATH --frames N --passes N --model ID]
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isStale } from '../src/core/frame.js';
import type { FrameHeads } from '../src/core/model.js';
import { openSource } from '../src/app/sources.js';
import { SegmentationEngine } from '../src/engine/engine.js';
import { Segmenter } from '../src/pipeline/segmenter.js';
import { greyThumbnail } from '../src/stages/preprocess.js';
import { ProbabilityEma, probabilityLabels, softmax } from '../src/stages/scores.js';
import { packageRoot } from '../src/util/package.js';

const { values: args } = parseArgs({
  options: {
    clip: { type: 'string', default: join(packageRoot, '..', 'shared', 'data', 'videos', 'udacity_vehicledet_pr2_test_small1.mp4') },
    frames: { type: 'string', default: '30' },
    passes: { type: 'string', default: '5' },
    model: { type: 'string' },
  },
});
const frames = Number(args.frames);
const passes = Number(args.passes);

const engine = await SegmentationEngine.create({ device: 'cpu', ...(args.model && { model: args.model }) });
const segmenter = new Segmenter(engine);
const source = openSource(resolve(args.clip!), {});
const inputs: { heads: FrameHeads; image: ReturnType<Segmenter['preprocess']>['bgr'] }[] = [];
while (inputs.length < frames) {
  const f = await source.read();
  if (!f || isStale(f)) break;
  const { bgr, tensor } = segmenter.preprocess(f.image);
  inputs.push({ heads: await segmenter.infer(tensor), image: bgr });
}
source.close();
await engine.dispose();
const logits = inputs.map((i) => i.heads.logits!);
const first = logits[0]!;
const labelsSize = { width: Math.ceil(inputs[0]!.heads.labels.shape[1]! / 2), height: Math.ceil(inputs[0]!.heads.labels.shape[0]! / 2) };

/** Best (lowest) mean ms per frame over the passes. */
function time(run: (i: number) => unknown): number {
  let best = Infinity;
  for (let p = 0; p < passes; p++) {
    const t0 = performance.now();
    for (let i = 0; i < inputs.length; i++) run(i);
    best = Math.min(best, (performance.now() - t0) / inputs.length);
  }
  return best;
}

const probabilities = logits.map((l) => softmax(l));
const ema = new ProbabilityEma(0.6);
const rows: [string, number][] = [
  ['softmax', time((i) => softmax(logits[i]!))],
  ['moving average', time((i) => ema.update(probabilities[i]!))],
  ['labels from probabilities (bilinear)', time((i) => probabilityLabels(probabilities[i]!, labelsSize.width, labelsSize.height, (first.width - 1) / (labelsSize.width - 1), (first.height - 1) / (labelsSize.height - 1), engine.classes.names.length))],
  ['grey thumbnail', time((i) => greyThumbnail(inputs[i]!.image))],
  // The whole step last: its smoothing state carries over from frame to frame, as in a run.
  ['the whole analysis step (Segmenter.analyse)', time((i) => segmenter.analyse(inputs[i]!.heads, inputs[i]!.image))],
];
console.log(`${inputs.length} frames of ${args.clip!.split('/').pop()}, model ${engine.manifest.id}: scores ${first.channels}x${first.height}x${first.width}, analysis labels ${labelsSize.width}x${labelsSize.height}; best of ${passes} passes`);
console.log('| step | ms per frame |\n|---|---|');
for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(2)} |`);
for (const i of inputs) i.image.release();
