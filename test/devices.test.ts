// Device policy: which execution provider `auto` picks on which machine, how the probe reads the
// Vulkan drivers, and how unavailable providers fail. Pure or cheap: no GPU, no WebGPU session.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeVulkan,
  ensureXdgRuntimeDir,
  findVulkanDrivers,
  hardwareVulkanDrivers,
  planProviders,
  probeDevices,
  webgpuIsSoftware,
  type DeviceProbe,
  type VulkanDriver,
} from '../src/engine/devices.js';
import { SegmentationEngine, explainFailure } from '../src/engine/engine.js';
import { ExitCode, RoadsegError } from '../src/util/errors.js';
import { runCli } from './helpers/cli.js';
import { data, modelsDir, tempDir } from './helpers/paths.js';

const icd = (name: string, library: string, software = false): VulkanDriver => ({ name, manifest: `/usr/share/vulkan/icd.d/${name}_icd.json`, library, software });
const lavapipe = icd('lvp', 'libvulkan_lvp.so', true);
const nvidiaIcd = icd('nvidia', 'libGLX_nvidia.so.0');
const radv = icd('radeon', 'libvulkan_radeon.so');
const anv = icd('intel', 'libvulkan_intel.so');
/** This build machine: no GPU, Mesa's whole set of Vulkan drivers including lavapipe. */
const cpuOnly: DeviceProbe = { cudaProvider: false, nvidiaGpu: false, hardwareGpu: false, gpuDrivers: [], vulkanLoader: true, vulkanDrivers: [radv, anv, lavapipe] };
const nvidia = (over: Partial<DeviceProbe> = {}): DeviceProbe => ({ cudaProvider: false, nvidiaGpu: true, hardwareGpu: true, gpuDrivers: ['nvidia'], vulkanLoader: true, vulkanDrivers: [nvidiaIcd], ...over });

describe('auto: a hardware GPU when there is one, else the CPU', () => {
  it('takes the CPU on a machine with only a software Vulkan driver, and says why', () => {
    const plan = planProviders('auto', cpuOnly);
    expect(plan.tries).toEqual(['cpu']);
    expect(plan.explicit).toBe(false);
    expect(plan.reason).toMatch(/no hardware GPU/);
    expect(plan.reason).toMatch(/lavapipe/);
    expect(webgpuIsSoftware(cpuOnly)).toBe(true);
  });

  it('never counts lavapipe as the GPU: a GPU whose Vulkan driver is missing gets the CPU', () => {
    const plan = planProviders('auto', nvidia({ vulkanDrivers: [lavapipe, radv] }));
    expect(plan.tries).toEqual(['cpu']);
    expect(plan.reason).toMatch(/no Vulkan driver for it/);
    expect(plan.reason).toMatch(/install:cuda/);
    // An AMD GPU with only Intel's and the software driver: same.
    expect(planProviders('auto', { ...cpuOnly, hardwareGpu: true, gpuDrivers: ['amdgpu'], vulkanDrivers: [anv, lavapipe] }).tries).toEqual(['cpu']);
    // No Vulkan loader at all: the drivers cannot be reached.
    expect(planProviders('auto', nvidia({ vulkanLoader: false })).tries).toEqual(['cpu']);
  });

  it('picks WebGPU on a GPU with its vendor Vulkan driver, then the CPU', () => {
    expect(planProviders('auto', nvidia()).tries).toEqual(['webgpu', 'cpu']);
    expect(planProviders('auto', nvidia()).reason).toMatch(/WebGPU over Vulkan \(Vulkan: nvidia\)/);
    expect(planProviders('auto', { ...cpuOnly, hardwareGpu: true, gpuDrivers: ['amdgpu'] }).tries).toEqual(['webgpu', 'cpu']);
    expect(planProviders('auto', { ...cpuOnly, hardwareGpu: true, gpuDrivers: ['i915'] }).reason).toMatch(/Vulkan: intel/);
    // A GPU whose kernel driver is not known: any hardware Vulkan driver may be its own.
    expect(planProviders('auto', { ...cpuOnly, hardwareGpu: true, gpuDrivers: ['unknown'] }).tries).toEqual(['webgpu', 'cpu']);
  });

  it('prefers CUDA on an NVIDIA GPU with the CUDA provider, WebGPU only with a Vulkan driver', () => {
    expect(planProviders('auto', nvidia({ cudaProvider: true })).tries).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(planProviders('auto', nvidia({ cudaProvider: true, vulkanDrivers: [lavapipe] })).tries).toEqual(['cuda', 'cpu']);
    expect(planProviders('auto', nvidia({ cudaProvider: true, nvidiaGpu: false, gpuDrivers: ['amdgpu'], vulkanDrivers: [radv] })).tries).toEqual(['webgpu', 'cpu']);
  });

  it('keeps the old meaning for probes without Vulkan information', () => {
    const old = { cudaProvider: false, nvidiaGpu: true, hardwareGpu: true };
    expect(planProviders('auto', old).tries).toEqual(['webgpu', 'cpu']);
    expect(hardwareVulkanDrivers(old)).toBeUndefined();
    expect(describeVulkan(old)).toBe('not probed');
  });

  it('an explicit device is tried alone, whatever the machine', () => {
    for (const probe of [cpuOnly, nvidia({ cudaProvider: true })]) {
      for (const d of ['cpu', 'webgpu', 'cuda'] as const) expect(planProviders(d, probe)).toEqual({ tries: [d], explicit: true, reason: `--device ${d}` });
    }
  });
});

