/** Still images: reading one with a clear error, and expanding files, folders and globs into a list. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { imageExtensions } from '../core/uri.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { cv, type Mat } from '../util/cv.js';
import { labelMap, type LabelMap } from '../core/labelmap.js';
import { LabelPngError, decodeLabelPng, isPng } from '../stages/indexed-png.js';
import { matToLabels } from '../stages/postprocess.js';

/** Scale from each deeper sample type to 8 bits: 16-bit PNG / TIFF, float TIFF (0..1). */
const to8BitScale = new Map<number, number>([
  [cv.CV_16U, 1 / 257],
  [cv.CV_16S, 1 / 128],
  [cv.CV_32F, 255],
  [cv.CV_64F, 255],
]);
const eightBitTypes: Record<number, number> = { 1: cv.CV_8UC1, 3: cv.CV_8UC3, 4: cv.CV_8UC4 };
let toldConversion = false;

/**
 * Reads an image as stored (grey, BGR or BGRA), with samples deeper than 8 bits scaled to 8 bits
 * (said once per process through `log`); any failure names the file and what to do.
 */
export function readImage(path: string, opts: { flags?: number; log?: (line: string) => void } = {}): Mat {
  const mat = decode(path, opts.flags ?? cv.IMREAD_UNCHANGED);
  if (mat.depth === cv.CV_8U) return mat;
  const scale = to8BitScale.get(mat.depth);
  const type = eightBitTypes[mat.channels];
  if (scale === undefined || type === undefined) {
    throw notAnImage(path, `${mat.channels} channels of OpenCV sample type ${mat.depth} are not supported`);
  }
  const converted = mat.convertTo(type, scale);
  mat.release();
  if (!toldConversion) {
    toldConversion = true;
    opts.log?.(`${basename(path)} (and any other such image) has samples deeper than 8 bits: converted to 8-bit for the model`);
  }
  return converted;
}

function decode(path: string, flags: number): Mat {
  if (!existsSync(path)) throw new RoadsegError(`image not found: ${path}`, { where: resolve(path), hint: 'check the path', exitCode: ExitCode.input });
  if (statSync(path).isDirectory()) throw new RoadsegError(`expected an image file, got a directory: ${path}`, { where: resolve(path), exitCode: ExitCode.input });
  let mat: Mat;
  try {
    mat = cv.imread(path, flags);
  } catch (e) {
    throw notAnImage(path, messageOf(e));
  }
  if (mat.empty) throw notAnImage(path, 'OpenCV could not decode it');
  return mat;
}

function notAnImage(path: string, why: string): RoadsegError {
  return new RoadsegError(`not a readable image: ${path} (${why})`, {
    where: resolve(path),
    hint: `give a PNG, JPEG, BMP, TIFF or WebP file (${[...imageExtensions].join(' ')})`,
    exitCode: ExitCode.input,
  });
}


/**
 * A label image (one channel of class ids) as a label map. PNGs are decoded here, by index: OpenCV
 * expands a palette to its colours (roadseg's own `segment` labels are palette PNGs) and would read
 * them as grey levels. Anything that is not one 8-bit id per pixel is refused, naming the file.
 */
export function readLabels(path: string): LabelMap {
  if (!existsSync(path)) throw new RoadsegError(`label image not found: ${path}`, { where: resolve(path), hint: 'check the path', exitCode: ExitCode.input });
  if (statSync(path).isDirectory()) throw new RoadsegError(`expected a label image, got a directory: ${path}`, { where: resolve(path), exitCode: ExitCode.input });
  const bytes = readFileSync(path);
  if (isPng(bytes)) {
    try {
      const d = decodeLabelPng(bytes);
      return labelMap(d.ids, d.height, d.width);
    } catch (e) {
      if (e instanceof LabelPngError) throw notLabels(path, e.message);
      throw e;
    }
  }
  const mat = decode(path, cv.IMREAD_UNCHANGED);
  try {
    if (mat.channels !== 1 || mat.depth !== cv.CV_8U) throw notLabels(path, `${mat.channels} channel(s) of OpenCV sample type ${mat.depth}: class ids need one 8-bit channel`);
    return matToLabels(mat);
  } finally {
    mat.release();
  }
}

function notLabels(path: string, why: string): RoadsegError {
  return new RoadsegError(`cannot read class ids from the label image ${path}: ${why}`, {
    where: resolve(path),
    hint: "labels are one class id per pixel: an 8-bit palette or grey PNG (Cityscapes *_labelTrainIds.png, roadseg segment's *_labels.png), 255 = ignore",
    exitCode: ExitCode.input,
  });
}
