import type { Command } from 'commander';
import { evaluate, pairByStem, type EvaluationReport } from '../eval/evaluate.js';
import type { MetricsReport } from '../eval/metrics.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { plural } from '../util/text.js';
import { addEngineOptions, addSignalOptions, createEngine, stopBetweenImages, type EngineFlags } from './common.js';
import { numberArg, stderrLog } from './args.js';
import { evalSequence, formatSequenceReport, type SequenceFlags } from './eval-sequence.js';

interface EvalFlags extends EngineFlags, Partial<Omit<SequenceFlags, keyof EngineFlags>> {
  images?: string;
  labels?: string;
  imageSuffix: string;
  labelSuffix: string;
  json?: boolean;
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
      .description('measure accuracy against labelled images (--images: pixel accuracy, per-class IoU and Dice, and the drivable area against the road class: IoU, precision, recall), or the drivable-area signal of a clip or image sequence frame by frame (--sequence: error against the labels, frame-to-frame change, lag)')
      .option('--images <dir>', 'folder of images')
      .option('--sequence <clip|dir>', 'video clip or folder of consecutive images: evaluate the signal frame by frame (frame i <-> the i-th label file by name)')
      .option('--labels <dir>', 'folder of label images in Cityscapes trainIds (255 = ignore); optional with --sequence')
      .option('--fps <n>', 'frame rate of an image sequence (default 10)', numberArg('--fps', 0.001, 1000))
      .option('--image-suffix <s>', 'image file name suffix removed to get the stem', '.png')
      .option('--label-suffix <s>', 'label file name suffix removed to get the stem', '_trainIds.png')
      .option('--json', 'print the report as JSON'),
  )).action(async (flags: EvalFlags) => {
    if (flags.sequence) {
      const stop = stopBetweenImages();
      try {
        const report = await evalSequence({ ...flags, sequence: flags.sequence }, stderrLog, (n) => stop.check(`${plural(n, 'frame')}; no report`));
        console.log(flags.json ? JSON.stringify(report, null, 2) : formatSequenceReport(report));
      } finally {
        stop.release();
      }
      return;
    }
    if (!flags.images || !flags.labels) throw new RoadsegError('eval needs --images and --labels, or --sequence', { hint: 'roadseg eval --images DIR --labels DIR, or roadseg eval --sequence CLIP_OR_DIR [--labels DIR]', exitCode: ExitCode.usage });
    const pairs = pairByStem(flags.images, flags.labels, flags.imageSuffix, flags.labelSuffix);
    const stop = stopBetweenImages();
    let report: EvaluationReport;
    try {
      const engine = await createEngine(flags);
      try {
        report = await evaluate(engine, pairs, undefined, (n) => stop.check(`${n} of ${plural(pairs.length, 'pair')}; no report`));
      } finally {
        await engine.dispose();
      }
    } finally {
      stop.release();
    }
    if (flags.json) {
      // The class figures stay at the top level, where scripts read them.
      const { classes, ...rest } = report;
      console.log(JSON.stringify({ ...rest, ...classes }, null, 2));
      return;
    }
    const title = `${plural(pairs.length, 'pair')}, model ${report.model} (${report.precision}) on ${report.device}${flags.tta ? `, tta ${flags.tta.join(',')}` : ''}`;
    const d = report.drivable;
    const drivable = `drivable area (${report.drivableSource}) against road: IoU ${d.iou.toFixed(4)}  precision ${d.precision.toFixed(4)}  recall ${d.recall.toFixed(4)}`;
    console.log(report.classes ? `${formatReport(report.classes, title)}\n\n${drivable}` : `${title}\n${drivable}`);
  });
}
