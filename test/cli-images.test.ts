// `roadseg segment`, `eval` and `models` through the real CLI, models and data.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getManifest } from '../src/engine/registry.js';
import { cv } from '../src/util/cv.js';
import { runCli } from './helpers/cli.js';
import { readIndexedPng } from './helpers/png.js';
import { sha256, wrongContractModel } from './helpers/onnx.js';
import { data, modelsDir, tempDir } from './helpers/paths.js';

function evalJson(args: string[]) {
  const r = runCli(['eval', '--json', '--models-dir', modelsDir, ...args]);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { pixelAccuracy: number; meanIou: number; classes: { name: string; iou: number }[] };
}

describe('roadseg eval (accuracy of the default model)', () => {
  it('CamVid 20 pairs: pixel accuracy >= 0.87, road IoU >= 0.90', () => {
    const r = evalJson(['--images', join(data, 'images/camvid'), '--labels', join(data, 'labels/camvid')]);
    expect(r.pixelAccuracy).toBeGreaterThanOrEqual(0.87);
    expect(r.classes.find((c) => c.name === 'road')!.iou).toBeGreaterThanOrEqual(0.9);
  });

  it('coral reference mask: >= 0.90 pixel agreement', () => {
    const dir = join(data, 'reference/coral');
    const r = evalJson(['--images', dir, '--labels', dir, '--image-suffix', '.png', '--label-suffix', '_reference_trainIds.png', '--model', 'deeplabv3-mnedgetpu-slim']);
    expect(r.pixelAccuracy).toBeGreaterThanOrEqual(0.9);
  });

  it('prints a table by default', () => {
    const r = runCli(['eval', '--models-dir', modelsDir, '--images', join(data, 'images/cityscapes'), '--labels', join(data, 'labels/cityscapes'), '--image-suffix', '_leftImg8bit.png', '--label-suffix', '_gtFine_labelTrainIds.png']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^1 pair, model efficientvit-b0 \(fp32\) on cpu/m);
    expect(r.stdout).toMatch(/^road\s+\d+\s+0\.9\d+/m);
  });

  it('no matching pairs is a clear error', () => {
    const r = runCli(['eval', '--images', join(data, 'images/camvid'), '--labels', join(data, 'labels/camvid'), '--label-suffix', '_nope.png']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no image\/label pairs/);
    expect(r.stderr).toMatch(/hint:.*--label-suffix/);
  });
});

