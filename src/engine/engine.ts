/**
 * The inference engine: the one owner of the onnxruntime sessions (the scene model and, where
 * asked, a second model for the drivable area, both in one worker thread). It resolves and
 * verifies the weights of the chosen precision, picks the execution provider, checks each graph's
 * heads against its manifest and probes them with one inference (the warm-up), and turns packed input tensors into per-head maps.
 */
import ndarray from 'ndarray';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import type { Mat } from '../util/cv.js';
import { labelMap, type LabelMap } from '../core/labelmap.js';
import { modelInputSize, type InputSize } from '../core/input-size.js';
import {
  binaryClassIds,
  displayClasses,
  type DisplayClasses,
  type FrameHeads,
  type HeadScores,
  type InputTensor,
  type ModelManifest,
  type PackedInput,
  type Precision,
  type PrecisionChoice,
  type Provider,
} from '../core/model.js';
import { packInput } from '../stages/preprocess.js';
import { argmaxScores, flipTensor, resizeScoresInto } from '../stages/scores.js';
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
import { InferenceWorker, type WorkerSession } from './worker-session.js';
import type { TensorData } from './worker-protocol.js';
import { choosePrecision, getManifest, listManifests, resolveVerifiedWeights, runsOn, weightFileOf } from './registry.js';

export interface EngineOptions {
  /** Model id from the registry; the default model when absent. */
  model?: string;
  /** A second model whose drivable head (and lanes head, if any) gives the drivable area. */
  drivableModel?: string;
  /** Weight precision; `auto` (default) is int8 on the CPU provider where the model has it. */
  precision?: PrecisionChoice;
  /**
   * Test-time augmentation (offline replay): the input at these heights relative to the model's
   * (1 = as without), each also mirrored, scores averaged before the argmax. Off when absent.
   */
  tta?: readonly number[];
  /** Return the class head's raw scores too (the signal's smoothing and confidence use them); default true. */
  logits?: boolean;
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
  /** Skip the test-time augmentation variants' warm-up (the contract probe, which warms the plain sizes, always runs). */
  noWarmup?: boolean;
  /** Where decisions are reported (stderr in the CLI). */
  log?: (line: string) => void;
  /** For tests: a probe of the machine other than the real one. */
  probe?: DeviceProbe;
}

/** One model the engine runs: its manifest, the precision and file chosen, its session. */
export interface LoadedModel {
  manifest: ModelManifest;
  precision: Precision;
  weightsPath: string;
  session: WorkerSession;
}

interface Variant {
  /** Input height relative to the model's own; undefined for fixed-size models. */
  scale: number;
  flip: boolean;
}

export class SegmentationEngine {
  /** Where the drivable fields come from: the drivable model, else the scene model. */
  readonly drivableSource: string;
  readonly classes: DisplayClasses;
  private readonly variants: Variant[];
  /** Runs sent to the worker and not yet answered: `dispose` waits for them. */
  private readonly running = new Set<Promise<unknown>>();
  private disposed: Promise<void> | undefined;

  private constructor(
    /** The scene model first, then the drivable model where one was given. */
    readonly models: readonly LoadedModel[],
    /** The execution provider actually running the models. */
    readonly provider: Provider,
    /** Why this provider (the device decision, for logs and summaries). */
    readonly deviceReason: string,
    private readonly worker: InferenceWorker,
    private readonly opts: EngineOptions,
  ) {
    this.drivableSource = models[1]?.manifest.id ?? models[0]!.manifest.id;
    this.classes = displayClasses(models[0]!.manifest);
    this.variants = opts.tta?.length ? opts.tta.flatMap((scale) => [{ scale, flip: false }, { scale, flip: true }]) : [{ scale: 1, flip: false }];
  }

  /** The scene model's manifest. */
  get manifest(): ModelManifest {
    return this.models[0]!.manifest;
  }

  /** The scene model's precision. */
  get precision(): Precision {
    return this.models[0]!.precision;
  }

