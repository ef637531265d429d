// The inference engine and model registry, through the real models.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planProviders } from '../src/engine/devices.js';
import { SegmentationEngine } from '../src/engine/engine.js';
import { choosePrecision, getManifest, listManifests, resolveVerifiedWeights } from '../src/engine/registry.js';
import { Segmenter } from '../src/pipeline/segmenter.js';
import { readImage } from '../src/sources/images.js';
import { RoadsegError } from '../src/util/errors.js';
import { sha256, wrongContractModel } from './helpers/onnx.js';
import { data, modelsDir, tempDir } from './helpers/paths.js';

const noGpu = { cudaProvider: false, nvidiaGpu: false, hardwareGpu: false };

describe('device policy', () => {
  it('auto takes the CPU without a hardware GPU, even where a software Vulkan driver exists', () => {
    expect(planProviders('auto', noGpu).tries).toEqual(['cpu']);
  });
  it('auto prefers CUDA, then WebGPU, on an NVIDIA GPU with the CUDA provider', () => {
    expect(planProviders('auto', { cudaProvider: true, nvidiaGpu: true, hardwareGpu: true }).tries).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(planProviders('auto', { cudaProvider: false, nvidiaGpu: true, hardwareGpu: true }).tries).toEqual(['webgpu', 'cpu']);
  });
  it('an explicit device is tried alone', () => {
    for (const d of ['cpu', 'webgpu', 'cuda'] as const) expect(planProviders(d, noGpu)).toMatchObject({ tries: [d], explicit: true });
  });
  it('explicit cuda without its binaries fails clearly, naming what is missing', async () => {
    const err = await SegmentationEngine.create({ device: 'cuda', probe: noGpu, modelsDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RoadsegError);
    expect((err as RoadsegError).where).toMatch(/libonnxruntime_providers_cuda\.so/);
    expect((err as RoadsegError).hint).toMatch(/npm run install:cuda/);
  });
});

describe('registry', () => {
  it('registers the four models, the default first', () => {
    const all = listManifests();
    expect(all.map((m) => m.id).sort()).toEqual(['deeplabv3-mnedgetpu-slim', 'efficientvit-b0', 'espnetv2-s2', 'twinlitenet']);
    expect(all[0]!.default).toBe(true);
    expect(getManifest().id).toBe(all[0]!.id);
    expect(() => getManifest('nope')).toThrow(/unknown model "nope"/);
  });

  it('precision auto: int8 on the CPU where a model has it, fp32 elsewhere', () => {
    const deeplab = getManifest('deeplabv3-mnedgetpu-slim');
    expect(choosePrecision(deeplab, 'auto', 'cpu')).toBe('int8');
    expect(choosePrecision(deeplab, 'auto', 'webgpu')).toBe('fp32');
    expect(choosePrecision(deeplab, 'auto', 'cuda')).toBe('fp32');
    expect(choosePrecision(getManifest('efficientvit-b0'), 'auto', 'cpu')).toBe('fp32');
    expect(choosePrecision(deeplab, 'fp32', 'cpu')).toBe('fp32');
  });

  it('a precision the model lacks, or int8 on WebGPU, is a usage error', async () => {
    const lacks = (await SegmentationEngine.create({ model: 'efficientvit-b0', precision: 'int8', modelsDir }).catch((e: unknown) => e)) as RoadsegError;
    expect(lacks.exitCode).toBe(2);
    expect(lacks.message).toMatch(/"efficientvit-b0" has no int8 weights/);
    const gpu = (await SegmentationEngine.create({ model: 'deeplabv3-mnedgetpu-slim', precision: 'int8', device: 'webgpu', modelsDir }).catch((e: unknown) => e)) as RoadsegError;
    expect(gpu.exitCode).toBe(2);
    expect(gpu.message).toMatch(/int8 weights .* do not run on webgpu/);
  });

  it('fp16 weights are made from the verified fp32 file on first use, pinned by sha256, and run on WebGPU only', async () => {
    process.env.ROADSEG_CACHE_DIR = tempDir();
    try {
      const deeplab = getManifest('deeplabv3-mnedgetpu-slim');
      const lines: string[] = [];
      const path = await resolveVerifiedWeights(deeplab, 'fp16', modelsDir, (l) => lines.push(l));
      expect(path).toBe(join(process.env.ROADSEG_CACHE_DIR, 'models', deeplab.weights.fp16!.file));
      expect(lines.join('\n')).toMatch(/made the fp16 weights of deeplabv3-mnedgetpu-slim from .*_dynbatch\.onnx/);
      lines.length = 0;
      expect(await resolveVerifiedWeights(deeplab, 'fp16', modelsDir, (l) => lines.push(l))).toBe(path);
      expect(lines).toEqual([]);
      writeFileSync(path, 'damaged');
      const damaged = (await resolveVerifiedWeights(deeplab, 'fp16', modelsDir).catch((e: unknown) => e)) as RoadsegError;
      expect(damaged.message).toMatch(/checksum mismatch .*\(fp16\)/);
      expect(damaged.hint).toMatch(/delete it and roadseg makes it again/);
      const cpu = (await SegmentationEngine.create({ model: deeplab.id, precision: 'fp16', device: 'cpu', modelsDir }).catch((e: unknown) => e)) as RoadsegError;
      expect(cpu.exitCode).toBe(2);
      expect(cpu.message).toMatch(/fp16 weights of model "deeplabv3-mnedgetpu-slim" do not run on cpu/);
      expect(cpu.hint).toMatch(/--device webgpu/);
      // A cache folder that cannot be made (its parent is a file): nothing half-written, a clear error.
      const file = join(tempDir(), 'a-file');
      writeFileSync(file, '');
      process.env.ROADSEG_CACHE_DIR = join(file, 'cache');
      const unwritable = (await resolveVerifiedWeights(deeplab, 'fp16', modelsDir).catch((e: unknown) => e)) as RoadsegError;
      expect(unwritable.exitCode).toBe(4);
      expect(unwritable.message).toMatch(/cannot write the fp16 weights of model "deeplabv3-mnedgetpu-slim"/);
      expect(unwritable.hint).toMatch(/ROADSEG_CACHE_DIR/);
    } finally {
      delete process.env.ROADSEG_CACHE_DIR;
    }
  });

  it('missing weights name the file and the folders searched', async () => {
    const err = (await SegmentationEngine.create({ precision: 'fp32', modelsDir: tempDir() }).catch((e: unknown) => e)) as RoadsegError;
    expect(err.message).toMatch(new RegExp(getManifest().weights.fp32.file.replace(/\./g, '\\.')));
    expect(err.hint).toMatch(/--models-dir/);
  });

  it('a checksum mismatch names the file', async () => {
    const dir = tempDir();
    const file = getManifest().weights.fp32.file;
    writeFileSync(join(dir, file), 'not the model');
    const err = (await SegmentationEngine.create({ precision: 'fp32', modelsDir: dir }).catch((e: unknown) => e)) as RoadsegError;
    expect(err.message).toMatch(/checksum mismatch/);
    expect(err.where).toBe(join(dir, file));
  });

  it('a graph that does not match its manifest is refused with what differs', async () => {
    const dir = tempDir();
    const onnx = wrongContractModel();
    writeFileSync(join(dir, 'tiny.onnx'), onnx);
    const { manifestPath: _, ...base } = getManifest('deeplabv3-mnedgetpu-slim');
    writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ ...base, id: 'tiny', default: false, weights: { fp32: { file: 'tiny.onnx', sha256: sha256(onnx) } } }));
    const err = (await SegmentationEngine.create({ model: join(dir, 'tiny.json'), device: 'cpu' }).catch((e: unknown) => e)) as RoadsegError;
    expect(err).toBeInstanceOf(RoadsegError);
    expect(err.exitCode).toBe(4);
    expect(err.message).toMatch(/does not match manifest/);
    expect(err.message).toMatch(/no input "image"/);
    expect(err.message).toMatch(/classes head: no output "labels"/);
  });
});

