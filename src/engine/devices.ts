/**
 * Which onnxruntime execution provider runs the model. Pure policy over a probe of the machine, so
 * the decision is testable without the hardware: an explicit device is tried alone (never a silent
 * fallback); `auto` prefers a hardware GPU and ends with the CPU. A software Vulkan driver (Mesa's
 * lavapipe) is not a GPU and is never picked by `auto`.
 *
 * The probe is cheap (a few directory listings and small files, no GPU API call): GPUs are found by
 * their device nodes and kernel drivers, Vulkan drivers by the ICD manifests the Vulkan loader
 * would read, and a hardware GPU counts for WebGPU only when a Vulkan driver for its vendor is
 * visible. Otherwise Dawn would quietly pick lavapipe and "GPU" inference would run on the CPU.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { providers, type Provider } from '../core/model.js';


export const deviceChoices = ['auto', ...providers] as const;
export type DeviceChoice = (typeof deviceChoices)[number];

/** One Vulkan driver (ICD) as its manifest declares it. */
export interface VulkanDriver {
  /** Short name from the manifest file (`nvidia`, `radeon`, `intel`, `lvp`, ...). */
  name: string;
  /** The manifest file. */
  manifest: string;
  /** The driver library the manifest names. */
  library: string;
  /** A CPU implementation (lavapipe, llvmpipe, SwiftShader): not a GPU. */
  software: boolean;
}

export interface DeviceProbe {
  /** onnxruntime-node's CUDA provider library is installed (`npm run install:cuda`). */
  cudaProvider: boolean;
  /** An NVIDIA driver and device are present. */
  nvidiaGpu: boolean;
  /** A hardware GPU (any vendor) is present. */
  hardwareGpu: boolean;
  /** Kernel drivers of the hardware GPUs found (`nvidia`, `amdgpu`, `i915`, ...); absent when not probed. */
  gpuDrivers?: string[];
  /** The Vulkan loader library (libvulkan.so.1) is installed; absent when not probed. */
  vulkanLoader?: boolean;
  /** Vulkan drivers the loader would see; absent when not probed. */
  vulkanDrivers?: VulkanDriver[];
}

export interface ProviderPlan {
  /** Providers to try, in order; an explicit choice has exactly one. */
  tries: Provider[];
  explicit: boolean;
  /** Why this order, for the log. */
  reason: string;
}

/** Kernel GPU driver -> pattern over a Vulkan driver's manifest name and library for that vendor. */
const vulkanForKernelDriver: Record<string, RegExp> = {
  nvidia: /nvidia/i,
  nouveau: /nouveau/i,
  amdgpu: /radeon|amd/i,
  radeon: /radeon|amd/i,
  i915: /intel/i,
  xe: /intel/i,
  msm: /freedreno/i,
  panfrost: /panfrost/i,
  panthor: /panfrost/i,
  v3d: /broadcom/i,
  vc4: /broadcom/i,
  asahi: /asahi/i,
  virtio_gpu: /virtio|gfxstream/i,
  powervr: /powervr/i,
  lima: /lima/i,
};

/** Kernel display drivers with no GPU behind them. */
const notGpuDrivers = new Set(['vgem', 'vkms', 'simpledrm', 'simplefb', 'efifb', 'udl', 'gm12u320', 'bochs', 'bochs-drm', 'cirrus', 'cirrus-qemu', 'qxl', 'hyperv_drm', 'vboxvideo', 'ast', 'mgag200']);

const softwareVulkan = /lvp|lavapipe|llvmpipe|swiftshader/i;

/**
 * Vulkan drivers that can drive the hardware GPUs found: `undefined` when the probe did not look
 * (tests, old probes), else the list (empty: none, so WebGPU could only run on a software driver).
 */
export function hardwareVulkanDrivers(probe: DeviceProbe): VulkanDriver[] | undefined {
  if (probe.vulkanDrivers === undefined) return undefined;
  if (probe.vulkanLoader === false) return [];
  const hardware = probe.vulkanDrivers.filter((d) => !d.software);
  const gpus = probe.gpuDrivers ?? [];
  const patterns = gpus.map((g) => vulkanForKernelDriver[g]);
  // A GPU whose kernel driver we do not know: any hardware Vulkan driver may be its.
  if (gpus.length === 0 || patterns.some((p) => p === undefined)) return hardware;
  return hardware.filter((d) => patterns.some((p) => p!.test(`${d.name} ${d.library}`)));
}

