// The registered models through the real weights and data: accuracy as MODELS.md measured it, every
// model on a real clip, a drivable model beside the scene model, test-time augmentation, and the
// manifest errors.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluate, pairByStem, type EvaluationReport } from '../src/eval/evaluate.js';
import { SegmentationEngine, type EngineOptions } from '../src/engine/engine.js';
import { getManifest, listManifests } from '../src/engine/registry.js';
import { RoadsegError } from '../src/util/errors.js';
import { runCli } from './helpers/cli.js';
import { sha256, wrongHeadsModel } from './helpers/onnx.js';
import { data, modelsDir, tempDir, videos } from './helpers/paths.js';
import { readBack, readSignal } from './helpers/video.js';

const camvid = pairByStem(join(data, 'images/camvid'), join(data, 'labels/camvid'), '.png', '_trainIds.png');
const engines: SegmentationEngine[] = [];
afterAll(async () => Promise.all(engines.map((e) => e.dispose())));

async function evalCamvid(opts: EngineOptions): Promise<EvaluationReport> {
  const engine = await SegmentationEngine.create({ device: 'cpu', modelsDir, ...opts });
  engines.push(engine);
  return evaluate(engine, camvid);
}

const road = (r: EvaluationReport) => r.classes!.classes.find((c) => c.name === 'road')!.iou;

describe('eval reproduces MODELS.md on the 20 CamVid pairs (within 0.005)', () => {
  // [title, engine options, pixel accuracy, mean IoU, road IoU]
  const classModels: [string, EngineOptions, number, number, number][] = [
    ['DeepLabV3 fp32 (H=513): 0.8819 / 0.5954 / road 0.924', { model: 'deeplabv3-mnedgetpu-slim', precision: 'fp32' }, 0.8819, 0.5954, 0.924],
    ['DeepLabV3 int8 (H=513): 0.8817 / 0.5964 / road 0.922', { model: 'deeplabv3-mnedgetpu-slim', precision: 'int8' }, 0.8817, 0.5964, 0.922],
    ['EfficientViT-B0 (512x672): 0.890 / 0.620 / road 0.951', { model: 'efficientvit-b0' }, 0.89, 0.62, 0.951],
  ];
  it.each(classModels)('%s', async (_, opts, pixelAccuracy, meanIou, roadIou) => {
    const r = await evalCamvid(opts);
    if (opts.precision) expect(r.precision).toBe(opts.precision);
    expect(Math.abs(r.classes!.pixelAccuracy - pixelAccuracy)).toBeLessThan(0.005);
    expect(Math.abs(r.classes!.meanIou - meanIou)).toBeLessThan(0.005);
    expect(Math.abs(road(r) - roadIou)).toBeLessThan(0.005);
  });

  it('TwinLiteNet drivable head against road (360x640): IoU 0.823, precision 0.998, recall 0.824', async () => {
    const r = await evalCamvid({ model: 'twinlitenet' });
    expect(r.classes).toBeUndefined();
    expect(r.drivableSource).toBe('twinlitenet');
    expect(Math.abs(r.drivable.iou - 0.823)).toBeLessThan(0.005);
    expect(Math.abs(r.drivable.precision - 0.998)).toBeLessThan(0.005);
    expect(Math.abs(r.drivable.recall - 0.824)).toBeLessThan(0.005);
  });
});

describe('test-time augmentation', () => {
  it('scores of three scales and their mirrors, averaged: labels at the plain size, accuracy kept', async () => {
    const pairs = camvid.slice(0, 4);
    const plain = await SegmentationEngine.create({ model: 'efficientvit-b0', device: 'cpu', modelsDir, inputHeight: 256 });
    const tta = await SegmentationEngine.create({ model: 'efficientvit-b0', device: 'cpu', modelsDir, inputHeight: 256, tta: [0.75, 1, 1.25] });
    engines.push(plain, tta);
    const [a, b] = [await evaluate(plain, pairs), await evaluate(tta, pairs)];
    expect(b.classes!.pixelAccuracy).toBeGreaterThan(a.classes!.pixelAccuracy - 0.01);
    expect(b.classes!.pixelAccuracy).not.toBe(a.classes!.pixelAccuracy);
  });
});