  static async create(opts: EngineOptions = {}): Promise<SegmentationEngine> {
    const log = opts.log ?? (() => {});
    const manifest = getManifest(opts.model);
    const drivable = opts.drivableModel === undefined ? undefined : drivableManifest(opts.drivableModel);
    const choice = opts.precision ?? 'auto';
    if (choice !== 'auto') weightFileOf(manifest, choice);
    const probe = opts.probe ?? probeDevices();
    const plan = planProviders(opts.device ?? 'auto', probe);
    if (choice !== 'auto' && !plan.tries.some((p) => runsOn(weightFileOf(manifest, choice), p))) {
      const on = plan.explicit ? plan.tries[0] : `${plan.tries.join(' or ')} (--device ${opts.device ?? 'auto'} here)`;
      throw new RoadsegError(`the ${choice} weights of model "${manifest.id}" do not run on ${on}`, {
        hint: `they run on ${weightFileOf(manifest, choice).providers!.join(', ')}; use --precision auto or fp32 there, or --device ${weightFileOf(manifest, choice).providers![0]}`,
        exitCode: ExitCode.usage,
      });
    }
    // Without this, a provider that fails to load prints a native error line before we can explain it.
    ort.env.logLevel = 'fatal';
    const verified = new Map<string, string>();
    const weights = async (m: ModelManifest, p: Precision) => {
      const key = `${m.id}/${p}`;
      if (!verified.has(key)) verified.set(key, await resolveVerifiedWeights(m, p, opts.modelsDir, log));
      return verified.get(key)!;
    };
    const failures: string[] = [];
    for (const provider of plan.tries) {
      if (provider === 'cuda' && !probe.cudaProvider) {
        failures.push(`cuda: ${cudaProviderLibrary} (with ${sharedProviderLibrary}) is not installed in ${ortBinaryDir()}`);
        if (!plan.explicit) log(`device: ${failures.at(-1)}, trying the next`);
        continue;
      }
      if (choice !== 'auto' && !runsOn(weightFileOf(manifest, choice), provider)) {
        failures.push(`${provider}: the ${choice} weights do not run on it`);
        continue;
      }
      if (provider === 'webgpu') {
        try {
          ensureXdgRuntimeDir();
        } catch {
          // Dawn may still work without it; its own error says so if not
        }
      }
      const wanted = [manifest, ...(drivable ? [drivable] : [])].map((m) => ({
        manifest: m,
        // An explicit precision the drivable model lacks: it runs in fp32 (the log says so).
        precision: m === manifest || choice === 'auto' || m.weights[choice] ? choosePrecision(m, choice, provider) : 'fp32',
      }));
      const worker = InferenceWorker.start();
      const models: LoadedModel[] = [];
      try {
        for (const w of wanted) {
          const path = await weights(w.manifest, w.precision);
          const session = await createSession(worker, provider, path, w.manifest, w.precision, opts);
          models.push({ ...w, weightsPath: path, session });
          checkContract(session, w.manifest, path);
        }
      } catch (e) {
        await worker.terminate();
        if (e instanceof RoadsegError) throw e;
        failures.push(`${provider}: ${explainFailure(provider, e, probe)}`);
        if (!plan.explicit) log(`device: ${failures.at(-1)}; trying the next`);
        continue;
      }
      let reason = plan.explicit ? plan.reason : `auto: ${plan.reason}; using ${provider}`;
      if (provider === 'webgpu') {
        reason += ` (Vulkan: ${describeVulkan(probe)})`;
        if (webgpuIsSoftware(probe)) {
          reason += '; no hardware GPU with a Vulkan driver: WebGPU runs on a software Vulkan driver, on the CPU';
          log('device: warning: webgpu has no hardware GPU here and runs on the CPU through a software Vulkan driver (lavapipe): expect seconds per frame');
        }
      }
      log(`device: ${provider} (${reason})`);
      for (const [i, m] of models.entries()) {
        const why = choice === 'auto' ? `--precision auto: ${m.precision === 'int8' ? 'int8 on the CPU provider' : m.manifest.weights.int8 ? `no int8 on ${provider}` : 'no int8 weights'}` : m.precision === choice ? `--precision ${choice}` : `it has no ${choice} weights`;
        log(`model: ${i === 0 ? 'scene' : 'drivable area'} ${m.manifest.id}, ${m.precision} (${why}): ${m.weightsPath}`);
      }
      if (opts.tta?.length) log(`tta: scales ${opts.tta.join(', ')}, each also mirrored: ${opts.tta.length * 2} inferences per model and frame`);
      const engine = new SegmentationEngine(models, provider, reason, worker, opts);
      try {
        // The probe is the warm-up of the sizes a run without test-time augmentation uses.
        await engine.probe();
        if (!opts.noWarmup && opts.tta?.length) await engine.warmup();
      } catch (e) {
        await worker.terminate();
        throw e;
      }
      return engine;
    }
    throw new RoadsegError(`execution provider unavailable for --device ${opts.device ?? 'auto'}`, {
      where: failures.join('; '),
      hint: deviceHint(plan.tries[0]!, probe),
      exitCode: ExitCode.device,
    });
  }

