/**
 * Accuracy of an engine against labelled images: the scene model's classes (confusion matrix),
 * and the drivable area the signal would use (a drivable head's, else the drivable classes')
 * against the road class. `roadseg eval` and `bench/models.ts` both measure through this.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FrameHeads } from '../core/model.js';
import type { SegmentationEngine } from '../engine/engine.js';
import { readImage, readLabels } from '../sources/images.js';
import { sampleLabels } from '../stages/labelmap.js';
import { BinaryCounts, ConfusionMatrix, type BinaryReport, type MetricsReport } from './metrics.js';
import { toBgr } from '../stages/preprocess.js';
import { ExitCode, RoadsegError } from '../util/errors.js';

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
  const labels = stems(labelsDir, labelSuffix);
  // Images and labels may share a folder: a label file is not an image to evaluate.
  const labelFiles = new Set([...labels.values()].map((f) => resolve(f)));
  const images = new Map([...stems(imagesDir, imageSuffix)].filter(([, f]) => !labelFiles.has(resolve(f))));
  const pairs = [...images].filter(([s]) => labels.has(s)).map(([stem, image]) => ({ stem, image, label: labels.get(stem)! }));
  if (pairs.length) refuseUnpaired(images, labels, imageSuffix, labelSuffix);
  if (!pairs.length) {
    throw new RoadsegError(`no image/label pairs: ${images.size} images (*${imageSuffix}) and ${labels.size} labels (*${labelSuffix}) share no stem`, {
      where: `${resolve(imagesDir)} and ${resolve(labelsDir)}`,
      hint: 'set --image-suffix and --label-suffix so that the names match once they are removed',
      exitCode: ExitCode.input,
    });
  }
  return pairs.sort((a, b) => a.stem.localeCompare(b.stem));
}

/**
 * Every image must have its label and every label its image: an evaluation over the pairs alone
 * would report a subset as the whole. The first name without its other half is named.
 */
function refuseUnpaired(images: Map<string, string>, labels: Map<string, string>, imageSuffix: string, labelSuffix: string): void {
  const lonely = (side: Map<string, string>, other: Map<string, string>) => [...side].filter(([s]) => !other.has(s)).sort(([a], [b]) => a.localeCompare(b));
  for (const [missing, present, what, otherWhat, suffix] of [
    [lonely(images, labels), images, 'image', 'label', labelSuffix],
    [lonely(labels, images), labels, 'label', 'image', imageSuffix],
  ] as const) {
    if (!missing.length) continue;
    const [stem, path] = missing[0]!;
    throw new RoadsegError(`${missing.length} of the ${present.size} ${what}s have no ${otherWhat}: the first, ${path}, has no ${stem}${suffix}`, {
      where: resolve(path),
      hint: `give as many images as labels, with names that pair once --image-suffix (${imageSuffix}) and --label-suffix (${labelSuffix}) are removed`,
      exitCode: ExitCode.input,
    });
  }
}

export interface EvaluationReport {
  model: string;
  precision: string;
  device: string;
  /** Where the drivable figures come from. */
  drivableSource: string;
  pairs: number;
  /** The scene model's class head; absent for a model with only binary heads. */
  classes?: MetricsReport;
  /** The drivable area against the road class (trainId 0), void ignored. */
  drivable: BinaryReport;
}

/** `beforePair` is called before each pair with the number done (the CLI stops there when interrupted). */
export async function evaluate(engine: SegmentationEngine, pairs: readonly Pair[], drivableClasses: readonly number[] = [0], beforePair?: (done: number) => void): Promise<EvaluationReport> {
  const classHead = engine.manifest.heads.classes;
  const matrix = classHead && new ConfusionMatrix(classHead.names, classHead.voidLabel);
  const road = new BinaryCounts([0]);
  const drivableLut = new Uint8Array(256);
  for (const c of drivableClasses) drivableLut[c] = 1;
  for (const [i, p] of pairs.entries()) {
    beforePair?.(i);
    const target = readLabels(p.label);
    const [height, width] = target.shape as [number, number];
    const bgr = toBgr(readImage(p.image));
    if (bgr.cols !== width || bgr.rows !== height) {
      const image = `${bgr.cols}x${bgr.rows}`;
      bgr.release();
      throw new RoadsegError(`the label image of ${p.stem} is ${width}x${height}, its image ${image}: a label gives the class of each pixel of its image`, {
        where: resolve(p.label),
        hint: 'give labels of the same size as their images (resize them with nearest-neighbour sampling, never smoothing)',
        exitCode: ExitCode.input,
      });
    }
    const heads: FrameHeads = await engine.infer(engine.prepare(bgr));
    bgr.release();
    if (matrix) matrix.update(sampleLabels(heads.labels, width, height).data, target.data);
    const drivable = heads.drivable
      ? sampleLabels(heads.drivable.mask, width, height).data
      : sampleLabels(heads.labels, width, height).data.map((id) => drivableLut[id]!);
    road.update(drivable, target.data);
  }
  return {
    model: engine.manifest.id,
    precision: engine.precision,
    device: engine.provider,
    drivableSource: engine.drivableSource,
    pairs: pairs.length,
    ...(matrix && { classes: matrix.report() }),
    drivable: road.report(),
  };
}
