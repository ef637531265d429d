// Issue 6: bad inputs, faults and interruptions, each through the real CLI, asserting what the user
// sees (message, exit code) and that what was already produced survives.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SegmentationEngine } from '../src/engine/engine.js';
import { getManifest } from '../src/engine/registry.js';
import { createPipeline } from '../src/app/open.js';
import { RoadsegError } from '../src/util/errors.js';
import { cv } from '../src/util/cv.js';
import { expectClean, ffmpeg, runCli, startCli } from './helpers/cli.js';
import { ElemType, buildOnnx, sha256, type ValueSpec } from './helpers/onnx.js';
import { data, modelsDir, tempDir, videos } from './helpers/paths.js';
import { freePort, serveMjpeg, waitFor } from './helpers/servers.js';
import { readBack, readSignal } from './helpers/video.js';

const fast = ['--input-height', '129', '--models-dir', modelsDir, '--no-progress'];
const shortClip = join(videos, 'udacity_vehicledet_test_video.mp4');
const street = join(data, 'images/camvid/0001TP_008550.png');

function runToOutputs(source: string, extra: string[] = []) {
  const out = tempDir();
  const video = join(out, 'o.mp4');
  const signal = join(out, 's.jsonl');
  const r = runCli(['run', source, video, '--signal', signal, '--summary', join(out, 'summary.json'), ...fast, ...extra]);
  return { r, video, signal, out };
}

describe('inputs', () => {
  it('a video whose resolution changes mid-stream: every frame processed at the first size', () => {
    const dir = tempDir();
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-f', 'mpegts', join(dir, 'a.ts'));
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=10:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-f', 'mpegts', join(dir, 'b.ts'));
    writeFileSync(join(dir, 'both.ts'), Buffer.concat([readFileSync(join(dir, 'a.ts')), readFileSync(join(dir, 'b.ts'))]));
    const { r, video, signal } = runToOutputs(join(dir, 'both.ts'));
    expect(r.code).toBe(0);
    expect(readSignal(signal)).toHaveLength(20);
    expect(readBack(video)).toEqual({ frames: 20, width: 320, height: 240 });
  });

  it('a one-frame video', () => {
    const dir = tempDir();
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=10', '-frames:v', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', join(dir, 'one.mp4'));
    const { r, video, signal } = runToOutputs(join(dir, 'one.mp4'));
    expect(r.code).toBe(0);
    expect(readSignal(signal)).toHaveLength(1);
    expect(readBack(video).frames).toBe(1);
  });

  it('tiny 16x16 and 4K frames, as videos and as images', () => {
    const dir = tempDir();
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=16x16:rate=10', '-frames:v', '3', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', join(dir, 'tiny.mp4'));
    ffmpeg('-i', join(videos, 'udacity_vehicledet_test_video.mp4'), '-frames:v', '3', '-vf', 'scale=3840:2160', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', join(dir, 'uhd.mp4'));
    for (const [clip, w, h] of [['tiny.mp4', 16, 16], ['uhd.mp4', 3840, 2160]] as const) {
      const { r, video, signal } = runToOutputs(join(dir, clip));
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      expect(readSignal(signal)).toHaveLength(3);
      expect(readBack(video)).toEqual({ frames: 3, width: w, height: h });
    }
    const images = join(dir, 'images');
    mkdirSync(images);
    const picture = cv.imread(street);
    cv.imwrite(join(images, 'a_tiny.png'), picture.resize(16, 16));
    cv.imwrite(join(images, 'b_uhd.png'), picture.resize(2160, 3840));
    const r = runCli(['segment', images, '--out', join(dir, 'seg'), '--models-dir', modelsDir]);
    expect(r.code).toBe(0);
    expect(cv.imread(join(dir, 'seg', 'b_uhd_labels.png'), cv.IMREAD_UNCHANGED).cols).toBe(3840);
    expect(cv.imread(join(dir, 'seg', 'a_tiny_labels.png'), cv.IMREAD_UNCHANGED).cols).toBe(16);
  });

  it('grayscale images segment and stream', () => {
    const dir = tempDir();
    cv.imwrite(join(dir, 'grey.png'), cv.imread(street).cvtColor(cv.COLOR_BGR2GRAY));
    expect(cv.imread(join(dir, 'grey.png'), cv.IMREAD_UNCHANGED).channels).toBe(1);
    const seg = runCli(['segment', join(dir, 'grey.png'), '--out', join(dir, 'seg'), '--models-dir', modelsDir]);
    expect(seg.code).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, 'seg', 'grey.json'), 'utf8'));
    expect(summary.drivablePct).toBeGreaterThan(10);
    const { r, signal } = runToOutputs(dir);
    expect(r.code).toBe(0);
    expect(readSignal(signal)).toHaveLength(1);
  });

  it('an image folder with a non-image file in it: frames before it are kept, then a clear error naming it', () => {
    const dir = tempDir();
    for (const name of ['a.png', 'b.png']) cv.imwrite(join(dir, name), cv.imread(street));
    writeFileSync(join(dir, 'c.png'), 'not a picture');
    writeFileSync(join(dir, 'notes.txt'), 'ignored: not an image extension');
    const { r, video, signal } = runToOutputs(dir);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not a readable image: .*c\.png/);
    expect(readSignal(signal)).toHaveLength(2);
    expect(readBack(video).frames).toBe(2);
  });

  it('a directory where a file is expected', () => {
    const r = runCli(['run', tempDir(), '--signal', join(tempDir(), 's.jsonl'), ...fast]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no images in folder/);
  });
});