  /** A model's input size for a frame of this size, per its manifest's size rule (the scene model's by default). */
  inputSizeFor(frameWidth: number, frameHeight: number, model = 0, scale = 1): InputSize {
    const m = this.models[model]!.manifest;
    return modelInputSize(m, { width: frameWidth, height: frameHeight }, this.opts.inputHeight, scale, `model ${m.id}`);
  }

  /** One frame packed for every model (and TTA variant), each at its own size and colour order. */
  prepare(bgr: Mat): PackedInput {
    return this.models.map((m, i) => {
      const packed = new Map<string, InputTensor>();
      return this.variants.map((v) => {
        const size = this.inputSizeFor(bgr.cols, bgr.rows, i, v.scale);
        const key = `${size.width}x${size.height}`;
        if (!packed.has(key)) packed.set(key, packInput(bgr, size, m.manifest.input.colorOrder));
        const tensor = packed.get(key)!;
        return v.flip ? flipTensor(tensor) : tensor;
      });
    });
  }

  /**
   * The contract checked by running it: each model once at the size its manifest's size rule
   * gives (for a 16:9 frame, at the run's input height), every head's outputs fetched. A size the
   * weights cannot take, maps not of the input's size, logits of another stride or channel count:
   * exit 4 naming the manifest's field and what the weights do instead.
   */
  async probe(): Promise<void> {
    const runs = this.models.map((m, i) => {
      const size = this.inputSizeFor(16, 9, i);
      const tensor = new ort.Tensor('uint8', new Uint8Array(size.height * size.width * 3), [1, size.height, size.width, 3]);
      return { session: m.session, feeds: { [m.manifest.input.name]: tensor }, fetches: probeFetches(m.manifest), size };
    });
    for (const [i, run] of runs.entries()) {
      const m = this.models[i]!;
      let outputs: Record<string, TensorData>;
      try {
        [outputs] = (await this.worker.runAll([run])) as [Record<string, TensorData>];
      } catch (e) {
        throw contractError(m, [`size: the weights do not run at ${run.size.width}x${run.size.height}, a size the manifest's rule gives (${describeRule(m.manifest.size)}), so the network takes other sides than the rule's stride and offset give (${shortError(e).split(' Status Message:')[0]!.slice(0, 160)})`]);
      }
      const problems = probeProblems(m.manifest, run.size, outputs);
      if (problems.length) throw contractError(m, problems);
    }
  }

  /** One run at a typical size, so the first real frame does not pay for graph set-up. */
  async warmup(): Promise<void> {
    let input: PackedInput;
    try {
      input = this.models.map((_, i) =>
        this.variants.map((v) => {
          const size = this.inputSizeFor(16, 9, i, v.scale);
          return ndarray(new Uint8Array(size.height * size.width * 3), [1, size.height, size.width, 3]);
        }),
      );
    } catch (e) {
      // A size the warm-up frame cannot have is no error of the user's: their first frame, if it
      // has the same problem, names its own size.
      if (e instanceof RoadsegError) return;
      throw e;
    }
    await this.infer(input);
  }