/**
 * The Vulkan drivers that can run here, for logs: those for the GPUs found and the software ones
 * (`nvidia`, `lavapipe (software)`). Mesa installs drivers for every vendor; those without their
 * hardware are left out.
 */
export function describeVulkan(probe: DeviceProbe): string {
  if (probe.vulkanDrivers === undefined) return 'not probed';
  if (probe.vulkanLoader === false) return 'no Vulkan loader (libvulkan.so.1)';
  const hardware = probe.hardwareGpu ? (hardwareVulkanDrivers(probe) ?? []) : [];
  const usable = probe.vulkanDrivers.filter((d) => d.software || hardware.includes(d));
  if (usable.length === 0) return probe.vulkanDrivers.length ? `no Vulkan driver for this machine's devices (installed: ${probe.vulkanDrivers.map((d) => d.name).join(', ')})` : 'no Vulkan driver';
  return usable.map((d) => (d.software ? `${d.name === 'lvp' ? 'lavapipe' : d.name} (software)` : d.name)).join(', ');
}

/** True when WebGPU, if it runs at all, can only run on a software Vulkan driver. */
export function webgpuIsSoftware(probe: DeviceProbe): boolean {
  const hw = hardwareVulkanDrivers(probe);
  if (hw === undefined) return !probe.hardwareGpu;
  return !probe.hardwareGpu || hw.length === 0;
}

export function planProviders(choice: DeviceChoice, probe: DeviceProbe): ProviderPlan {
  if (choice !== 'auto') return { tries: [choice], explicit: true, reason: `--device ${choice}` };
  const hw = hardwareVulkanDrivers(probe);
  // Unknown (not probed): trust the GPU; else WebGPU only with a Vulkan driver for that GPU.
  const webgpuOnGpu = probe.hardwareGpu && (hw === undefined || hw.length > 0);
  const vulkan = hw?.length ? ` (Vulkan: ${hw.map((d) => d.name).join(', ')})` : '';
  if (probe.nvidiaGpu && probe.cudaProvider) {
    return {
      tries: webgpuOnGpu ? ['cuda', 'webgpu', 'cpu'] : ['cuda', 'cpu'],
      explicit: false,
      reason: 'NVIDIA GPU with the CUDA provider installed',
    };
  }
  if (webgpuOnGpu) {
    const why = probe.nvidiaGpu ? `NVIDIA GPU without the CUDA provider (see \`npm run install:cuda\`): WebGPU over Vulkan${vulkan}` : `hardware GPU: WebGPU over Vulkan${vulkan}`;
    return { tries: ['webgpu', 'cpu'], explicit: false, reason: why };
  }
  if (probe.hardwareGpu) {
    const gpu = probe.gpuDrivers?.length ? `hardware GPU (${probe.gpuDrivers.join(', ')})` : 'hardware GPU';
    const icd = probe.nvidiaGpu ? nvidiaIcdOffPath() : undefined;
    const hint = (icd ? `; NVIDIA's Vulkan driver is at ${icd}, outside the loader's search path: set VK_DRIVER_FILES=${icd}` : '') + (probe.nvidiaGpu ? '; `npm run install:cuda` enables the CUDA provider' : '');
    return { tries: ['cpu'], explicit: false, reason: `${gpu} but no Vulkan driver for it (Vulkan: ${describeVulkan(probe)})${hint}` };
  }
  const soft = probe.vulkanDrivers?.some((d) => d.software) ? '; a software Vulkan driver (lavapipe) is not a GPU: `--device webgpu` uses it explicitly' : '';
  return { tries: ['cpu'], explicit: false, reason: `no hardware GPU found${soft}` };
}

/** Folder holding onnxruntime-node's native libraries for this platform. */
export function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

export const cudaProviderLibrary = 'libonnxruntime_providers_cuda.so';
/** Loaded by the CUDA provider; ships with it. */
export const sharedProviderLibrary = 'libonnxruntime_providers_shared.so';

