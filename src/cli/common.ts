import { Option, type Command } from 'commander';
import { defaults } from '../app/config.js';
import { deviceChoices, type DeviceChoice } from '../engine/devices.js';
import type { SegmentationEngine } from '../engine/engine.js';
import type { HoodConfig, PipelineConfigInput } from '../app/config.js';
import { maxSmooth } from '../app/config.js';
import { maxInputHeight } from '../core/input-size.js';
import { precisionChoices, type PrecisionChoice } from '../core/model.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { interruptExitCode, onInterrupt, type Interrupt } from '../util/interrupts.js';
import { intArg, numberArg, stderrLog } from './args.js';

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
    .addOption(new Option('--precision <p>', 'weight precision; auto = int8 on the CPU provider where the model has it, else fp32; fp16 (WebGPU, DeepLabV3) is made from fp32 on first use').choices(precisionChoices).default('auto'))
    .addOption(new Option('--tta [scales]', 'test-time augmentation for offline replay: input scales, each also mirrored; scores averaged before the argmax').preset('0.75,1,1.25').argParser(ttaArg))
    .option('--models-dir <dir>', 'folder holding the .onnx weights (else $ROADSEG_MODELS_DIR, ./models-data, ../shared/models)')
    .addOption(new Option('-d, --device <device>', 'execution provider; an explicit one never falls back').choices(deviceChoices).default(defaults.device))
    .option('--threads <n>', 'CPU inference threads (default: one per core)', intArg('--threads'))
    .option('--input-height <px>', `model input height for dynamic-size models, snapped to the size rule (DeepLab: 16k+1; at most ${maxInputHeight}) (default: the model's own, see \`roadseg models\`)`, intArg('--input-height', 17, maxInputHeight));
}


/** `--tta 0.75,1,1.25` -> [0.75, 1, 1.25]. */
export function ttaArg(value: string): number[] {
  const scales = value.split(',').map(Number);
  if (!scales.length || scales.some((s) => !Number.isFinite(s) || s < 0.25 || s > 4)) {
    throw new RoadsegError(`--tta expects scales between 0.25 and 4 separated by commas, got "${value}"`, { exitCode: ExitCode.usage });
  }
  return scales;
}

/**
 * SIGINT / SIGTERM for the commands that infer image by image outside the graph (segment, eval):
 * the image in progress finishes, then `check` throws the interruption (exit 130 / 143) and the
 * command disposes its engine on the way out, then calls `release`. Exiting at the signal instead
 * would end the process in the middle of an inference, which aborts in onnxruntime's worker.
 */
export function stopBetweenImages(): { check: (done: string) => void; release: () => void } {
  let signal: Interrupt | undefined;
  const release = onInterrupt((sig) => {
    if (signal) return;
    signal = sig;
    stderrLog(`${sig}: stopping after the image in progress`);
  });
  return {
    check: (done) => {
      if (signal) throw new RoadsegError(`interrupted (${signal}) after ${done}`, { exitCode: interruptExitCode(signal) });
    },
    release,
  };
}

export async function createEngine(flags: EngineFlags, log = stderrLog): Promise<SegmentationEngine> {
  // Loaded here, not at start-up: a usage error is then reported without loading onnxruntime.
  const { SegmentationEngine } = await import('../engine/engine.js');
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

export interface SignalFlags {
  hood?: HoodConfig;
  /** A strength, or false from --no-smooth. */
  smooth?: number | false;
  lowConfidence?: number;
  freeSpaceColumns?: number;
}

/** How the signal is made: the hood, smoothing, the low-confidence threshold, free-space columns. */
export function addSignalOptions(cmd: Command): Command {
  return cmd
    .option('--hood <auto|off|y>', 'vehicle hood: estimated from the video (auto, the default for videos), off, or the fraction of the height where it starts', hoodArg)
    .option('--smooth <strength>', `temporal smoothing of class probabilities, 0 (off) .. ${maxSmooth}: the weight of the past (default 0.6 for videos)`, numberArg('--smooth', 0, maxSmooth))
    .option('--no-smooth', 'no temporal smoothing')
    .option('--low-confidence <c>', "confidence (0..1) below which the signal's status is low-confidence (default 0.5)", numberArg('--low-confidence', 0, 1))
    .option('--free-space-columns <n>', 'column bands of the free-space boundary (default 32)', intArg('--free-space-columns'));
}

/** The config keys the signal flags set (only those given). */
export function signalConfig(flags: SignalFlags): Partial<PipelineConfigInput> {
  return {
    ...(flags.hood !== undefined && { hood: flags.hood }),
    ...(flags.smooth !== undefined && { smooth: flags.smooth === false ? 0 : flags.smooth }),
    ...(flags.lowConfidence !== undefined && { lowConfidence: flags.lowConfidence }),
    ...(flags.freeSpaceColumns !== undefined && { freeSpaceColumns: flags.freeSpaceColumns }),
  };
}

export function hoodArg(text: string): HoodConfig {
  if (text === 'auto' || text === 'off') return text;
  const y = Number(text);
  if (text.trim() === '' || !Number.isFinite(y) || y < 0 || y > 1) {
    throw new RoadsegError(`--hood must be auto, off or a fraction of the height 0..1, got "${text}"`, { hint: 'e.g. --hood 0.85: the hood covers the bottom 15 % of the frame', exitCode: ExitCode.usage });
  }
  return y;
}
