/**
 * Model registry: one JSON manifest per model in the repository's `models/` folder; the weights
 * live in a models directory outside the repository and are verified by sha256 before use.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
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

/** A model given as a manifest file rather than a registered id. */
export function isManifestPath(model: string): boolean {
  return model.endsWith('.json');
}

/** A registered model by id, or a manifest file by path; the default model when absent. */
export function getManifest(id?: string): ModelManifest {
  if (id !== undefined && isManifestPath(id)) return loadManifestFile(id);
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
 * Where roadseg writes the weights it makes itself (`madeFrom` in a manifest): $ROADSEG_CACHE_DIR,
 * else $XDG_CACHE_HOME/roadseg, else ~/.cache/roadseg; in its `models` folder.
 */
export function madeWeightsDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.ROADSEG_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'roadseg');
  return resolve(cache, 'models');
}

/** Folders a weight file is looked for in: the models folders, and the cache for a made one. */
function weightDirs(manifest: ModelManifest, file: WeightFile, modelsDir?: string): string[] {
  return [...modelSearchDirs(modelsDir, manifest), ...(file.madeFrom ? [madeWeightsDir()] : [])];
}

/** The path of a weight file where it is, else null. */
export function locateWeights(manifest: ModelManifest, file: WeightFile, modelsDir?: string): string | null {
  for (const dir of weightDirs(manifest, file, modelsDir)) {
    const p = join(dir, file.file);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  return null;
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

/** Weights are looked up only inside the models folders: a path that climbs out or is absolute is refused. */
function checkWeightPath(manifest: ModelManifest, file: WeightFile): void {
  if (isAbsolute(file.file) || normalize(file.file).split(/[\\/]/).includes('..')) {
    throw new RoadsegError(`the weights path of model "${manifest.id}" leaves the models folders: ${file.file}`, {
      where: manifest.manifestPath,
      hint: 'give "weights" as a file name (or a path below) inside a models folder, e.g. "model.onnx"',
      exitCode: ExitCode.model,
    });
  }
}

export function findWeights(manifest: ModelManifest, file: WeightFile, modelsDir?: string): string {
  checkWeightPath(manifest, file);
  const found = locateWeights(manifest, file, modelsDir);
  if (found) return found;
  throw new RoadsegError(`weights for model "${manifest.id}" not found: ${file.file}`, {
    where: `looked in ${weightDirs(manifest, file, modelsDir).join(', ')}`,
    hint: 'put the .onnx file in one of these folders, or pass --models-dir DIR / set ROADSEG_MODELS_DIR',
    exitCode: ExitCode.model,
  });
}

/**
 * Makes a `madeFrom` weight file from the verified fp32 file into the cache folder (written under
 * a temporary name, then renamed, so that a reader never sees half a file); its path.
 */
async function makeWeights(manifest: ModelManifest, precision: Precision, file: WeightFile, modelsDir: string | undefined, log: (line: string) => void): Promise<string> {
  const source = await resolveVerifiedWeights(manifest, 'fp32', modelsDir);
  const dir = madeWeightsDir();
  const path = join(dir, file.file);
  let bytes: Uint8Array;
  try {
    // Loaded here, not at start-up: the protobuf library is needed only the first time.
    const { fp16Model } = await import('./fp16.js');
    bytes = fp16Model(readFileSync(source));
  } catch (e) {
    throw new RoadsegError(`cannot make the ${precision} weights of model "${manifest.id}": ${e instanceof Error ? e.message : String(e)}`, {
      where: source,
      hint: 'run the model in fp32 (--precision fp32)',
      exitCode: ExitCode.model,
    });
  }
  try {
    mkdirSync(dir, { recursive: true });
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, bytes);
    renameSync(temp, path);
  } catch (e) {
    throw new RoadsegError(`cannot write the ${precision} weights of model "${manifest.id}": ${e instanceof Error ? e.message : String(e)}`, {
      where: dir,
      hint: 'set ROADSEG_CACHE_DIR to a writable folder',
      exitCode: ExitCode.model,
    });
  }
  log(`model: made the ${precision} weights of ${manifest.id} from ${source}: ${path}`);
  return path;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Finds the weights of one precision (making them first where the manifest says roadseg makes
 * them and they are not there yet) and checks their sha256 against the manifest.
 */
export async function resolveVerifiedWeights(manifest: ModelManifest, precision: Precision, modelsDir?: string, log: (line: string) => void = () => {}): Promise<string> {
  const file = weightFileOf(manifest, precision);
  checkWeightPath(manifest, file);
  const made = file.madeFrom && !locateWeights(manifest, file, modelsDir);
  const path = made ? await makeWeights(manifest, precision, file, modelsDir, log) : findWeights(manifest, file, modelsDir);
  const actual = await sha256File(path);
  if (actual !== file.sha256) {
    throw new RoadsegError(`checksum mismatch for model "${manifest.id}" (${precision}): sha256 ${actual}, expected ${file.sha256}`, {
      where: path,
      hint: file.madeFrom
        ? `delete it and roadseg makes it again from the ${file.madeFrom} file; if the new one differs too, this onnx-proto encodes differently from the one the manifest was pinned with`
        : 'the file is damaged or a different model; replace it with the original weights (see models/*.json for the origin)',
      exitCode: ExitCode.model,
    });
  }
  return path;
}