describe('models', () => {
  /** A manifest like the default one for a tiny model the test builds, in a folder of its own. */
  function customModel(onnx: Buffer): string {
    const dir = tempDir();
    writeFileSync(join(dir, 'tiny.onnx'), onnx);
    const { manifestPath: _, ...base } = getManifest('deeplabv3-mnedgetpu-slim');
    writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ ...base, id: 'tiny', default: false, weights: { fp32: { file: 'tiny.onnx', sha256: sha256(onnx) } } }));
    return join(dir, 'tiny.json');
  }
  const image: ValueSpec = { name: 'image', elemType: ElemType.uint8, dims: [1, 'h', 'w', 3] };
  const labels: ValueSpec = { name: 'labels', elemType: ElemType.uint8, dims: [1, 'h', 'w', 3] };
  const logits: ValueSpec = { name: 'logits', elemType: ElemType.float, dims: [1, 'h', 'w', 3] };
  const cases: [string, Buffer, RegExp][] = [
    ['the wrong input name', buildOnnx({ inputs: [{ ...image, name: 'input' }], outputs: [labels, logits], nodes: [{ op: 'Identity', inputs: ['input'], outputs: ['labels'] }, { op: 'Cast', inputs: ['input'], outputs: ['logits'], ints: { to: 1 } }] }), /no input "image"/],
    ['the wrong input shape', buildOnnx({ inputs: [{ ...image, dims: [1, 3, 'h', 'w'] }], outputs: [labels, logits], nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['labels'] }, { op: 'Cast', inputs: ['image'], outputs: ['logits'], ints: { to: 1 } }] }), /input "image" has shape \[1,3,h,w\], expected \[N,H,W,3\]/],
    ['the wrong outputs', buildOnnx({ inputs: [image], outputs: [{ ...labels, name: 'mask' }], nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['mask'] }] }), /no output "labels".*no output "logits"/],
    ['a corrupt ONNX file', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 256)), /not a valid ONNX model/],
  ];
  for (const [name, onnx, message] of cases) {
    it(`a model with ${name} is refused clearly`, () => {
      const r = runCli(['run', shortClip, '--model', customModel(onnx), '--device', 'cpu', '--signal', join(tempDir(), 's.jsonl'), '--no-progress']);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/where: .*tiny\.onnx/);
    });
  }
});

