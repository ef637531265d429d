import { Option, type Command } from 'commander';
import { deviceChoices, type DeviceChoice } from '../engine/devices.js';
import { SegmentationEngine } from '../engine/engine.js';
import { precisionChoices, type PrecisionChoice } from '../core/model.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { intArg, stderrLog } from './args.js';

export interface EngineFlags {
  model?: string;
  drivableModel?: string;
  precision: PrecisionChoice;
  tta?: number[];
  modelsDir?: string;
  device: DeviceChoice;
  threads?: number;
  inputHeight?: number;
}

export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option('-m, --model <id>', 'model id from `roadseg models` (default: the registry default)')
    .option('--drivable-model <id>', 'a second model (with a drivable head, e.g. twinlitenet) that gives the drivable area, ego corridor, road edges and lane lines')
    .addOption(new Option('--precision <p>', 'weight precision; auto = int8 on the CPU provider where the model has it, else fp32').choices(precisionChoices).default('auto'))
    .addOption(new Option('--tta [scales]', 'test-time augmentation for offline replay: input scales, each also mirrored; scores averaged before the argmax').preset('0.75,1,1.25').argParser(ttaArg))
    .option('--models-dir <dir>', 'folder holding the .onnx weights (else $ROADSEG_MODELS_DIR, ./models-data, ../shared/models)')
    .addOption(new Option('-d, --device <device>', 'execution provider; an explicit one never falls back').choices(deviceChoices).default('auto'))
    .option('--threads <n>', 'CPU inference threads (default: one per core)', intArg('--threads'))
    .option('--input-height <px>', 'model input height for dynamic-size models, snapped to the size rule (DeepLab: 16k+1, default 513)', intArg('--input-height', 17));
}


/** `--tta 0.75,1,1.25` -> [0.75, 1, 1.25]. */
export function ttaArg(value: string): number[] {
  const scales = value.split(',').map(Number);
  if (!scales.length || scales.some((s) => !Number.isFinite(s) || s < 0.25 || s > 4)) {
    throw new RoadsegError(`--tta expects scales between 0.25 and 4 separated by commas, got "${value}"`, { exitCode: ExitCode.usage });
  }
  return scales;
}

export function createEngine(flags: EngineFlags, log = stderrLog): Promise<SegmentationEngine> {
  return SegmentationEngine.create({
    model: flags.model,
    drivableModel: flags.drivableModel,
    precision: flags.precision,
    tta: flags.tta,
    modelsDir: flags.modelsDir,
    device: flags.device,
    threads: flags.threads,
    inputHeight: flags.inputHeight,
    log,
  });
}
