// The WebGPU provider (Dawn over Vulkan) on the real models. On a machine without a GPU it runs on
// Mesa's lavapipe, a software Vulkan driver: the real GPU code path, slowly (seconds per frame on
// two cores), so this file keeps to three 513-high frames, one ESPNetv2 frame and one short
// pipeline run (about a minute and a half on two cores).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeDevices } from '../src/engine/devices.js';
import { SegmentationEngine } from '../src/engine/engine.js';
import { createPipeline } from '../src/app/open.js';
import type { ProcessedFrame } from '../src/core/sink.js';
import { readImage } from '../src/sources/images.js';
import { packInput, toBgr } from '../src/stages/preprocess.js';
import { ExitCode } from '../src/util/errors.js';
import { runCli } from './helpers/cli.js';
import { data, modelsDir, tempDir } from './helpers/paths.js';

const probe = probeDevices();
const vulkan = probe.vulkanLoader === true && (probe.vulkanDrivers ?? []).length > 0;
const frames = [
  'images/camvid/0001TP_008550.png',
  'images/camvid/Seq05VD_f02550.png',
  'images/cityscapes_fullres/cityscapes_example_2048x1024.png',
].map((f) => join(data, f));

/** Share of pixels with the same label. */
function agreement(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

describe.skipIf(!vulkan)('webgpu on this machine (lavapipe where there is no GPU)', () => {
  let cpu: SegmentationEngine;
  let gpu: SegmentationEngine;
  const log: string[] = [];
  beforeAll(async () => {
    cpu = await SegmentationEngine.create({ model: 'deeplabv3-mnedgetpu-slim', device: 'cpu', precision: 'fp32', modelsDir, noWarmup: true });
    // No warm-up: lavapipe compiles the shaders on the first run of each size (several seconds).
    gpu = await SegmentationEngine.create({ model: 'deeplabv3-mnedgetpu-slim', device: 'webgpu', modelsDir, noWarmup: true, log: (l) => log.push(l) });
  });
  afterAll(async () => {
    await cpu?.dispose();
    await gpu?.dispose();
  });

  it('runs the model on webgpu and says which Vulkan driver it has', () => {
    expect(gpu.provider).toBe('webgpu');
    expect(gpu.deviceReason).toMatch(/^--device webgpu \(Vulkan: .+\)/);
    if (!probe.hardwareGpu) {
      expect(gpu.deviceReason).toMatch(/software Vulkan driver/);
      expect(log.join('\n')).toMatch(/warning: webgpu has no hardware GPU here/);
    }
    expect(process.env.XDG_RUNTIME_DIR).toBeTruthy();
  });

  it('labels agree with the CPU provider on >= 99.5 % of pixels (2 CamVid frames, 1 Cityscapes frame)', async () => {
    const rows: string[] = [];
    for (const file of frames) {
      const bgr = toBgr(readImage(file));
      const size = cpu.inputSizeFor(bgr.cols, bgr.rows);
      expect(size.height).toBe(513);
      const tensor = packInput(bgr, size, cpu.manifest.input.colorOrder);
      const ref = await cpu.infer(tensor);
      const t0 = performance.now();
      const out = await gpu.infer(tensor);
      const ms = performance.now() - t0;
      const a = agreement(out.labels.data, ref.labels.data);
      rows.push(`${file.split('/').pop()} ${size.width}x${size.height}: ${(a * 100).toFixed(3)} % in ${ms.toFixed(0)} ms`);
      expect(a, file).toBeGreaterThanOrEqual(0.995);
    }
    console.log(`webgpu vs cpu (${gpu.deviceReason}):\n  ${rows.join('\n  ')}`);
  });

  it('ESPNetv2 agrees too (its graph breaks under the NHWC layout: the engine uses NCHW)', async () => {
    const espCpu = await SegmentationEngine.create({ model: 'espnetv2-s2', device: 'cpu', modelsDir, noWarmup: true });
    const espGpu = await SegmentationEngine.create({ model: 'espnetv2-s2', device: 'webgpu', modelsDir, noWarmup: true });
    try {
      const bgr = toBgr(readImage(frames[2]!));
      const tensor = packInput(bgr, espCpu.inputSizeFor(bgr.cols, bgr.rows), espCpu.manifest.input.colorOrder);
      const ref = await espCpu.infer(tensor);
      const t0 = performance.now();
      const a = agreement((await espGpu.infer(tensor)).labels.data, ref.labels.data);
      console.log(`ESPNetv2 webgpu vs cpu, 1024x512: ${(a * 100).toFixed(3)} % in ${(performance.now() - t0).toFixed(0)} ms`);
      expect(a).toBeGreaterThanOrEqual(0.995);
    } finally {
      await espCpu.dispose();
      await espGpu.dispose();
    }
  });

  it('fp16 weights, made from the fp32 file on first use, agree with the CPU and the signal says fp16', async () => {
    process.env.ROADSEG_CACHE_DIR = tempDir();
    const made: string[] = [];
    const half = await SegmentationEngine.create({ model: 'deeplabv3-mnedgetpu-slim', device: 'webgpu', precision: 'fp16', modelsDir, noWarmup: true, log: (l) => made.push(l) });
    try {
      expect(made.join('\n')).toMatch(/made the fp16 weights of deeplabv3-mnedgetpu-slim/);
      const p = await createPipeline({ source: frames[0]!, sinks: [], modelsDir }, { engine: half });
      const seen: ProcessedFrame[] = [];
      p.results.subscribe((f) => seen.push(f));
      await p.run();
      expect(seen[0]!.signal).toMatchObject({ device: 'webgpu', precision: 'fp16' });
      const bgr = toBgr(readImage(frames[0]!));
      const ref = await cpu.infer(packInput(bgr, cpu.inputSizeFor(bgr.cols, bgr.rows), cpu.manifest.input.colorOrder));
      const a = agreement(seen[0]!.labels.data, ref.labels.data);
      console.log(`webgpu fp16 vs cpu fp32, ${bgr.cols}x${bgr.rows}: ${(a * 100).toFixed(3)} %`);
      expect(a).toBeGreaterThanOrEqual(0.99);
    } finally {
      await half.dispose();
      delete process.env.ROADSEG_CACHE_DIR;
    }
  });

  it('the provider in use reaches every signal message', async () => {
    const p = await createPipeline({ source: frames[0]!, sinks: [], modelsDir }, { engine: gpu });
    const seen: ProcessedFrame[] = [];
    p.results.subscribe((f) => seen.push(f));
    const stats = await p.run();
    expect(stats.framesOut).toBe(1);
    expect(p.context.device).toBe('webgpu');
    expect(seen[0]!.signal.device).toBe('webgpu');
  });
});

describe('webgpu without a Vulkan driver fails clearly (child processes)', () => {
  const image = join(data, 'images/cityscapes/frankfurt_000000_000294_leftImg8bit.png');
  const noDriver = { VK_DRIVER_FILES: '/nonexistent/vulkan_icd.json', VK_ICD_FILENAMES: '/nonexistent/vulkan_icd.json', XDG_RUNTIME_DIR: '' };

  it('explicit webgpu: the device exit code and a RoadsegError naming the cause, not a crash', () => {
    const r = runCli(['segment', '--device', 'webgpu', '-o', tempDir(), image], { env: noDriver, timeoutMs: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(ExitCode.device);
    expect(r.stderr).toMatch(/^error: execution provider unavailable for --device webgpu$/m);
    expect(r.stderr).toMatch(/^ {2}where: webgpu: Dawn found no usable Vulkan adapter .*Vulkan here: no Vulkan driver\)$/m);
    expect(r.stderr).toMatch(/^ {2}hint: {2}WebGPU needs the Vulkan loader/m);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  it('auto in the same environment runs on the CPU and logs why', () => {
    const r = runCli(['segment', '--device', 'auto', '-o', tempDir(), image], { env: noDriver, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/device: cpu \(auto: no hardware GPU found; using cpu\)|device: cpu \(auto: .*; using cpu\)/);
    expect(r.stdout).toMatch(/ms on cpu/);
  });
});
