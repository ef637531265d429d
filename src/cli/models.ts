import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { probeDevices, planProviders } from '../engine/devices.js';
import type { ModelManifest } from '../core/model.js';
import { listManifests, modelSearchDirs, sha256File } from '../engine/registry.js';
import { ExitCode, RoadsegError } from '../util/errors.js';

interface ModelStatus {
  id: string;
  default: boolean;
  name: string;
  weights: string;
  path: string | null;
  status: 'verified' | 'missing' | 'checksum-mismatch';
  input: string;
  accuracy: string;
  licence: string;
}

async function statusOf(m: ModelManifest, modelsDir?: string): Promise<ModelStatus> {
  const path = modelSearchDirs(modelsDir, m).map((d) => join(d, m.weights)).find((p) => existsSync(p)) ?? null;
  const status = path === null ? 'missing' : (await sha256File(path)) === m.sha256 ? 'verified' : 'checksum-mismatch';
  const input = m.size.rule === 'fixed' ? `${m.size.width}x${m.size.height} fixed` : `dynamic ${m.size.stride}k+${m.size.offset}, h=${m.size.defaultHeight}`;
  return {
    id: m.id,
    default: m.default,
    name: m.name,
    weights: m.weights,
    path,
    status,
    input: `${m.input.dtype} ${m.input.layout} ${m.input.colorOrder}, ${input}`,
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
          throw new RoadsegError(`default model weights ${def.status}: ${def.weights}`, {
            where: def.path ?? `looked in ${modelSearchDirs(opts.modelsDir).join(', ')}`,
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
        console.log(`    weights:  ${s.path ?? s.weights + ' (not found)'}`);
        console.log(`    input:    ${s.input}`);
        console.log(`    accuracy: ${s.accuracy}`);
        console.log(`    licence:  ${s.licence}`);
      }
      console.log(`device: --device auto would try ${plan.tries.join(' -> ')} (${plan.reason})`);
    });
}
