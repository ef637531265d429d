import type { Command } from 'commander';
import { probeDevices, planProviders } from '../engine/devices.js';
import { precisions, type ModelManifest, type Precision, type Provider, type WeightFile } from '../core/model.js';
import { listManifests, locateWeights, madeWeightsDir, modelSearchDirs, sha256File } from '../engine/registry.js';
import { ExitCode, RoadsegError } from '../util/errors.js';

interface WeightStatus {
  precision: Precision;
  file: string;
  path: string | null;
  /** `not-made`: a file roadseg makes from another on first use, not made yet. */
  status: 'verified' | 'missing' | 'checksum-mismatch' | 'not-made';
  /** Providers the file runs on; every provider when absent. */
  providers?: Provider[];
}

interface ModelStatus {
  id: string;
  default: boolean;
  name: string;
  /** Heads the model has: classes (with their count), drivable, lanes. */
  heads: string[];
  weights: WeightStatus[];
  /** The worst of the weights' statuses. */
  status: WeightStatus['status'];
  input: string;
  accuracy: string;
  licence: string;
}

async function weightStatus(m: ModelManifest, precision: Precision, file: WeightFile, modelsDir?: string): Promise<WeightStatus> {
  const path = locateWeights(m, file, modelsDir);
  const status = path === null ? (file.madeFrom ? 'not-made' : 'missing') : (await sha256File(path)) === file.sha256 ? 'verified' : 'checksum-mismatch';
  return { precision, file: file.file, path, status, ...(file.providers && { providers: file.providers }) };
}

async function statusOf(m: ModelManifest, modelsDir?: string): Promise<ModelStatus> {
  const weights = await Promise.all(precisions.flatMap((p) => (m.weights[p] ? [weightStatus(m, p, m.weights[p], modelsDir)] : [])));
  const size = m.size;
  const rule = size.rule === 'fixed' ? `${size.width}x${size.height} fixed` : `dynamic ${size.stride}k${size.offset ? `+${size.offset}` : ''}, h=${size.defaultHeight}${size.aspect ? `, squashed to ${size.aspect.toFixed(3)}:1` : ''}`;
  const { classes, drivable, lanes } = m.heads;
  return {
    id: m.id,
    default: m.default,
    name: m.name,
    heads: [...(classes ? [`classes (${classes.names.length})`] : []), ...(drivable ? ['drivable'] : []), ...(lanes ? ['lanes'] : [])],
    weights,
    status: weights.find((w) => w.status !== 'verified' && w.status !== 'not-made')?.status ?? 'verified',
    input: `${m.input.dtype} ${m.input.layout} ${m.input.colorOrder}, ${rule}`,
    accuracy: `${(m.accuracy.value * 100).toFixed(1)}% ${m.accuracy.metric} (${m.accuracy.dataset})`,
    licence: m.licence,
  };
}

export function registerModels(program: Command): void {
  program
    .command('models')
    .description('list the registered models, whether their weights are present and verified, and the device `auto` would use')
    .option('--models-dir <dir>', 'folder holding the .onnx weights')
    .option('--json', 'machine-readable output')
    .option('--check', 'exit non-zero unless the default model is present and verified (used by `npm run setup`)')
    .action(async (opts: { modelsDir?: string; json?: boolean; check?: boolean }) => {
      const statuses = await Promise.all(listManifests().map((m) => statusOf(m, opts.modelsDir)));
      const probe = probeDevices();
      const plan = planProviders('auto', probe);
      if (opts.check) {
        const def = statuses.find((s) => s.default)!;
        if (def.status !== 'verified') {
          const bad = def.weights.filter((w) => w.status !== 'verified');
          throw new RoadsegError(`default model weights ${bad.map((w) => `${w.precision} ${w.file} ${w.status}`).join(', ')}`, {
            where: bad.map((w) => w.path).find((p) => p) ?? `looked in ${modelSearchDirs(opts.modelsDir).join(', ')}`,
            hint: 'put the original .onnx file in one of these folders or set ROADSEG_MODELS_DIR',
            exitCode: ExitCode.model,
          });
        }
        console.log(`models: ${statuses.map((s) => `${s.id} ${s.status}`).join(', ')}`);
        return;
      }
      if (opts.json) {
        console.log(JSON.stringify({ models: statuses, device: { auto: plan.tries[0], reason: plan.reason, probe } }, null, 2));
        return;
      }
      for (const s of statuses) {
        console.log(`${s.default ? '*' : ' '} ${s.id.padEnd(28)} ${s.status.padEnd(17)} ${s.name}`);
        console.log(`    heads:    ${s.heads.join(', ')}`);
        for (const w of s.weights) {
          const where = w.path ?? `${w.file} (${w.status === 'not-made' ? `made from fp32 on first use, into ${madeWeightsDir()}` : 'not found'})`;
          console.log(`    ${w.precision.padEnd(5)}     ${where} ${w.status}${w.providers ? ` (runs on ${w.providers.join(', ')})` : ''}`);
        }
        console.log(`    input:    ${s.input}`);
        console.log(`    accuracy: ${s.accuracy}`);
        console.log(`    licence:  ${s.licence}`);
      }
      console.log(`device: --device auto would try ${plan.tries.join(' -> ')} (${plan.reason})`);
    });
}