describe('roadseg segment', () => {
  it('the full-resolution Cityscapes frame: overlay, label PNG and summary, road at the bottom', () => {
    const out = tempDir();
    const r = runCli(['segment', join(data, 'images/cityscapes_fullres/cityscapes_example_2048x1024.png'), '--out', out, '--models-dir', modelsDir]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const stem = join(out, 'cityscapes_example_2048x1024');
    const overlay = cv.imread(`${stem}_overlay.png`);
    expect([overlay.cols, overlay.rows]).toEqual([2048, 1024]);
    // An indexed PNG: the indices are the trainIds, the palette the class colours.
    const labels = readIndexedPng(`${stem}_labels.png`);
    expect([labels.width, labels.height]).toEqual([2048, 1024]);
    expect(labels.ids[1000 * 2048 + 1024]).toBe(0); // road at the bottom centre
    expect(labels.ids[10 * 2048 + 1024]).not.toBe(0);
    expect(labels.palette.subarray(0, 3)).toEqual(Uint8Array.from(getManifest('deeplabv3-mnedgetpu-slim').heads.classes!.palette[0]!));
    // An image viewer (here OpenCV) sees the colours.
    const coloured = cv.imread(`${stem}_labels.png`, cv.IMREAD_COLOR);
    expect(coloured.atRaw(1000, 1024)).toEqual([128, 64, 128]);
    const summary = JSON.parse(readFileSync(`${stem}.json`, 'utf8'));
    expect(summary).toMatchObject({ model: 'efficientvit-b0', device: 'cpu', precision: 'fp32', drivableSource: 'efficientvit-b0', width: 2048, height: 1024, inputSize: { width: 1024, height: 512 } });
    expect(summary.drivablePct).toBeGreaterThan(15);
    expect(summary.drivablePct).toBeLessThan(60);
    expect(summary.egoCorridorPct).toBeGreaterThan(summary.drivablePct);
    expect(summary.histogram.road).toBeCloseTo(summary.drivablePct / 100, 3);
    expect(summary.roadEdges).toHaveLength(4);
    expect(summary.timings.inferMs).toBeGreaterThan(0);
  });

  it('segments a folder with the alternative model', () => {
    const out = tempDir();
    const r = runCli(['segment', join(data, 'images/nthu_crosscity'), '--model', 'espnetv2-s2', '--out', out, '--models-dir', modelsDir]);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'taipei_pano_00506_0_0.json'), 'utf8')).model).toBe('espnetv2-s2');
  });

  it('a missing image is a clear error', () => {
    const r = runCli(['segment', '/nonexistent/street.png', '--out', tempDir()]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/error: image not found: \/nonexistent\/street\.png/);
    expect(r.stderr).not.toMatch(/    at /);
  });

  it('a file that is not an image is a clear error', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.png'), 'this is text, not a PNG');
    const r = runCli(['segment', join(dir, 'notes.png'), '--out', dir, '--models-dir', modelsDir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not a readable image: .*notes\.png/);
    expect(r.stderr).toMatch(/hint:\s+give a PNG, JPEG/);
  });

  it('missing weights are a clear error', () => {
    const r = runCli(['segment', join(data, 'images/cityscapes'), '--out', tempDir(), '--models-dir', tempDir()]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/weights for model "efficientvit-b0" not found/);
  });

  it('a checksum mismatch is a clear error', () => {
    const dir = tempDir();
    for (const f of Object.values(getManifest().weights)) writeFileSync(join(dir, f.file), Buffer.alloc(1000));
    const r = runCli(['segment', join(data, 'images/cityscapes'), '--out', tempDir(), '--models-dir', dir]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/checksum mismatch/);
    expect(r.stderr).toMatch(/hint:\s+the file is damaged/);
  });

  it('a model with the wrong contract is a clear error', () => {
    const dir = tempDir();
    const onnx = wrongContractModel();
    writeFileSync(join(dir, 'tiny.onnx'), onnx);
    const { manifestPath: _, ...base } = getManifest();
    writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ ...base, id: 'tiny', default: false, weights: { fp32: { file: 'tiny.onnx', sha256: sha256(onnx) } } }));
    const r = runCli(['segment', join(data, 'images/cityscapes'), '--out', tempDir(), '--model', join(dir, 'tiny.json'), '--device', 'cpu']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/model graph does not match manifest "tiny"/);
  });

  it('explicit --device cuda without the provider fails clearly', () => {
    const r = runCli(['segment', join(data, 'images/cityscapes'), '--out', tempDir(), '--device', 'cuda']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/npm run install:cuda/);
  });
});

describe('roadseg models', () => {
  it('lists the four models as verified, each weight file by precision', () => {
    const r = runCli(['models', '--json', '--models-dir', modelsDir], { env: { ROADSEG_CACHE_DIR: tempDir() } });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.models.map((m: { id: string; status: string }) => `${m.id}:${m.status}`)).toEqual(
      expect.arrayContaining(['deeplabv3-mnedgetpu-slim:verified', 'efficientvit-b0:verified', 'espnetv2-s2:verified', 'twinlitenet:verified']),
    );
    expect(j.models).toHaveLength(4);
    const deeplab = j.models.find((m: { id: string }) => m.id === 'deeplabv3-mnedgetpu-slim');
    expect(deeplab.weights.map((w: { precision: string; file: string; status: string }) => `${w.precision}:${w.file}:${w.status}`)).toEqual([
      'fp32:deeplabv3_mnedgetpu_slim_cityscapes_dynbatch.onnx:verified',
      'int8:deeplabv3_mnedgetpu_slim_cityscapes_int8.onnx:verified',
      // Made from fp32 on first use of --precision fp16; its absence leaves the model verified.
      'fp16:deeplabv3_mnedgetpu_slim_cityscapes_dynbatch_fp16.onnx:not-made',
    ]);
    expect(existsSync(deeplab.weights[1].path)).toBe(true);
    expect(j.models.find((m: { id: string }) => m.id === 'twinlitenet').heads).toEqual(['drivable', 'lanes']);
    expect(runCli(['models', '--help']).stdout).toMatch(/Usage: roadseg models/);
  });
});
