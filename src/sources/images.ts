/** Still images: reading one with a clear error, and expanding files, folders and globs into a list. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { cv, type Mat } from '../util/cv.js';
import { expandGlob } from '../util/glob.js';

export const imageExtensions = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm']);

export function isImagePath(path: string): boolean {
  return imageExtensions.has(extname(path).toLowerCase());
}

/** Reads an image as stored (grey, BGR or BGRA); any failure names the file and what to do. */
export function readImage(path: string, flags = cv.IMREAD_UNCHANGED): Mat {
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
 * Files, folders (their images, sorted by name) and globs, expanded in the order given. A folder
 * yields only files with image extensions; a file given by name is taken as is (and fails clearly
 * later if it is not an image).
 */
export function expandImageInputs(inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    const matches = expandGlob(input);
    if (matches) {
      out.push(...matches);
    } else if (existsSync(input) && statSync(input).isDirectory()) {
      const files = readdirSync(input).filter(isImagePath).sort();
      if (!files.length) throw new RoadsegError(`no images in folder ${input}`, { where: resolve(input), hint: `image extensions: ${[...imageExtensions].join(' ')}`, exitCode: ExitCode.input });
      out.push(...files.map((f) => join(input, f)));
    } else {
      out.push(input);
    }
  }
  return out;
}