  /** True when every model's batch dimension is dynamic, so that `inferBatch` can take several frames. */
  get batchable(): boolean {
    return this.models.every((m) => {
      const input = m.session.inputMetadata.find((v) => v.name === m.manifest.input.name);
      return !!input?.isTensor && typeof input.shape[0] !== 'number';
    });
  }

  /** One frame's heads. A bare tensor is the scene model's only input (no drivable model, no TTA). */
  async infer(input: PackedInput | InputTensor): Promise<FrameHeads> {
    return (await this.inferBatch([Array.isArray(input) ? input : [[input]]]))[0]!;
  }

  /**
   * Several frames in one run per model and variant (the weights take a dynamic batch); frames of
   * one batch have the same size.
   */
  async inferBatch(inputs: readonly PackedInput[]): Promise<FrameHeads[]> {
    const tta = this.variants.length > 1;
    const runs = this.models.flatMap((m, i) =>
      this.variants.map((_, v) => ({
        session: m.session,
        feeds: { [m.manifest.input.name]: batchTensor(inputs.map((x) => x[i]![v]!)) },
        fetches: fetchesOf(m.manifest, tta, i === 0 && this.opts.logits !== false),
      })),
    );
    if (this.disposed) throw new Error('the inference engine has been disposed');
    const call = this.worker.runAll(runs);
    this.running.add(call);
    let outputs: Record<string, TensorData>[];
    try {
      outputs = await call;
    } finally {
      this.running.delete(call);
    }
    return inputs.map((input, n) => {
      const perModel = this.models.map((m, i) => {
        const variantsOut = this.variants.map((v, k) => ({ v, tensor: input[i]![k]!, outputs: outputs[i * this.variants.length + k]! }));
        return tta ? combineVariants(m.manifest, variantsOut, n) : headsOf(m.manifest, variantsOut[0]!, n);
      });
      const scene = perModel[0]!;
      const drivable = perModel[1] ?? scene;
      const heads: FrameHeads = { labels: scene.labels ?? binaryLabels(scene.drivable, scene.lanes) };
      if (drivable.drivable) heads.drivable = { mask: drivable.drivable, model: this.drivableSource };
      if (drivable.lanes) heads.lanes = drivable.lanes;
      if (this.opts.logits !== false && scene.logits) heads.logits = scene.logits;
      return heads;
    });
  }

  /**
   * Releases the sessions once the runs in flight have been answered (a run abandoned by an
   * interrupted pipeline still completes in the worker); later runs are refused. Idempotent.
   */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      await Promise.allSettled(this.running);
      for (const m of this.models) await m.session.release();
    })();
    return this.disposed;
  }
}

/** The manifest for --drivable-model: it must have a drivable head. */
function drivableManifest(id: string): ModelManifest {
  const m = getManifest(id);
  if (!m.heads.drivable) {
    throw new RoadsegError(`--drivable-model "${m.id}" has no drivable head`, {
      hint: `models with a drivable head: ${listDrivable().join(', ') || 'none'} (see \`roadseg models\`)`,
      exitCode: ExitCode.usage,
    });
  }
  return m;
}

function listDrivable(): string[] {
  return listManifests().filter((m) => m.heads.drivable).map((m) => m.id);
}

