// The inference engine and model registry, through the real models.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planProviders } from '../src/engine/devices.js';
import { SegmentationEngine } from '../src/engine/engine.js';
import { getManifest, listManifests } from '../src/engine/registry.js';
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
  it('registers both models, DeepLabV3 first as the default', () => {
    const all = listManifests();
    expect(all.map((m) => m.id)).toEqual(['deeplabv3-mnedgetpu-slim', 'espnetv2-s2']);
    expect(getManifest().id).toBe('deeplabv3-mnedgetpu-slim');
    expect(() => getManifest('nope')).toThrow(/unknown model "nope"/);
  });

  it('missing weights name the file and the folders searched', async () => {
    const err = (await SegmentationEngine.create({ modelsDir: tempDir() }).catch((e: unknown) => e)) as RoadsegError;
    expect(err.message).toMatch(/deeplabv3_mnedgetpu_slim_cityscapes\.onnx/);
    expect(err.hint).toMatch(/--models-dir/);
  });

  it('a checksum mismatch names the file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'deeplabv3_mnedgetpu_slim_cityscapes_dynbatch.onnx'), 'not the model');
    const err = (await SegmentationEngine.create({ modelsDir: dir }).catch((e: unknown) => e)) as RoadsegError;
    expect(err.message).toMatch(/checksum mismatch/);
    expect(err.where).toBe(join(dir, 'deeplabv3_mnedgetpu_slim_cityscapes_dynbatch.onnx'));
  });

  it('a graph that does not match its manifest is refused with what differs', async () => {
    const dir = tempDir();
    const onnx = wrongContractModel();
    writeFileSync(join(dir, 'tiny.onnx'), onnx);
    const manifest = { ...getManifest(), id: 'tiny', default: false, weights: 'tiny.onnx', sha256: sha256(onnx) } as Record<string, unknown>;
    delete manifest.manifestPath;
    writeFileSync(join(dir, 'tiny.json'), JSON.stringify(manifest));
    const err = (await SegmentationEngine.create({ model: join(dir, 'tiny.json'), device: 'cpu' }).catch((e: unknown) => e)) as RoadsegError;
    expect(err).toBeInstanceOf(RoadsegError);
    expect(err.message).toMatch(/does not match manifest/);
    expect(err.message).toMatch(/no input "image"/);
    expect(err.message).toMatch(/no output "labels"/);
  });
});

describe('both models segment a street image', () => {
  const engines: SegmentationEngine[] = [];
  beforeAll(async () => {
    for (const m of listManifests()) engines.push(await SegmentationEngine.create({ model: m.id, device: 'cpu', modelsDir }));
  });
  afterAll(async () => Promise.all(engines.map((e) => e.dispose())));

  it('produce labels at their input sizes, with road at the bottom', async () => {
    const image = readImage(join(data, 'images/cityscapes_fullres/cityscapes_example_2048x1024.png'));
    const sizes: number[][] = [];
    for (const engine of engines) {
      expect(engine.provider).toBe('cpu');
      const r = await new Segmenter(engine).segment(image);
      sizes.push([r.labels.shape[1]!, r.labels.shape[0]!]);
      const { data: l } = r.labels;
      const [h, w] = r.labels.shape as [number, number];
      const bottomCentre = l[(h - 5) * w + (w >> 1)];
      expect(bottomCentre).toBe(0);
      expect(Math.max(...new Set(l))).toBeLessThanOrEqual(18);
      expect([r.overlay.cols, r.overlay.rows]).toEqual([2048, 1024]);
    }
    expect(sizes).toEqual([[1025, 513], [1024, 512]]);
  });
});