describe('the probe', () => {
  it('reads Vulkan driver manifests as the loader does, telling software drivers apart', () => {
    const dir = tempDir();
    const icdDir = join(dir, 'vulkan', 'icd.d');
    mkdirSync(icdDir, { recursive: true });
    const write = (file: string, library: string) => writeFileSync(join(icdDir, file), JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: library, api_version: '1.3.0' } }));
    write('lvp_icd.x86_64.json', '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so');
    write('nvidia_icd.json', 'libGLX_nvidia.so.0');
    write('radeon_icd.x86_64.json', 'libvulkan_radeon.so');
    writeFileSync(join(icdDir, 'broken.json'), '{ not json');
    writeFileSync(join(icdDir, 'readme.txt'), 'ignored');
    const env = { HOME: dir, XDG_CONFIG_DIRS: join(dir, 'none'), XDG_DATA_DIRS: dir };
    const drivers = findVulkanDrivers(env, join(dir, 'none'));
    expect(drivers.map((d) => [d.name, d.software])).toEqual([
      ['lvp', true],
      ['nvidia', false],
      ['radeon', false],
    ]);
    // VK_DRIVER_FILES replaces the search: only the files named.
    expect(findVulkanDrivers({ ...env, VK_DRIVER_FILES: join(icdDir, 'nvidia_icd.json') }).map((d) => d.name)).toEqual(['nvidia']);
    expect(findVulkanDrivers({ ...env, VK_ICD_FILENAMES: '/nonexistent/icd.json' })).toEqual([]);
    expect(describeVulkan({ ...cpuOnly, vulkanDrivers: drivers })).toBe('lavapipe (software)');
    expect(describeVulkan(nvidia({ vulkanDrivers: drivers }))).toBe('lavapipe (software), nvidia');
    expect(describeVulkan(nvidia({ vulkanDrivers: [radv] }))).toBe("no Vulkan driver for this machine's devices (installed: radeon)");
  });

  it('probes this machine consistently', () => {
    const probe = probeDevices();
    expect(probeDevices()).toEqual(probe);
    expect(probe.hardwareGpu).toBe((probe.gpuDrivers ?? []).length > 0);
    expect(Array.isArray(probe.vulkanDrivers)).toBe(true);
    if (probe.nvidiaGpu) expect(probe.gpuDrivers).toContain('nvidia');
  });

  it('gives Dawn a writable XDG_RUNTIME_DIR when there is none or it is unusable', () => {
    const env: NodeJS.ProcessEnv = {};
    const dir = ensureXdgRuntimeDir(env);
    expect(env.XDG_RUNTIME_DIR).toBe(dir);
    expect(dir).toMatch(/roadseg-runtime-/);
    const bad: NodeJS.ProcessEnv = { XDG_RUNTIME_DIR: '/nonexistent/run' };
    expect(ensureXdgRuntimeDir(bad)).toBe(dir);
    const good = tempDir();
    expect(ensureXdgRuntimeDir({ XDG_RUNTIME_DIR: good })).toBe(good);
  });
});

describe('unavailable providers fail clearly', () => {
  it('explains onnxruntime failures in one line, without its source paths', () => {
    const webgpu = new Error(
      '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters',
    );
    expect(explainFailure('webgpu', webgpu, cpuOnly)).toBe('Dawn found no usable Vulkan adapter (Failed to get a WebGPU adapter: No supported adapters; Vulkan here: lavapipe (software))');
    const cuda = new Error('/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1862 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.12: cannot open shared object file: No such file or directory');
    expect(explainFailure('cuda', cuda, nvidia({ cudaProvider: true }))).toMatch(/CUDA provider is installed but libcublasLt\.so\.12 was not found \(it needs CUDA 12\.x and cuDNN 9\.x/);
  });

  it('explicit cuda without its binaries names the missing library and how to get it', async () => {
    const err = await SegmentationEngine.create({ device: 'cuda', probe: cpuOnly, modelsDir, noWarmup: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RoadsegError);
    const e = err as RoadsegError;
    expect(e.exitCode).toBe(ExitCode.device);
    expect(e.message).toMatch(/execution provider unavailable for --device cuda/);
    expect(e.where).toMatch(/libonnxruntime_providers_cuda\.so .* is not installed in .*onnxruntime-node\/bin\/napi-v6\/linux\/x64/);
    expect(e.hint).toMatch(/npm run install:cuda/);
    expect(e.hint).toMatch(/CUDA 12 and cuDNN 9/);
  });

  it('auto falls back, and logs it, when a provider it planned does not start', async () => {
    // The probe claims the CUDA provider is installed: onnxruntime then fails to load it here.
    const lines: string[] = [];
    const engine = await SegmentationEngine.create({ device: 'auto', probe: nvidia({ cudaProvider: true, vulkanDrivers: [lavapipe] }), modelsDir, noWarmup: true, log: (l) => lines.push(l) });
    try {
      expect(engine.provider).toBe('cpu');
      expect(lines[0]).toMatch(/^device: cuda: .*; trying the next$/);
      expect(lines.filter((l) => l.startsWith('device: ')).at(-1)).toMatch(/^device: cpu \(auto: NVIDIA GPU with the CUDA provider installed; using cpu\)$/);
      expect(engine.deviceReason).toMatch(/using cpu/);
    } finally {
      await engine.dispose();
    }
  });

  it('the CLI exits with the device code and the three-line message (cuda, real probe)', () => {
    const r = runCli(['segment', '--device', 'cuda', '-o', tempDir(), join(data, 'images/cityscapes/frankfurt_000000_000294_leftImg8bit.png')], { timeoutMs: 60_000 });
    expect(r.code).toBe(ExitCode.device);
    expect(r.stderr).toMatch(/^error: execution provider unavailable for --device cuda$/m);
    expect(r.stderr).toMatch(/^ {2}where: cuda: libonnxruntime_providers_cuda\.so/m);
    expect(r.stderr).toMatch(/^ {2}hint: {2}install the CUDA provider with `npm run install:cuda`/m);
    expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  });
});