describe('live faults', () => {
  const servers: ChildProcess[] = [];
  afterAll(() => servers.forEach((s) => s.kill('SIGKILL')));

  const serveStream = async (port: number) => {
    const server = await serveMjpeg(port, join(videos, 'derived_camvid_0016E5_15fps_from_labelled_frames.mp4'));
    servers.push(server);
    return server;
  };

  it('a network stream that stops mid-run and comes back: offline, retried with backoff, resumed; the signal marks the gap stale', async () => {
    const port = await freePort();
    const out = tempDir();
    const signal = join(out, 's.jsonl');
    let server = await serveStream(port);
    const run = startCli(['run', `http://127.0.0.1:${port}/cam.mjpg`, '--signal', signal, ...fast]);
    const lines = () => (existsSync(signal) ? readSignal(signal) : []);
    await waitFor(() => lines().filter((l) => l.status === 'ok').length >= 10, 60_000);
    server.kill('SIGKILL');
    await waitFor(() => run.err().includes('source offline'), 60_000);
    await waitFor(() => lines().filter((l) => l.status === 'stale').length >= 10, 60_000);
    server = await serveStream(port);
    await waitFor(() => run.err().includes('source back online'), 30_000);
    const okBefore = lines().filter((l) => l.status === 'ok').length;
    await waitFor(() => lines().filter((l) => l.status === 'ok').length >= okBefore + 10, 30_000);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    const all = readSignal(signal);
    const pattern = all.map((l) => (l.status === 'ok' ? 'o' : 's')).join('').replace(/(.)\1+/g, '$1');
    expect(pattern).toMatch(/^o(s+o)+$/);
    for (const l of all.filter((x) => x.status === 'stale')) expect(l).toMatchObject({ drivablePct: null, egoCorridorPct: null, roadEdges: [] });
    expect(all.every((l, i) => i === 0 || l.frame > all[i - 1]!.frame)).toBe(true);
    expect(r.stderr).toMatch(/retrying with backoff/);
  });
});

describe('outputs', () => {
  it('an output folder that cannot be created is a clear error before the model loads', () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    for (const args of [['--out', join(file, 'o.mp4')], ['--signal', join(file, 's.jsonl')]]) {
      const r = runCli(['run', shortClip, ...args, ...fast]);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/cannot write to the output folder/);
      expect(r.stderr).not.toMatch(/device:/);
    }
  });

  it('a missing output folder is created', () => {
    const out = join(tempDir(), 'new', 'deeper');
    const r = runCli(['run', shortClip, '--out', join(out, 'o.mp4'), '--stride', '10', ...fast]);
    expect(r.code).toBe(0);
    expect(readBack(join(out, 'o.mp4')).frames).toBe(4);
  });

  it('a full disk: a clear error, a clean stop, the partial video finalised and playable', () => {
    const mnt = tempDir('roadseg-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    try {
      const r = runCli(['run', join(videos, 'udacity_vehicledet_pr2_test_small2.mp4'), '--loop', '--out', join(mnt, 'o.mp4'), '--signal', join(mnt, 's.jsonl'), ...fast]);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/stopping before frame \d+: the disk is full/);
      // How many frames fit depends on the encoder's speed: whatever their number, the stop is
      // clean and the video holds exactly the frames the signal has lines for.
      expectClean(r);
      const lines = existsSync(join(mnt, 's.jsonl')) ? readSignal(join(mnt, 's.jsonl')) : [];
      expect(existsSync(join(mnt, 'o.mp4')) ? readBack(join(mnt, 'o.mp4')).frames : 0).toBe(lines.length);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('a file-size limit (ulimit -f): the same clean stop', () => {
    const out = tempDir();
    const r = runCli(['run', join(videos, 'udacity_vehicledet_pr2_test_small2.mp4'), '--loop', '--out', join(out, 'o.mp4'), '--signal', join(out, 's.jsonl'), ...fast], { wrap: ['bash', '-c', 'ulimit -f 6000; exec "$@"', 'limited'] });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/file-size limit/);
    expect(readBack(join(out, 'o.mp4')).frames).toBe(readSignal(join(out, 's.jsonl')).length);
  });
});

describe('crashes', () => {
  it('an exception inside a stage stops the pipeline naming the stage and frame; outputs are finalised', async () => {
    const engine = await SegmentationEngine.create({ modelsDir, inputHeight: 129, device: 'cpu' });
    const failing = Object.create(engine) as SegmentationEngine;
    let calls = 0;
    failing.infer = (t) => (++calls === 6 ? Promise.reject(new Error('simulated fault')) : engine.infer(t));
    const out = tempDir();
    const p = await createPipeline({ source: shortClip, sinks: [join(out, 'o.mp4'), `signal:${join(out, 's.jsonl')}`], modelsDir }, { engine: failing });
    const err = (await p.run().catch((e: unknown) => e)) as RoadsegError;
    await engine.dispose();
    expect(err).toBeInstanceOf(RoadsegError);
    expect(err.message).toMatch(/stage "infer" failed on frame 5 of udacity_vehicledet_test_video\.mp4: simulated fault/);
    const lines = readSignal(join(out, 's.jsonl'));
    expect(lines.map((l) => l.frame)).toEqual([0, 1, 2, 3, 4]);
    expect(readBack(join(out, 'o.mp4')).frames).toBe(5);
  });
});
