/**
 * Which onnxruntime execution provider runs the model. Pure policy over a probe of the machine, so
 * the decision is testable without the hardware: an explicit device is tried alone (never a silent
 * fallback); `auto` prefers a hardware GPU and ends with the CPU. A software Vulkan driver (Mesa's
 * lavapipe) is not a GPU and is never picked by `auto`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const deviceChoices = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export type DeviceChoice = (typeof deviceChoices)[number];
export type Provider = Exclude<DeviceChoice, 'auto'>;

export interface DeviceProbe {
  /** onnxruntime-node's CUDA provider library is installed (`npm run install:cuda`). */
  cudaProvider: boolean;
  /** An NVIDIA driver and device are present. */
  nvidiaGpu: boolean;
  /** A hardware GPU render node (any vendor) is present. */
  hardwareGpu: boolean;
}

export interface ProviderPlan {
  /** Providers to try, in order; an explicit choice has exactly one. */
  tries: Provider[];
  explicit: boolean;
  /** Why this order, for the log. */
  reason: string;
}

export function planProviders(choice: DeviceChoice, probe: DeviceProbe): ProviderPlan {
  if (choice !== 'auto') return { tries: [choice], explicit: true, reason: `--device ${choice}` };
  if (probe.nvidiaGpu && probe.cudaProvider) {
    return { tries: ['cuda', 'webgpu', 'cpu'], explicit: false, reason: 'NVIDIA GPU with the CUDA provider installed' };
  }
  if (probe.hardwareGpu) {
    const why = probe.nvidiaGpu ? 'NVIDIA GPU without the CUDA provider (see `npm run install:cuda`): WebGPU over Vulkan' : 'hardware GPU: WebGPU over Vulkan';
    return { tries: ['webgpu', 'cpu'], explicit: false, reason: why };
  }
  return { tries: ['cpu'], explicit: false, reason: 'no hardware GPU found' };
}

/** Folder holding onnxruntime-node's native libraries for this platform. */
export function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

export const cudaProviderLibrary = 'libonnxruntime_providers_cuda.so';

export function probeDevices(): DeviceProbe {
  const nvidiaGpu = existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/version');
  let renderNode = false;
  try {
    renderNode = readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    renderNode = false;
  }
  return {
    cudaProvider: existsSync(join(ortBinaryDir(), cudaProviderLibrary)),
    nvidiaGpu,
    hardwareGpu: nvidiaGpu || renderNode,
  };
}
