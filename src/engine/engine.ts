/**
 * The inference engine: the one owner of the onnxruntime session. It resolves and verifies the
 * weights, picks the execution provider, checks the graph's contract against the manifest, warms
 * up, and turns packed input tensors into label maps.
 */
import ndarray from 'ndarray';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { labelMap, type ClassScores, type Inference, type LabelMap } from '../core/labelmap.js';
import { checkInputSize, inputSize, type InputSize } from '../core/input-size.js';
import type { InputTensor, ModelManifest, Provider } from '../core/model.js';
import {
  cudaProviderLibrary,
  describeVulkan,
  ensureXdgRuntimeDir,
  nvidiaIcdOffPath,
  ortBinaryDir,
  planProviders,
  probeDevices,
  sharedProviderLibrary,
  webgpuIsSoftware,
  type DeviceChoice,
  type DeviceProbe,
} from './devices.js';
import { WorkerSession } from './worker-session.js';
import { getManifest, resolveVerifiedWeights } from './registry.js';


export interface EngineOptions {
  /** Model id from the registry; the default model when absent. */
  model?: string;
  modelsDir?: string;
  device?: DeviceChoice;
  /** Intra-op threads for the CPU provider; onnxruntime's default (one per core) when absent. */
  threads?: number;
  /** Model input height for dynamic-size models (snapped to the size rule). */
  inputHeight?: number;
  /**
   * Layout WebGPU runs layout-sensitive operators (convolutions) in; NCHW by default. NHWC is
   * faster for DeepLabV3 but gives wrong labels for ESPNetv2 in onnxruntime-node 1.30 (80 % of
   * pixels agree with the CPU; NCHW: 100 %). `bench/gpu.ts --layouts` measures both.
   */
  webgpuLayout?: 'NHWC' | 'NCHW';
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
    private readonly session: WorkerSession,
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
        failures.push(`cuda: ${cudaProviderLibrary} (with ${sharedProviderLibrary}) is not installed in ${ortBinaryDir()}`);
        if (!plan.explicit) log(`device: ${failures.at(-1)}, trying the next`);
        continue;
      }
      if (provider === 'webgpu') {
        try {
          ensureXdgRuntimeDir();
        } catch {
          // Dawn may still work without it; its own error says so if not
        }
      }
      let session: WorkerSession;
      try {
        session = await WorkerSession.create(weightsPath, {
          executionProviders: [providerConfig(provider, opts)],
          graphOptimizationLevel: 'all',
          // onnxruntime's own default counts physical cores: one on a 2-vCPU machine, where two
          // threads infer 1.6x faster (81 vs 128 ms at 913x513).
          intraOpNumThreads: opts.threads ?? availableParallelism(),
          interOpNumThreads: 1,
          // Idle inference threads sleep instead of spinning, leaving the cores to decoding,
          // rendering and encoding, which run beside inference in the pipeline.
          extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
        });
      } catch (e) {
        // A file onnxruntime cannot parse fails the same way on every provider: say so at once.
        if (/Load model from .* failed|Protobuf parsing failed|ModelProto/i.test(messageOf(e))) {
          throw new RoadsegError(`cannot load model "${manifest.id}": the file is not a valid ONNX model (${messageOf(e).split('\n')[0]})`, {
            where: weightsPath,
            hint: 'the file is corrupt or not ONNX; replace it with the original weights (see the manifest\'s origin)',
            exitCode: ExitCode.model,
          });
        }
        failures.push(`${provider}: ${explainFailure(provider, e, probe)}`);
        if (!plan.explicit) log(`device: ${failures.at(-1)}; trying the next`);
        continue;
      }
      checkContract(session, manifest, weightsPath);
      let reason = plan.explicit ? plan.reason : `auto: ${plan.reason}; using ${provider}`;
      if (provider === 'webgpu') {
        reason += ` (Vulkan: ${describeVulkan(probe)})`;
        if (webgpuIsSoftware(probe)) {
          reason += '; no hardware GPU with a Vulkan driver: WebGPU runs on a software Vulkan driver, on the CPU';
          log('device: warning: webgpu has no hardware GPU here and runs on the CPU through a software Vulkan driver (lavapipe): expect seconds per frame');
        }
      }
      log(`device: ${provider} (${reason})`);
      const engine = new SegmentationEngine(manifest, weightsPath, provider, reason, session, opts.inputHeight);
      if (!opts.noWarmup) await engine.warmup();
      return engine;
    }
    throw new RoadsegError(`execution provider unavailable for --device ${opts.device ?? 'auto'}`, {
      where: failures.join('; '),
      hint: deviceHint(plan.tries[0]!, probe),
      exitCode: ExitCode.device,
    });
  }

  /** The model input size for a frame of this size, per the manifest's size rule. */
  inputSizeFor(frameWidth: number, frameHeight: number): InputSize {
    const size = inputSize(this.manifest.size, frameWidth, frameHeight, this.inputHeight);
    checkInputSize(size, { width: frameWidth, height: frameHeight }, this.manifest.outputs.logits, `model ${this.manifest.id}`);
    return size;
  }

  /** One run at a typical size, so the first real frame does not pay for graph set-up. */
  async warmup(size: InputSize = this.inputSizeFor(16, 9)): Promise<void> {
    await this.infer(ndarray(new Uint8Array(size.height * size.width * 3), [1, size.height, size.width, 3]));
  }

  async infer(input: InputTensor): Promise<LabelMap> {
    const [r] = await this.run(input.data, input.shape, false);
    return r!.labels;
  }

  /** True when the graph's batch dimension is dynamic, so that `inferBatch` can take several inputs. */
  get batchable(): boolean {
    const input = this.session.inputMetadata.find((v) => v.name === this.manifest.input.name);
    return !!input?.isTensor && typeof input.shape[0] !== 'number';
  }

  /** Inputs of one size in one call ([N, H, W, 3]); the results equal those of `infer` one by one. */
  async inferBatch(inputs: readonly InputTensor[]): Promise<LabelMap[]> {
    return (await this.runBatch(inputs, false)).map((r) => r.labels);
  }

  /**
   * The labels and, beside them, the raw class scores (logits) the signal's smoothing and
   * confidence use; several inputs of one size in one call, as `inferBatch`.
   */
  async inferWithScores(inputs: readonly InputTensor[]): Promise<Inference[]> {
    return (await this.runBatch(inputs, true)) as Inference[];
  }

  private runBatch(inputs: readonly InputTensor[], withLogits: boolean): Promise<{ labels: LabelMap; logits?: ClassScores }[]> {
    if (inputs.length === 1) return this.run(inputs[0]!.data, inputs[0]!.shape, withLogits);
    const [, height, width, channels] = inputs[0]!.shape as [number, number, number, number];
    const each = height * width * channels;
    const packed = new Uint8Array(each * inputs.length);
    inputs.forEach((t, i) => {
      if (t.data.length !== each) throw new RangeError(`batch inputs differ in size: ${t.shape.join('x')} and ${inputs[0]!.shape.join('x')}`);
      packed.set(t.data, i * each);
    });
    return this.run(packed, [inputs.length, height, width, channels], withLogits);
  }

  private async run(data: Uint8Array, shape: readonly number[], withLogits: boolean): Promise<{ labels: LabelMap; logits?: ClassScores }[]> {
    const [n, height, width] = shape as [number, number, number];
    const feeds = { [this.manifest.input.name]: new ort.Tensor('uint8', data, shape) };
    const { labels: labelsOut, logits: logitsOut } = this.manifest.outputs;
    const t0 = performance.now();
    const result = await this.session.run(feeds, withLogits ? [labelsOut.name, logitsOut.name] : [labelsOut.name]);
    this.lastInferMs = performance.now() - t0;
    const labels = result[labelsOut.name]!.data as Uint8Array;
    const each = height * width;
    const logits = withLogits ? result[logitsOut.name] : undefined;
    const [, channels, h, w] = (logits?.dims ?? [0, 0, 0, 0]) as [number, number, number, number];
    const plane = channels * h * w;
    return Array.from({ length: n }, (_, i) => ({
      labels: labelMap(labels.subarray(i * each, (i + 1) * each), height, width),
      ...(logits && { logits: { data: (logits.data as Float32Array).subarray(i * plane, (i + 1) * plane), channels, height: h, width: w } }),
    }));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** The provider as onnxruntime-node takes it, with its options. */
function providerConfig(provider: Provider, opts: EngineOptions): ort.InferenceSession.ExecutionProviderConfig {
  switch (provider) {
    case 'webgpu':
      return { name: 'webgpu', preferredLayout: opts.webgpuLayout ?? 'NCHW' };
    case 'cuda':
      return { name: 'cuda', deviceId: 0 };
    case 'cpu':
      return 'cpu';
  }
}

/** One line saying why a provider did not start, without onnxruntime's source paths. */
export function explainFailure(provider: Provider, thrown: unknown, probe: DeviceProbe): string {
  const full = messageOf(thrown);
  const first = (full.split('\n').find((l) => l.trim()) ?? full).trim();
  // "/onnxruntime_src/.../file.cc:136 fn(...) cond was false. Real message" -> "Real message"
  const short = first.replace(/^\/onnxruntime_src\/\S+\s.*?(?:was false\.|\]\s)\s*/, '').slice(0, 300);
  if (provider === 'webgpu' && /adapter|vkCreateInstance|vulkan/i.test(full)) {
    return `Dawn found no usable Vulkan adapter (${short}; Vulkan here: ${describeVulkan(probe)})`;
  }
  if (provider === 'cuda') {
    const missing = /([\w.+-]+\.so(?:\.\d+)*): cannot open shared object file/.exec(full)?.[1];
    if (missing) return `the CUDA provider is installed but ${missing} was not found (it needs CUDA 12.x and cuDNN 9.x libraries on the library path)`;
    if (/Failed to load|shared library/i.test(full)) return `the CUDA provider is installed but could not be loaded: ${short}`;
  }
  return short;
}

