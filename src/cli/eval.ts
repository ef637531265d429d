import type { Command } from 'commander';
import { evaluate, pairByStem, type EvaluationReport } from '../app/evaluate.js';
import type { MetricsReport } from '../stages/metrics.js';
import { addEngineOptions, createEngine, type EngineFlags } from './common.js';

interface EvalFlags extends EngineFlags {
  images: string;
  labels: string;
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
  addEngineOptions(
    program
      .command('eval')
      .description('measure accuracy against labelled images: pixel accuracy, per-class IoU and Dice, mean IoU and mean Dice over the classes present; and the drivable area (a drivable head, else the road class) against the road class: IoU, precision, recall')
      .requiredOption('--images <dir>', 'folder of images')
      .requiredOption('--labels <dir>', 'folder of label images in Cityscapes trainIds (255 = ignore)')
      .option('--image-suffix <s>', 'image file name suffix removed to get the stem', '.png')
      .option('--label-suffix <s>', 'label file name suffix removed to get the stem', '_trainIds.png')
      .option('--json', 'print the report as JSON'),
  ).action(async (flags: EvalFlags) => {
    const pairs = pairByStem(flags.images, flags.labels, flags.imageSuffix, flags.labelSuffix);
    const engine = await createEngine(flags);
    let report: EvaluationReport;
    try {
      report = await evaluate(engine, pairs);
    } finally {
      await engine.dispose();
    }
    if (flags.json) {
      // The class figures stay at the top level, where scripts read them.
      const { classes, ...rest } = report;
      console.log(JSON.stringify({ ...rest, ...classes }, null, 2));
      return;
    }
    const title = `${pairs.length} pairs, model ${report.model} (${report.precision}) on ${report.device}${flags.tta ? `, tta ${flags.tta.join(',')}` : ''}`;
    const d = report.drivable;
    const drivable = `drivable area (${report.drivableSource}) against road: IoU ${d.iou.toFixed(4)}  precision ${d.precision.toFixed(4)}  recall ${d.recall.toFixed(4)}`;
    console.log(report.classes ? `${formatReport(report.classes, title)}\n\n${drivable}` : `${title}\n${drivable}`);
  });
}