describe('every model segments a street image', () => {
  const engines: SegmentationEngine[] = [];
  beforeAll(async () => {
    for (const m of listManifests()) engines.push(await SegmentationEngine.create({ model: m.id, device: 'cpu', modelsDir }));
  });
  afterAll(async () => Promise.all(engines.map((e) => e.dispose())));

  it('labels at their input sizes, with road (or the drivable area) at the bottom', async () => {
    const image = readImage(join(data, 'images/cityscapes_fullres/cityscapes_example_2048x1024.png'));
    const sizes: Record<string, number[]> = {};
    for (const engine of engines) {
      expect(engine.provider).toBe('cpu');
      const r = await new Segmenter(engine).segment(image.copy());
      const labels = r.heads.labels;
      const [h, w] = labels.shape as [number, number];
      sizes[engine.manifest.id] = [w, h];
      expect(r.overlay.cols).toBe(2048);
      if (engine.manifest.heads.drivable) {
        // Its drivable area stops short of the ego car's bonnet: the road ahead, at 3/4 of the height.
        const ahead = Math.round(h * 0.75) * w + (w >> 1);
        expect(labels.data[ahead]).toBe(0);
        expect(r.heads.drivable!.mask.data[ahead]).toBe(1);
        expect(r.summary.lanes).toHaveLength(4);
      } else {
        expect(labels.data[(h - 5) * w + (w >> 1)], engine.manifest.id).toBe(0);
        expect(Math.max(...new Set(labels.data))).toBeLessThanOrEqual(18);
        expect(r.summary.lanes).toBeUndefined();
      }
    }
    expect(sizes).toEqual({
      'deeplabv3-mnedgetpu-slim': [1025, 513],
      'efficientvit-b0': [1024, 512],
      'espnetv2-s2': [1024, 512],
      twinlitenet: [640, 360],
    });
  });
});