async function createSession(worker: InferenceWorker, provider: Provider, path: string, manifest: ModelManifest, precision: Precision, opts: EngineOptions): Promise<WorkerSession> {
  try {
    return await worker.createSession(path, {
      executionProviders: [providerConfig(provider, opts)],
      graphOptimizationLevel: 'all',
      // onnxruntime's own default counts physical cores: one on a 2-vCPU machine, where two
      // threads infer 1.6x faster (81 vs 128 ms at 913x513).
      intraOpNumThreads: opts.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      // Idle inference threads sleep instead of spinning, leaving the cores to decoding,
      // rendering and encoding, which run beside inference in the pipeline.
      // x64quantprecision: without VNNI, onnxruntime's uint8 x int8 kernels add pairs of products in
      // 16 bits, which saturate: on this build machine's AVX2 CPU the int8 DeepLabV3 then scored
      // 0.868 pixel accuracy on CamVid instead of the float model's 0.882; with it, 0.882.
      extra: { session: { ...(precision === 'int8' && { x64quantprecision: '1' }), intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
  } catch (e) {
    // A file onnxruntime cannot parse fails the same way on every provider: say so at once.
    if (/Load model from .* failed|Protobuf parsing failed|ModelProto/i.test(messageOf(e))) {
      throw new RoadsegError(`cannot load model "${manifest.id}": the file is not a valid ONNX model (${messageOf(e).split('\n')[0]})`, {
        where: path,
        hint: "the file is corrupt or not ONNX; replace it with the original weights (see the manifest's origin)",
        exitCode: ExitCode.model,
      });
    }
    throw e;
  }
}

/** Output names to fetch: the maps (and the class scores when asked for), or with TTA every head's logits. */
function fetchesOf(m: ModelManifest, tta: boolean, classScores: boolean): string[] {
  const { classes, drivable, lanes } = m.heads;
  const names: string[] = [];
  if (classes) names.push(classes.labels, ...(tta || classScores ? [classes.logits.name] : []));
  for (const head of [drivable, lanes]) if (head) names.push(tta ? head.logits.name : head.mask);
  return names;
}

/** Frames' tensors of one size as one [N, H, W, 3] tensor. */
function batchTensor(tensors: InputTensor[]): ort.Tensor {
  const [first] = tensors;
  if (tensors.length === 1) return new ort.Tensor('uint8', first!.data, first!.shape);
  const [, h, w, c] = first!.shape as [number, number, number, number];
  const data = new Uint8Array(tensors.length * h * w * c);
  tensors.forEach((t, i) => {
    if (t.shape[1] !== h || t.shape[2] !== w) throw new RangeError(`a batch needs frames of one size: ${t.shape[2]}x${t.shape[1]} beside ${w}x${h}`);
    data.set(t.data, i * h * w * c);
  });
  return new ort.Tensor('uint8', data, [tensors.length, h, w, c]);
}

/** Image n of a batched output. */
function sliceOf(t: TensorData, n: number): { data: TensorData['data']; dims: number[] } {
  const per = t.data.length / t.dims[0]!;
  const data = (t.data as Uint8Array | Float32Array).subarray(n * per, (n + 1) * per);
  return { data, dims: t.dims.slice(1) };
}

interface ModelHeads {
  labels?: LabelMap;
  drivable?: LabelMap;
  lanes?: LabelMap;
  logits?: HeadScores;
}

type VariantOutput = { v: Variant; tensor: InputTensor; outputs: Record<string, TensorData> };

function mapOf(t: TensorData, n: number): LabelMap {
  const { data, dims } = sliceOf(t, n);
  return labelMap(data as Uint8Array, dims[0]!, dims[1]!);
}

function scoresOf(t: TensorData, n: number): HeadScores {
  const { data, dims } = sliceOf(t, n);
  return { data: data as Float32Array, channels: dims[0]!, height: dims[1]!, width: dims[2]! };
}

/** The heads of one model for image n, without TTA. */
function headsOf(m: ModelManifest, { outputs }: VariantOutput, n: number): ModelHeads {
  const { classes, drivable, lanes } = m.heads;
  const out: ModelHeads = {};
  if (classes) {
    out.labels = mapOf(outputs[classes.labels]!, n);
    const logits = outputs[classes.logits.name];
    if (logits) out.logits = scoresOf(logits, n);
  }
  if (drivable) out.drivable = mapOf(outputs[drivable.mask]!, n);
  if (lanes) out.lanes = mapOf(outputs[lanes.mask]!, n);
  return out;
}

/**
 * TTA: every head's scores of every variant resized to the scale-1 input size (as the model's own
 * head upsamples), mirrored back, averaged, then the argmax.
 */
function combineVariants(m: ModelManifest, variants: VariantOutput[], n: number): ModelHeads {
  const base = variants.find((x) => x.v.scale === 1 && !x.v.flip) ?? variants[0]!;
  const [, height, width] = base.tensor.shape as [number, number, number];
  const average = (name: string, upsampling: 'align-corners' | 'half-pixel'): HeadScores => {
    const channels = variants[0]!.outputs[name]!.dims[1]!;
    const sum: HeadScores = { data: new Float32Array(channels * height * width), channels, height, width };
    for (const x of variants) resizeScoresInto(scoresOf(x.outputs[name]!, n), sum, upsampling, x.v.flip);
    return sum;
  };
  const { classes, drivable, lanes } = m.heads;
  const out: ModelHeads = {};
  if (classes) {
    out.logits = average(classes.logits.name, classes.logits.upsampling);
    out.labels = labelMap(argmaxScores(out.logits, classes.names.length, classes.voidLabel), height, width);
  }
  if (drivable) out.drivable = labelMap(argmaxScores(average(drivable.logits.name, drivable.logits.upsampling), 2, 0), height, width);
  if (lanes) out.lanes = labelMap(argmaxScores(average(lanes.logits.name, lanes.logits.upsampling), 2, 0), height, width);
  return out;
}

/** A model with only binary heads, as a label map: drivable 0, lane line 1 (over drivable), else 255. */
function binaryLabels(drivable: LabelMap | undefined, lanes: LabelMap | undefined): LabelMap {
  const ref = (drivable ?? lanes)!;
  const out = new Uint8Array(ref.data.length).fill(255);
  const d = drivable?.data;
  const l = lanes?.data;
  for (let i = 0; i < out.length; i++) {
    if (l?.[i]) out[i] = binaryClassIds.lanes;
    else if (d?.[i]) out[i] = binaryClassIds.drivable;
  }
  return labelMap(out, ref.shape[0]!, ref.shape[1]!);
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

/** onnxruntime's error as one line, without its source paths. */
function shortError(thrown: unknown): string {
  const full = messageOf(thrown);
  const first = (full.split('\n').find((l) => l.trim()) ?? full).trim();
  // "/onnxruntime_src/.../file.cc:136 fn(...) cond was false. Real message" -> "Real message"
  return first.replace(/^\/onnxruntime_src\/\S+\s.*?(?:was false\.|\]\s)\s*/, '').slice(0, 300);
}

/** One line saying why a provider did not start, without onnxruntime's source paths. */
export function explainFailure(provider: Provider, thrown: unknown, probe: DeviceProbe): string {
  const full = messageOf(thrown);
  const short = shortError(thrown);
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

/** Every output the manifest names: each head's map and its logits. */
function probeFetches(m: ModelManifest): string[] {
  const { classes, drivable, lanes } = m.heads;
  return [...(classes ? [classes.labels, classes.logits.name] : []), ...[drivable, lanes].flatMap((h) => (h ? [h.mask, h.logits.name] : []))];
}

function describeRule(rule: ModelManifest['size']): string {
  return rule.rule === 'fixed' ? `fixed ${rule.width}x${rule.height}` : `dynamic, sides ${rule.stride}k${rule.offset ? `+${rule.offset}` : ''}`;
}

/** What the probe's outputs show against the manifest, each naming the field it contradicts. */
function probeProblems(m: ModelManifest, size: InputSize, outputs: Record<string, TensorData>): string[] {
  const problems: string[] = [];
  const input = `${size.width}x${size.height}`;
  /** False (and said once per model) when the map is not of the input's size. */
  const checkMap = (head: string, name: string): boolean => {
    const [, h, w] = outputs[name]!.dims;
    if (h === size.height && w === size.width) return true;
    if (!problems.some((p) => p.startsWith('size:'))) {
      problems.push(`size: for a ${input} input (${describeRule(m.size)}) the ${head} head's "${name}" is ${w}x${h}: the network takes other sides than the rule's stride and offset give`);
    }
    return false;
  };
  const checkLogits = (field: string, logits: { name: string; stride: number }, channels: number) => {
    const [, c, h, w] = outputs[logits.name]!.dims as [number, number, number, number];
    if (c !== channels) problems.push(`${field}.channels: the weights give ${c} channels of "${logits.name}", the manifest says ${channels}`);
    // A head's logits are the input's size over the stride, give or take the rounding of its edge cells.
    if (Math.abs(h - size.height / logits.stride) > 1 || Math.abs(w - size.width / logits.stride) > 1) {
      const actual = Math.round(size.height / h);
      problems.push(`${field}.stride: ${logits.stride}, but the weights give ${w}x${h} "${logits.name}" for a ${input} input: stride ${actual}`);
    }
  };
  const { classes, drivable, lanes } = m.heads;
  if (classes) {
    if (checkMap('classes', classes.labels)) checkLogits('heads.classes.logits', classes.logits, classes.logits.channels);
  }
  for (const [name, head] of [['drivable', drivable], ['lanes', lanes]] as const) {
    if (!head) continue;
    if (checkMap(name, head.mask)) checkLogits(`heads.${name}.logits`, head.logits, 2);
  }
  return problems;
}

function contractError(m: LoadedModel, problems: string[]): RoadsegError {
  return new RoadsegError(`model graph does not match manifest "${m.manifest.id}": ${problems.join('; ')}`, {
    where: m.weightsPath,
    hint: `correct the manifest (${m.manifest.manifestPath}) to what the weights do, or use the weights it was written for`,
    exitCode: ExitCode.model,
  });
}

/**
 * The graph's real input and outputs must be what the manifest's heads say: every output present,
 * of its type, logits with the declared channels (two for a binary head). Names each difference.
 */
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
    if (!channelsLast) problems.push(`input "${m.input.name}" has shape [${s.join(',')}], expected [N,H,W,3] (NHWC)`);
    if (m.size.rule === 'dynamic' && s.length === 4 && typeof s[1] === 'number' && typeof s[2] === 'number') {
      problems.push(`size: the rule is dynamic, but input "${m.input.name}" takes only ${s[2]}x${s[1]} (shape [${s.join(',')}]): declare "size": {"rule": "fixed", "height": ${s[1]}, "width": ${s[2]}}`);
    }
    if (m.size.rule === 'fixed' && s.length === 4 && (s[1] !== m.size.height || s[2] !== m.size.width)) {
      problems.push(`input "${m.input.name}" has shape [${s.join(',')}], expected fixed [N,${m.size.height},${m.size.width},3]`);
    }
  }
  const expect = (head: string, name: string, dtype: 'uint8' | 'float32', channels?: number) => {
    const meta = session.outputMetadata.find((v) => v.name === name);
    if (!meta) return problems.push(`${head} head: no output "${name}" (graph outputs: ${session.outputNames.join(', ')})`);
    if (!meta.isTensor) return;
    if (meta.type !== dtype) problems.push(`${head} head: output "${name}" is ${meta.type}, expected ${dtype}`);
    const c = meta.shape[1];
    if (channels !== undefined && typeof c === 'number' && c !== channels) {
      problems.push(`${head} head: output "${name}" has ${c} channels, expected ${channels}${head === 'classes' ? '' : ' (a binary head: no, yes)'}`);
    }
  };
  const { classes, drivable, lanes } = m.heads;
  if (classes) {
    expect('classes', classes.labels, 'uint8');
    expect('classes', classes.logits.name, 'float32', classes.logits.channels);
  }
  for (const [name, head] of [['drivable', drivable], ['lanes', lanes]] as const) {
    if (!head) continue;
    expect(name, head.mask, 'uint8');
    expect(name, head.logits.name, 'float32', 2);
  }
  if (problems.length) {
    throw new RoadsegError(`model graph does not match manifest "${m.id}": ${problems.join('; ')}`, {
      where: path,
      hint: `use the weights named in models/${m.id}.json, or register this model with its own manifest`,
      exitCode: ExitCode.model,
    });
  }
}