function deviceHint(provider: Provider, probe: DeviceProbe): string {
  switch (provider) {
    case 'cuda':
      return probe.cudaProvider
        ? 'the CUDA provider needs an NVIDIA GPU and driver, CUDA 12.x and cuDNN 9.x libraries (LD_LIBRARY_PATH or ldconfig); or use --device auto|cpu|webgpu'
        : 'install the CUDA provider with `npm run install:cuda` (needs network, CUDA 12 and cuDNN 9), or use --device auto|cpu|webgpu';
    case 'webgpu': {
      const icd = probe.nvidiaGpu ? nvidiaIcdOffPath() : undefined;
      const nvidia = icd ? `; NVIDIA's Vulkan driver is at ${icd}: set VK_DRIVER_FILES=${icd}` : '';
      return `WebGPU needs the Vulkan loader (libvulkan1) and a Vulkan driver (a GPU driver, or Mesa >= 25 lavapipe: \`npm run setup\` installs it)${nvidia}; or use --device cpu`;
    }
    case 'cpu':
      return 'the CPU provider is bundled with onnxruntime-node: reinstall with `npm run setup`';
  }
}

/** The graph's real inputs and outputs must be what the manifest says. */
function checkContract(session: WorkerSession, m: ModelManifest, path: string): void {
  const problems: string[] = [];
  const input = session.inputMetadata.find((v) => v.name === m.input.name);
  if (!input) {
    problems.push(`no input "${m.input.name}" (graph inputs: ${session.inputNames.join(', ')})`);
  } else if (input.isTensor) {
    if (input.type !== m.input.dtype) problems.push(`input "${m.input.name}" is ${input.type}, expected ${m.input.dtype}`);
    const s = input.shape;
    // NHWC with 3 channels last; a symbolic last dim is accepted unless dim 1 is 3 (then it is NCHW).
    const channelsLast = s.length === 4 && (typeof s[3] === 'number' ? s[3] === 3 : s[1] !== 3);
    if (!channelsLast) problems.push(`input "${m.input.name}" has shape [${s.join(',')}], expected [1,H,W,3] (NHWC)`);
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
