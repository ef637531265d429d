import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { defaults, withDefault } from '../app/config.js';
import { claimFiles } from '../app/outputs.js';
import { Segmenter } from '../pipeline/segmenter.js';
import type { EgoCorridor } from '../core/analysis.js';
import { encodeIndexedPng } from '../stages/indexed-png.js';
import type { Rgb } from '../stages/palette.js';
import { sampleLabels } from '../stages/labelmap.js';
import { expandImageInputs } from '../core/uri.js';
import { readImage } from '../sources/images.js';
import { cv } from '../util/cv.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { ensureWritableDir } from '../util/output.js';
import { addEngineOptions, createEngine, hoodArg, stopBetweenImages, type EngineFlags } from './common.js';
import { plural } from '../util/text.js';
import type { HoodConfig } from '../app/config.js';
import { hoodLine } from '../stages/hood.js';
import { corridorArg, numberArg, stderrLog } from './args.js';

interface SegmentFlags extends EngineFlags {
  out: string;
  opacity: number;
  corridor?: EgoCorridor;
  hud: boolean;
  hood?: HoodConfig;
}

export function registerSegment(program: Command): void {
  addEngineOptions(
    program
      .command('segment')
      .description('segment still images: per image an overlay PNG, a label PNG (indexed: index = trainId, palette = class colours) and a JSON summary')
      .argument('<inputs...>', 'image files, folders of images, or globs (dir/*.png)')
      .option('-o, --out <dir>', 'output folder', defaults.segmentOut)
      .option('--opacity <a>', 'class colour opacity in the overlay, 0..1', numberArg('--opacity', 0, 1), defaults.opacity)
      .option('--corridor <spec>', withDefault('ego corridor: centerX,topY,bottomY,topWidth,bottomWidth as fractions', Object.values(defaults.corridor).join(',')), corridorArg)
      .option('--no-hud', 'no text line on the overlay')
      .option('--hood <y>', 'the vehicle hood starts at this fraction of the height (default: no hood)', hoodArg),
  ).action(async (inputs: string[], flags: SegmentFlags) => {
    const files = expandImageInputs(inputs);
    ensureWritableDir(flags.out);
    const outputs = outputNames(files, flags.out);
    // No output may replace an input under any name (a symbolic or hard link); held until the end.
    const claim = claimFiles(
      files.filter((f) => existsSync(f)).map((path) => ({ path, what: 'input image' })),
      [...new Set(outputs.values())].flatMap((stem) => outputSuffixes.map((suffix) => ({ path: join(flags.out, stem + suffix), what: 'output', hint: 'write to another --out folder' }))),
    );
    const stop = stopBetweenImages();
    try {
      await segmentAll(files, outputs, flags, stop.check);
    } finally {
      stop.release();
      claim.release();
    }
  });
}

/** The files segment writes per image: NAME + each of these. */
const outputSuffixes = ['_overlay.png', '_labels.png', '.json'] as const;

/** Each image segmented and its outputs written; `check` before each throws once interrupted. */
async function segmentAll(files: readonly string[], outputs: ReadonlyMap<string, string>, flags: SegmentFlags, check: (done: string) => void): Promise<void> {
  const engine = await createEngine(flags);
  try {
    const segmenter = new Segmenter(engine, { overlay: { opacity: flags.opacity }, hud: flags.hud, analysis: flags.corridor ? { corridor: flags.corridor } : {}, signal: typeof flags.hood === 'number' ? { hood: hoodLine(flags.hood) } : {} });
    for (const [i, file] of files.entries()) {
      check(`${i} of ${plural(files.length, 'image')}, whose outputs are complete`);
      const image = readImage(file, { log: stderrLog });
      // Read before segmenting: a grey or 4-channel image is converted and its Mat released.
      const { cols: width, rows: height } = image;
      const r = await segmenter.segment(image);
      const stem = outputs.get(file)!;
      const labelsFull = sampleLabels(r.heads.labels, width, height);
      cv.imwrite(join(flags.out, `${stem}_overlay.png`), r.overlay);
      writeFileSync(join(flags.out, `${stem}_labels.png`), encodeIndexedPng(labelsFull, engine.classes.palette as Rgb[]));
      const summary = {
        image: resolve(file),
        width,
        height,
        ...segmenter.origin,
        inputSize: { width: r.heads.labels.shape[1], height: r.heads.labels.shape[0] },
        ...r.summary,
        timings: Object.fromEntries(Object.entries(r.timings).map(([k, v]) => [k, Math.round(v * 100) / 100])),
      };
      writeFileSync(join(flags.out, `${stem}.json`), JSON.stringify(summary, null, 2) + '\n');
      console.log(`${file}: drivable ${r.summary.drivablePct.toFixed(1)}%, ego corridor ${r.summary.egoCorridorPct.toFixed(1)}%, ${r.timings.inferMs.toFixed(0)} ms on ${engine.provider} -> ${join(flags.out, stem)}_{overlay,labels}.png, .json`);
    }
  } finally {
    await engine.dispose();
  }
}

/**
 * Each image's output stem (`NAME` of NAME_overlay.png, NAME_labels.png, NAME.json). Two images of
 * one name from different folders are refused before anything is written: one would silently
 * overwrite the other (an output that is one of the inputs is claimFiles' to refuse).
 */
function outputNames(files: readonly string[], out: string): Map<string, string> {
  const byStem = new Map<string, string>();
  for (const file of files) {
    const stem = basename(file, extname(file));
    const other = byStem.get(stem);
    if (other !== undefined && resolve(other) !== resolve(file)) {
      throw new RoadsegError(`two inputs would write the same outputs ${join(out, stem)}_{overlay,labels}.png: ${other} and ${file}`, {
        where: `the inputs of roadseg segment`,
        hint: 'segment images of the same name into different --out folders (one run per folder), or rename one',
        exitCode: ExitCode.usage,
      });
    }
    byStem.set(stem, file);
  }
  return new Map(files.map((file) => [file, basename(file, extname(file))]));
}