export function probeDevices(): DeviceProbe {
  const nvidiaGpu = existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/version');
  const gpuDrivers = new Set<string>();
  if (nvidiaGpu) gpuDrivers.add('nvidia');
  for (const node of safeReaddir('/dev/dri').filter((f) => f.startsWith('renderD'))) {
    // The kernel driver behind the render node; unknown when /sys is not there (some containers).
    const driver = safeBasenameOfLink(`/sys/class/drm/${node}/device/driver`) ?? 'unknown';
    if (!notGpuDrivers.has(driver)) gpuDrivers.add(driver);
  }
  const cudaDir = ortBinaryDir();
  return {
    cudaProvider: existsSync(join(cudaDir, cudaProviderLibrary)) && existsSync(join(cudaDir, sharedProviderLibrary)),
    nvidiaGpu,
    hardwareGpu: gpuDrivers.size > 0,
    gpuDrivers: [...gpuDrivers].filter((d) => d !== 'unknown' || gpuDrivers.size === 1),
    vulkanLoader: hasVulkanLoader(),
    vulkanDrivers: findVulkanDrivers(),
  };
}

/** NVIDIA's ICD manifest where container images mount the driver, outside the loader's search path. */
export function nvidiaIcdOffPath(): string | undefined {
  return ['/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json', '/usr/local/nvidia/icd.d/nvidia_icd.json'].find((p) => existsSync(p));
}

/** The Vulkan loader is in the dynamic linker's cache or on LD_LIBRARY_PATH. */
function hasVulkanLoader(): boolean {
  const lib = 'libvulkan.so.1';
  for (const dir of (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) if (existsSync(join(dir, lib))) return true;
  try {
    if (readFileSync('/etc/ld.so.cache').includes(lib)) return true;
  } catch {
    // no cache: look in the usual folders
  }
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64', '/lib'].some((d) => existsSync(join(d, lib)));
}

/**
 * ICD manifests in the Vulkan loader's search order (VK_DRIVER_FILES / VK_ICD_FILENAMES replace
 * the search; VK_ADD_DRIVER_FILES adds to it), read as the loader reads them.
 */
export function findVulkanDrivers(env: NodeJS.ProcessEnv = process.env, sysconfDir = '/etc'): VulkanDriver[] {
  const list = (v: string | undefined) => (v ?? '').split(':').filter(Boolean);
  const explicit = list(env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES);
  let entries: string[];
  if (explicit.length) {
    entries = explicit;
  } else {
    const home = env.HOME ?? homedir();
    const configDirs = [env.XDG_CONFIG_HOME ?? join(home, '.config'), ...list(env.XDG_CONFIG_DIRS ?? '/etc/xdg'), sysconfDir];
    const dataDirs = [env.XDG_DATA_HOME ?? join(home, '.local', 'share'), ...list(env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share')];
    entries = [...configDirs, ...dataDirs].map((d) => join(d, 'vulkan', 'icd.d'));
    entries.push(...list(env.VK_ADD_DRIVER_FILES));
  }
  const files: string[] = [];
  for (const entry of entries) {
    try {
      if (statSync(entry).isDirectory()) files.push(...safeReaddir(entry).filter((f) => f.endsWith('.json')).sort().map((f) => join(entry, f)));
      else files.push(entry);
    } catch {
      // not there
    }
  }
  const seen = new Set<string>();
  const drivers: VulkanDriver[] = [];
  for (const manifest of files) {
    if (seen.has(basename(manifest))) continue;
    seen.add(basename(manifest));
    let library: string;
    try {
      const json = JSON.parse(readFileSync(manifest, 'utf8')) as { ICD?: { library_path?: unknown } };
      if (typeof json.ICD?.library_path !== 'string') continue;
      library = json.ICD.library_path;
    } catch {
      continue;
    }
    const name = basename(manifest, '.json').replace(/_icd(\.[a-z0-9_]+)?$/i, '').replace(/\.[a-z0-9_]+$/i, '');
    drivers.push({ name, manifest, library, software: softwareVulkan.test(`${name} ${basename(library)}`) });
  }
  return drivers;
}

/**
 * Dawn (the WebGPU implementation inside onnxruntime) wants a writable XDG_RUNTIME_DIR. Where it is
 * unset or unusable, point it at a private folder under the system's temporary folder.
 */
export function ensureXdgRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const current = env.XDG_RUNTIME_DIR;
  if (current && isWritableDir(current)) return current;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const dir = join(tmpdir(), `roadseg-runtime-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  env.XDG_RUNTIME_DIR = dir;
  return dir;
}

function isWritableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function safeBasenameOfLink(path: string): string | undefined {
  try {
    return basename(readlinkSync(path));
  } catch {
    return undefined;
  }
}