describe('every registered model on a real clip, end to end', () => {
  const clip = join(videos, 'udacity_vehicledet_test_video.mp4');
  for (const m of listManifests()) {
    it(m.id, () => {
      const out = tempDir();
      const r = runCli(['run', clip, '--model', m.id, '--duration', '0.12', '--out', join(out, 'o.mp4'), '--signal', join(out, 's.jsonl'), '--no-progress', '--models-dir', modelsDir]);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      const lines = readSignal(join(out, 's.jsonl'));
      expect(lines).toHaveLength(3);
      expect(readBack(join(out, 'o.mp4')).frames).toBe(3);
      for (const l of lines) {
        expect(l).toMatchObject({ model: m.id, drivableSource: m.id, precision: m.weights.int8 ? 'int8' : 'fp32' });
        expect(l.egoCorridorPct).toBeGreaterThan(0);
        expect('lanes' in l).toBe(!!m.heads.lanes);
      }
      expect(r.stderr).toMatch(new RegExp(`model: scene ${m.id}, ${m.weights.int8 ? 'int8' : 'fp32'}`));
    });
  }
});

describe('--drivable-model twinlitenet beside the scene model', () => {
  it('a real highway clip: every signal line has lanes and drivableSource, the overlay has every frame', () => {
    const out = tempDir();
    const clip = join(videos, 'udacity_vehicledet_pr2_test_small2.mp4');
    const r = runCli(['run', clip, '--drivable-model', 'twinlitenet', '--duration', '0.6', '--out', join(out, 'o.mp4'), '--signal', join(out, 's.jsonl'), '--no-progress', '--models-dir', modelsDir]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/model: drivable area twinlitenet, fp32/);
    const lines = readSignal(join(out, 's.jsonl'));
    expect(lines).toHaveLength(15);
    expect(readBack(join(out, 'o.mp4')).frames).toBe(15);
    for (const l of lines) {
      expect(l.drivableSource).toBe('twinlitenet');
      expect(l.model).toBe(getManifest().id);
      expect(l.lanes!.map((s) => s.y)).toEqual(l.roadEdges.map((s) => s.y));
    }
    // A clear highway lane: lines found left and right of the centre low in the frame on most frames.
    const both = lines.filter((l) => l.lanes!.at(-1)!.left !== null && l.lanes!.at(-1)!.right !== null);
    expect(both.length).toBeGreaterThan(lines.length / 2);
    for (const l of both) expect(l.lanes!.at(-1)!.left!).toBeLessThan(l.lanes!.at(-1)!.right!);
  });

  it('a model without a drivable head is a usage error (exit 2)', () => {
    const r = runCli(['run', join(videos, 'udacity_vehicledet_test_video.mp4'), '--drivable-model', 'efficientvit-b0', '--no-progress']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--drivable-model "efficientvit-b0" has no drivable head/);
    expect(r.stderr).toMatch(/twinlitenet/);
  });
});

describe('manifest errors', () => {
  it('heads that do not match the graph: each difference named, exit 4', () => {
    const dir = tempDir();
    const onnx = wrongHeadsModel();
    writeFileSync(join(dir, 'heads.onnx'), onnx);
    const { manifestPath: _, ...deeplab } = getManifest('deeplabv3-mnedgetpu-slim');
    const twin = getManifest('twinlitenet');
    const manifest = { ...deeplab, id: 'wrong-heads', default: false, weights: { fp32: { file: 'heads.onnx', sha256: sha256(onnx) } }, heads: { ...deeplab.heads, ...twin.heads } };
    writeFileSync(join(dir, 'heads.json'), JSON.stringify(manifest));
    const r = runCli(['segment', join(data, 'images/cityscapes'), '--out', tempDir(), '--model', join(dir, 'heads.json'), '--device', 'cpu']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/model graph does not match manifest "wrong-heads"/);
    expect(r.stderr).toMatch(/classes head: output "logits" has 5 channels, expected 19/);
    expect(r.stderr).toMatch(/drivable head: output "da_logits" has 3 channels, expected 2 \(a binary head/);
    expect(r.stderr).toMatch(/lanes head: no output "lanes"/);
    expect(r.stderr).toMatch(/lanes head: no output "ll_logits"/);
  });

  it('a manifest without heads is refused (exit 4)', () => {
    const dir = tempDir();
    const { manifestPath: _, ...deeplab } = getManifest('deeplabv3-mnedgetpu-slim');
    writeFileSync(join(dir, 'none.json'), JSON.stringify({ ...deeplab, heads: {} }));
    const err = (() => {
      try {
        return getManifest(join(dir, 'none.json'));
      } catch (e) {
        return e as RoadsegError;
      }
    })() as RoadsegError;
    expect(err).toBeInstanceOf(RoadsegError);
    expect(err.exitCode).toBe(4);
    expect(err.message).toMatch(/a model needs at least one head/);
  });
});
