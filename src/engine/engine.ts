/**
 * The inference engine: the one owner of the onnxruntime session. It resolves and verifies the
 * weights, picks the execution provider, checks the graph's contract against the manifest, warms
 * up, and turns packed input tensors into label maps.
 */
import ndarray from 'ndarray';
import * as ort from 'onnxruntime-node';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { labelMap, type LabelMap } from '../stages/labelmap.js';
import { inputSize, type InputSize } from '../stages/input-size.js';
import { cudaProviderLibrary, ortBinaryDir, planProviders, probeDevices, type DeviceChoice, type DeviceProbe, type Provider } from './devices.js';
import { getManifest, resolveVerifiedWeights, type ModelManifest } from './registry.js';

/** A packed model input: [1, height, width, 3] bytes in the model's colour order. */
export type InputTensor = ndarray.NdArray<Uint8Array>;

export interface EngineOptions {
  /** Model id from the registry; the default model when absent. */
  model?: string;
  modelsDir?: string;
  device?: DeviceChoice;
  /** Intra-op threads for the CPU provider; onnxruntime's default (one per core) when absent. */
  threads?: number;
  /** Model input height for dynamic-size models (snapped to the size rule). */
  inputHeight?: number;
  /** Skip the warm-up run. */
  noWarmup?: boolean;
  /** Where decisions are reported (stderr in the CLI). */
  log?: (line: string) => void;
  /** For tests: a probe of the machine other than the real one. */
  probe?: DeviceProbe;
}

export class SegmentationEngine {
  /** Milliseconds of the last `infer` call. */
  lastInferMs = 0;

  private constructor(
    readonly manifest: ModelManifest,
    readonly weightsPath: string,
    /** The execution provider actually running the model. */
    readonly provider: Provider,
    /** Why this provider (the device decision, for logs and summaries). */
    readonly deviceReason: string,
    private readonly session: ort.InferenceSession,
    private readonly inputHeight: number | undefined,
  ) {}

  static async create(opts: EngineOptions = {}): Promise<SegmentationEngine> {
    const log = opts.log ?? (() => {});
    const manifest = getManifest(opts.model);
    const weightsPath = await resolveVerifiedWeights(manifest, opts.modelsDir);
    const probe = opts.probe ?? probeDevices();
    const plan = planProviders(opts.device ?? 'auto', probe);
    // Without this, a provider that fails to load prints a native error line before we can explain it.
    ort.env.logLevel = 'fatal';
    const failures: string[] = [];
    for (const provider of plan.tries) {
      if (provider === 'cuda' && !probe.cudaProvider) {
        failures.push(`cuda: ${cudaProviderLibrary} is not installed in ${ortBinaryDir()}`);
        continue;
      }
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(weightsPath, {
          executionProviders: [provider],
          graphOptimizationLevel: 'all',
          ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
        });
      } catch (e) {
        failures.push(`${provider}: ${messageOf(e).split('\n')[0]}`);
        if (!plan.explicit) log(`device: ${provider} unavailable (${failures.at(-1)}), trying the next`);
        continue;
      }
      checkContract(session, manifest, weightsPath);
      const reason = plan.explicit ? plan.reason : `auto: ${plan.reason}; using ${provider}`;
      log(`device: ${provider} (${reason})`);
      const engine = new SegmentationEngine(manifest, weightsPath, provider, reason, session, opts.inputHeight);
      if (!opts.noWarmup) await engine.warmup();
      return engine;
    }
    throw new RoadsegError(`execution provider unavailable for --device ${opts.device ?? 'auto'}`, {
      where: failures.join('; '),
      hint: deviceHint(plan.tries[0]!),
      exitCode: ExitCode.device,
    });
  }

  /** The model input size for a frame of this size, per the manifest's size rule. */
  inputSizeFor(frameWidth: number, frameHeight: number): InputSize {
    return inputSize(this.manifest.size, frameWidth, frameHeight, this.inputHeight);
  }

  /** One run at a typical size, so the first real frame does not pay for graph set-up. */
  async warmup(size: InputSize = this.inputSizeFor(16, 9)): Promise<void> {
    await this.infer(ndarray(new Uint8Array(size.height * size.width * 3), [1, size.height, size.width, 3]));
  }

  async infer(input: InputTensor): Promise<LabelMap> {
    const [, height, width] = input.shape as [number, number, number, number];
    const feeds = { [this.manifest.input.name]: new ort.Tensor('uint8', input.data, input.shape) };
    const labelsName = this.manifest.outputs.labels.name;
    const t0 = performance.now();
    const result = await this.session.run(feeds, [labelsName]);
    this.lastInferMs = performance.now() - t0;
    const labels = result[labelsName]!;
    const data = labels.data as Uint8Array;
    labels.dispose?.();
    return labelMap(data, height, width);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function deviceHint(provider: Provider): string {
  switch (provider) {
    case 'cuda':
      return 'install the CUDA provider with `npm run install:cuda` (needs network, CUDA 12 and cuDNN 9), or use --device auto|cpu|webgpu';
    case 'webgpu':
      return 'WebGPU needs a Vulkan driver (a GPU driver, or Mesa >= 25 lavapipe: `npm run setup` installs it) and XDG_RUNTIME_DIR; or use --device cpu';
    case 'cpu':
      return 'the CPU provider is bundled with onnxruntime-node: reinstall with `npm run setup`';
  }
}

/** The graph's real inputs and outputs must be what the manifest says. */
function checkContract(session: ort.InferenceSession, m: ModelManifest, path: string): void {
  const problems: string[] = [];
  const input = session.inputMetadata.find((v) => v.name === m.input.name);
  if (!input) {
    problems.push(`no input "${m.input.name}" (graph inputs: ${session.inputNames.join(', ')})`);
  } else if (input.isTensor) {
    if (input.type !== m.input.dtype) problems.push(`input "${m.input.name}" is ${input.type}, expected ${m.input.dtype}`);
    const s = input.shape;
    if (s.length !== 4 || (typeof s[3] === 'number' && s[3] !== 3)) problems.push(`input "${m.input.name}" has shape [${s.join(',')}], expected [1,H,W,3] (NHWC)`);
    if (m.size.rule === 'fixed' && s.length === 4 && (s[1] !== m.size.height || s[2] !== m.size.width)) {
      problems.push(`input "${m.input.name}" has shape [${s.join(',')}], expected fixed [1,${m.size.height},${m.size.width},3]`);
    }
  }
  for (const out of [m.outputs.labels, m.outputs.logits]) {
    const meta = session.outputMetadata.find((v) => v.name === out.name);
    if (!meta) problems.push(`no output "${out.name}" (graph outputs: ${session.outputNames.join(', ')})`);
    else if (meta.isTensor && meta.type !== out.dtype) problems.push(`output "${out.name}" is ${meta.type}, expected ${out.dtype}`);
  }
  if (problems.length) {
    void session.release();
    throw new RoadsegError(`model graph does not match manifest "${m.id}": ${problems.join('; ')}`, {
      where: path,
      hint: `use the weights named in models/${m.id}.json, or register this model with its own manifest`,
      exitCode: ExitCode.model,
    });
  }
}
