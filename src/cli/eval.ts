import type { Command } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Segmenter } from '../pipeline/segmenter.js';
import { ConfusionMatrix, type MetricsReport } from '../stages/metrics.js';
import { matToLabels } from '../stages/postprocess.js';
import { sampleLabels } from '../stages/labelmap.js';
import { readImage } from '../sources/images.js';
import { cv } from '../util/cv.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { plural } from '../util/text.js';
import { addEngineOptions, addSignalOptions, createEngine, type EngineFlags } from './common.js';
import { numberArg, stderrLog } from './args.js';
import { evalSequence, formatSequenceReport, type SequenceFlags } from './eval-sequence.js';

interface EvalFlags extends EngineFlags, Partial<Omit<SequenceFlags, keyof EngineFlags>> {
  images?: string;
  labels?: string;
  imageSuffix: string;
  labelSuffix: string;
  json?: boolean;
}

export interface Pair {
  stem: string;
  image: string;
  label: string;
}

/** Pairs images and labels by the file stem left after removing each side's suffix. */
export function pairByStem(imagesDir: string, labelsDir: string, imageSuffix: string, labelSuffix: string): Pair[] {
  for (const [dir, what] of [[imagesDir, '--images'], [labelsDir, '--labels']] as const) {
    if (!existsSync(dir)) throw new RoadsegError(`${what} folder not found: ${dir}`, { where: resolve(dir), exitCode: ExitCode.input });
  }
  const stems = (dir: string, suffix: string) =>
    new Map(readdirSync(dir).filter((f) => f.endsWith(suffix)).map((f) => [f.slice(0, f.length - suffix.length), join(dir, f)] as const));
  const images = stems(imagesDir, imageSuffix);
  const labels = stems(labelsDir, labelSuffix);
  const pairs = [...images].filter(([s]) => labels.has(s)).map(([stem, image]) => ({ stem, image, label: labels.get(stem)! }));
  if (!pairs.length) {
    throw new RoadsegError(`no image/label pairs: ${images.size} images (*${imageSuffix}) and ${labels.size} labels (*${labelSuffix}) share no stem`, {
      where: `${resolve(imagesDir)} and ${resolve(labelsDir)}`,
      hint: 'set --image-suffix and --label-suffix so that the names match once they are removed',
      exitCode: ExitCode.input,
    });
  }
  return pairs.sort((a, b) => a.stem.localeCompare(b.stem));
}

export function formatReport(r: MetricsReport, title: string): string {
  const lines = [title, `pixels ${r.pixels}  pixel accuracy ${r.pixelAccuracy.toFixed(4)}  mean IoU ${r.meanIou.toFixed(4)}  mean Dice ${r.meanDice.toFixed(4)}  (means over classes present)`, ''];
  lines.push(`${'class'.padEnd(14)} ${'support'.padStart(9)} ${'IoU'.padStart(7)} ${'Dice'.padStart(7)}`);
  for (const c of r.classes) {
    if (c.support === 0) continue;
    lines.push(`${c.name.padEnd(14)} ${String(c.support).padStart(9)} ${c.iou.toFixed(4).padStart(7)} ${c.dice.toFixed(4).padStart(7)}`);
  }
  return lines.join('\n');
}

export function registerEval(program: Command): void {
  addSignalOptions(addEngineOptions(
    program
      .command('eval')
      .description('measure accuracy against labelled images (--images: pixel accuracy, per-class IoU and Dice), or the drivable-area signal of a clip or image sequence frame by frame (--sequence: error against the labels, frame-to-frame change, lag)')
      .option('--images <dir>', 'folder of images')
      .option('--sequence <clip|dir>', 'video clip or folder of consecutive images: evaluate the signal frame by frame (frame i <-> the i-th label file by name)')
      .option('--labels <dir>', 'folder of label images in Cityscapes trainIds (255 = ignore); optional with --sequence')
      .option('--fps <n>', 'frame rate of an image sequence (default 10)', numberArg('--fps', 0.001, 1000))
      .option('--image-suffix <s>', 'image file name suffix removed to get the stem', '.png')
      .option('--label-suffix <s>', 'label file name suffix removed to get the stem', '_trainIds.png')
      .option('--json', 'print the report as JSON'),
  )).action(async (flags: EvalFlags) => {
    if (flags.sequence) {
      const report = await evalSequence({ ...flags, sequence: flags.sequence }, stderrLog);
      console.log(flags.json ? JSON.stringify(report, null, 2) : formatSequenceReport(report));
      return;
    }
    if (!flags.images || !flags.labels) throw new RoadsegError('eval needs --images and --labels, or --sequence', { hint: 'roadseg eval --images DIR --labels DIR, or roadseg eval --sequence CLIP_OR_DIR [--labels DIR]', exitCode: ExitCode.usage });
    const pairs = pairByStem(flags.images, flags.labels, flags.imageSuffix, flags.labelSuffix);
    const engine = await createEngine(flags);
    const segmenter = new Segmenter(engine);
    const matrix = new ConfusionMatrix(engine.manifest.classes, engine.manifest.voidLabel);
    for (const p of pairs) {
      const target = matToLabels(readImage(p.label, cv.IMREAD_GRAYSCALE));
      const { tensor } = segmenter.preprocess(readImage(p.image));
      const pred = sampleLabels(await engine.infer(tensor), target.shape[1]!, target.shape[0]!);
      matrix.update(pred.data, target.data);
    }
    const report = matrix.report();
    if (flags.json) console.log(JSON.stringify({ model: engine.manifest.id, device: engine.provider, pairs: pairs.length, ...report }, null, 2));
    else console.log(formatReport(report, `${plural(pairs.length, 'pair')}, model ${engine.manifest.id} on ${engine.provider}`));
    await engine.dispose();
  });
}
