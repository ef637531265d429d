/**
 * Model registry: one JSON manifest per model in the repository's `models/` folder; the weights
 * live in a models directory outside the repository and are verified by sha256 before use.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { z } from 'zod';
import { ModelManifestSchema, type ModelManifest, type Precision, type PrecisionChoice, type Provider, type WeightFile } from '../core/model.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { packageRoot } from '../util/package.js';

export const manifestDir = join(packageRoot, 'models');

let cached: ModelManifest[] | undefined;

/** All registered models, the default first. */
export function listManifests(dir = manifestDir): ModelManifest[] {
  if (dir === manifestDir && cached) return cached;
  const out = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => loadManifestFile(join(dir, f)));
  out.sort((a, b) => Number(b.default) - Number(a.default));
  if (dir === manifestDir) cached = out;
  return out;
}

/** Reads and validates one manifest file (also a user's own, given as `--model path.json`). */
export function loadManifestFile(path: string): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RoadsegError(`cannot read model manifest: ${e instanceof Error ? e.message : String(e)}`, { where: path, exitCode: ExitCode.model });
  }
  const parsed = ModelManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new RoadsegError(`invalid model manifest: ${z.prettifyError(parsed.error)}`, { where: path, hint: 'see models/*.json for the fields', exitCode: ExitCode.model });
  }
  const classes = parsed.data.heads.classes;
  if (classes && classes.palette.length !== classes.names.length) {
    throw new RoadsegError('the class head\'s palette and names differ in length', { where: path, exitCode: ExitCode.model });
  }
  return { ...parsed.data, manifestPath: resolve(path) };
}

/** A registered model by id, or a manifest file by path; the default model when absent. */
export function getManifest(id?: string): ModelManifest {
  if (id?.endsWith('.json')) return loadManifestFile(id);
  const all = listManifests();
  if (id === undefined) {
    const def = all.find((m) => m.default);
    if (!def) throw new RoadsegError('no default model is registered', { where: manifestDir, exitCode: ExitCode.model });
    return def;
  }
  const found = all.find((m) => m.id === id);
  if (!found) {
    throw new RoadsegError(`unknown model "${id}"`, {
      hint: `registered models: ${all.map((m) => m.id).join(', ')} (see \`roadseg models\`)`,
      exitCode: ExitCode.model,
    });
  }
  return found;
}

/**
 * Where weights are looked for, in order: the explicit flag alone, else $ROADSEG_MODELS_DIR, the
 * folder of a user's own manifest, ./models-data, ../shared/models beside the repository and
 * beside the working directory.
 */
export function modelSearchDirs(explicit?: string, manifest?: ModelManifest): string[] {
  if (explicit) return [resolve(explicit)];
  const own = manifest && dirname(manifest.manifestPath) !== manifestDir ? dirname(manifest.manifestPath) : undefined;
  const dirs = [
    process.env.ROADSEG_MODELS_DIR,
    own,
    join(packageRoot, 'models-data'),
    join(packageRoot, '..', 'shared', 'models'),
    join(process.cwd(), '..', 'shared', 'models'),
  ].filter((d): d is string => !!d);
  return [...new Set(dirs.map((d) => resolve(d)))];
}

/**
 * The precision to run: an explicit one as asked (the caller checks it exists), `auto` int8 where
 * the model has an int8 file that runs on this provider (the CPU), else fp32.
 */
export function choosePrecision(manifest: ModelManifest, choice: PrecisionChoice, provider: Provider): Precision {
  if (choice !== 'auto') return choice;
  const int8 = manifest.weights.int8;
  return int8 && runsOn(int8, provider) && provider === 'cpu' ? 'int8' : 'fp32';
}

export function runsOn(file: WeightFile, provider: Provider): boolean {
  return !file.providers || file.providers.includes(provider);
}

/** The weight file of one precision; a usage error naming the precisions there are when it has none. */
export function weightFileOf(manifest: ModelManifest, precision: Precision): WeightFile {
  const file = manifest.weights[precision];
  if (!file) {
    throw new RoadsegError(`model "${manifest.id}" has no ${precision} weights`, {
      hint: `its precisions: ${Object.keys(manifest.weights).join(', ')}; use --precision auto or one of these`,
      exitCode: ExitCode.usage,
    });
  }
  return file;
}

export function findWeights(manifest: ModelManifest, file: WeightFile, modelsDir?: string): string {
  const dirs = modelSearchDirs(modelsDir, manifest);
  // Weights are looked up only inside the models folders: a path that climbs out or is absolute is refused.
  if (isAbsolute(file.file) || normalize(file.file).split(/[\\/]/).includes('..')) {
    throw new RoadsegError(`the weights path of model "${manifest.id}" leaves the models folders: ${file.file}`, {
      where: manifest.manifestPath,
      hint: 'give "weights" as a file name (or a path below) inside a models folder, e.g. "model.onnx"',
      exitCode: ExitCode.model,
    });
  }
  for (const dir of dirs) {
    const p = join(dir, file.file);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  throw new RoadsegError(`weights for model "${manifest.id}" not found: ${file.file}`, {
    where: `looked in ${dirs.join(', ')}`,
    hint: 'put the .onnx file in one of these folders, or pass --models-dir DIR / set ROADSEG_MODELS_DIR',
    exitCode: ExitCode.model,
  });
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Finds the weights of one precision and checks their sha256 against the manifest. */
export async function resolveVerifiedWeights(manifest: ModelManifest, precision: Precision, modelsDir?: string): Promise<string> {
  const file = weightFileOf(manifest, precision);
  const path = findWeights(manifest, file, modelsDir);
  const actual = await sha256File(path);
  if (actual !== file.sha256) {
    throw new RoadsegError(`checksum mismatch for model "${manifest.id}" (${precision}): sha256 ${actual}, expected ${file.sha256}`, {
      where: path,
      hint: 'the file is damaged or a different model; replace it with the original weights (see models/*.json for the origin)',
      exitCode: ExitCode.model,
    });
  }
  return path;
}
