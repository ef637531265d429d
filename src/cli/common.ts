import { Option, type Command } from 'commander';
import { deviceChoices, type DeviceChoice } from '../engine/devices.js';
import { SegmentationEngine } from '../engine/engine.js';
import { intArg, stderrLog } from './args.js';

export interface EngineFlags {
  model?: string;
  modelsDir?: string;
  device: DeviceChoice;
  threads?: number;
  inputHeight?: number;
}

export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option('-m, --model <id>', 'model id from `roadseg models` (default: the registry default)')
    .option('--models-dir <dir>', 'folder holding the .onnx weights (else $ROADSEG_MODELS_DIR, ./models-data, ../shared/models)')
    .addOption(new Option('-d, --device <device>', 'execution provider; an explicit one never falls back').choices(deviceChoices).default('auto'))
    .option('--threads <n>', 'CPU inference threads (default: one per core)', intArg('--threads'))
    .option('--input-height <px>', 'model input height for dynamic-size models, snapped to the size rule (DeepLab: 16k+1, default 513)', intArg('--input-height', 17));
}


export function createEngine(flags: EngineFlags, log = stderrLog): Promise<SegmentationEngine> {
  return SegmentationEngine.create({
    model: flags.model,
    modelsDir: flags.modelsDir,
    device: flags.device,
    threads: flags.threads,
    inputHeight: flags.inputHeight,
    log,
  });
}
