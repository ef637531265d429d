// Issue 20, inputs that crash or lie: long command lines, signal files for `report`, manifests
// whose contract the weights break, label images for `eval`, and sources whose `{source}` names
// collide in a topic or stream. Each through the real CLI: the message (what / where / hint), the
// exit status, and what was written.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelManifest } from '../src/core/model.js';
import { getManifest } from '../src/engine/registry.js';
import { expectClean, expectWhereHint, ffmpeg, runCli, testClip } from './helpers/cli.js';
import { data, modelsDir, tempDir } from './helpers/paths.js';
import { png } from './helpers/png.js';
import { decodeLabelPng } from '../src/stages/indexed-png.js';

const fast = ['--input-height', '65', '--models-dir', modelsDir, '--no-progress'];
let clip: string;

beforeAll(() => {
  clip = join(tempDir(), 'clip.mp4');
  testClip(clip, 1);
});

describe('long command lines', () => {
  it('a 32 KB command line runs (onnxruntime reads it on a stack sized to it); a 16 KB argument is a usage error', () => {
    const long = 'a'.repeat(8000);
    const signal = join(tempDir(), 's.jsonl');
    // Four --token values (the last wins): each within the limit, 32 KB together.
    const ok = runCli(['run', clip, '--signal', signal, '--token', long, '--token', long, '--token', long, '--token', long, ...fast]);
    expectClean(ok);
    expect(ok.code).toBe(0);
    expect(readFileSync(signal, 'utf8').trim().split('\n')).toHaveLength(10);
    const tooLong = runCli(['run', clip, '--signal', signal, '--token', 'b'.repeat(16_000), ...fast]);
    expectClean(tooLong);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/argument \d+ \(after --token\) is 16000 bytes long, more than the 8192/);
    expectWhereHint(tooLong);
    // A secret's value is never printed, not even its first characters.
    expect(tooLong.stderr).toContain('--token ***');
    expect(tooLong.stderr).not.toContain('bbbbbbbb');
    for (const args of [['--token', 's3cr3t-value', '--bogus'], ['--token=s3cr3t-value', '--bogus']]) {
      const usage = runCli(['run', clip, ...args, ...fast]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/where: .*--token(=| )\*\*\*/);
      expect(usage.stderr).not.toContain('s3cr3t');
    }
  });
});

describe('report', () => {
  let lines: Record<string, unknown>[];
  beforeAll(() => {
    const signal = join(tempDir(), 's.jsonl');
    const r = runCli(['run', clip, '--signal', signal, '--duration', '0.3', ...fast]);
    expect(r.code).toBe(0);
    lines = readFileSync(signal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
  });
  const write = (dir: string, name: string, messages: unknown[], prefix = '') => {
    const path = join(dir, name);
    writeFileSync(path, prefix + messages.map((m) => JSON.stringify(m)).join('\n') + '\n');
    return path;
  };
  const edit = (i: number, change: (m: Record<string, unknown>) => void) =>
    lines.map((m, j) => {
      const copy = { ...m };
      if (j === i) change(copy);
      return copy;
    });

  it('a bad field, a version 2 file, a folder as input or output: which line and why, exit 3 (5 for the output)', () => {
    const d = tempDir();
    const cases: [string, unknown[], RegExp, number][] = [
      ['nocapture.jsonl', edit(1, (m) => delete m.captureTime), /line 2 of the signal file is not a valid signal message: captureTime: .*expected number/, 2],
      ['badcapture.jsonl', edit(1, (m) => (m.captureTime = 'yesterday')), /line 2 .*captureTime: .*expected number.*\(got "yesterday"\)/, 2],
      ['farcapture.jsonl', edit(0, (m) => (m.captureTime = 1e300)), /line 1 .*captureTime/, 1],
      ['source.jsonl', edit(2, (m) => (m.source = 7)), /line 3 .*source: .*expected string/, 3],
      ['drivable.jsonl', edit(0, (m) => (m.drivablePct = 'lots')), /line 1 .*drivablePct: .*\(got "lots"\)/, 1],
      ['range.jsonl', edit(0, (m) => (m.drivablePct = 250)), /line 1 .*drivablePct/, 1],
      ['v2.jsonl', lines.map((m) => ({ ...m, v: 2 })), /line 1 of the signal file is signal version 2; this roadseg reads version 1/, 1],
    ];
    for (const [name, messages, message, line] of cases) {
      const out = join(d, `${name}.html`);
      const r = runCli(['report', write(d, name, messages), '-o', out]);
      expectClean(r);
      expect(r.code, name).toBe(3);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr, name).toContain(`where: ${join(d, name)}:${line}`);
      expectWhereHint(r);
      expect(existsSync(out), name).toBe(false);
    }
    const good = write(d, 'good.jsonl', lines);
    mkdirSync(join(d, 'folder'));
    const outFolder = runCli(['report', good, '-o', join(d, 'folder')]);
    expectClean(outFolder);
    expect(outFolder.code).toBe(5);
    expect(outFolder.stderr).toMatch(/cannot write the report .*folder: a folder of that name is in the way/);
    const inFolder = runCli(['report', join(d, 'folder'), '-o', join(d, 'x.html')]);
    expectClean(inFolder);
    expect(inFolder.code).toBe(3);
    expect(inFolder.stderr).toMatch(/the signal file is a folder/);
    const itself = runCli(['report', good, '-o', good]);
    expect(itself.code).toBe(2);
    expect(readFileSync(good, 'utf8')).toBe(lines.map((m) => JSON.stringify(m)).join('\n') + '\n');
    // Saved as UTF-16 by an editor: said so, no NUL bytes printed.
    const utf16 = join(d, 'utf16.jsonl');
    writeFileSync(utf16, Buffer.from('\uFEFF' + lines.map((m) => JSON.stringify(m)).join('\n') + '\n', 'utf16le'));
    const wide = runCli(['report', utf16, '-o', join(d, 'wide.html')]);
    expectClean(wide);
    expect(wide.code).toBe(3);
    expect(wide.stderr).toMatch(/the signal file is UTF-16, not UTF-8/);
    expect(wide.stderr).not.toContain('\0');
  });

  it('a report that cannot be written whole (the file-size limit): exit 5, naming it, no truncated file, an older one kept', () => {
    const d = tempDir();
    const good = write(d, 'good.jsonl', lines);
    const out = join(d, 'r.html');
    writeFileSync(out, 'older');
    // 1 KiB: less than any report.
    const r = runCli(['report', good, '-o', out], { wrap: ['bash', '-c', 'ulimit -f 1; exec "$@"', 'limited'] });
    expectClean(r);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/cannot write the report .*r\.html: EFBIG/);
    expectWhereHint(r);
    expect(readFileSync(out, 'utf8')).toBe('older');
    expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a UTF-8 byte-order mark is accepted; an "ended" marker is skipped and counted, not a frame', () => {
    const d = tempDir();
    const bom = runCli(['report', write(d, 'bom.jsonl', lines, '\uFEFF'), '-o', join(d, 'bom.html')]);
    expectClean(bom);
    expect(bom.code).toBe(0);
    expect(bom.stderr).toContain('report of 3 frames:');
    const marker = { ...lines[2], frame: 3, status: 'ended', drivablePct: null, egoCorridorPct: null, roadEdges: [], histogram: {}, confidence: null, freeSpace: [], hoodY: null, camera: null };
    const ended = runCli(['report', write(d, 'ended.jsonl', [...lines, marker]), '-o', join(d, 'ended.html')]);
    expectClean(ended);
    expect(ended.code).toBe(0);
    expect(ended.stderr).toContain('report of 3 frames (1 "ended" marker skipped)');
    expect(readFileSync(join(d, 'ended.html'), 'utf8')).toContain('frames 0 to 2');
  });
});

describe('{source} collisions', () => {
  it('two sources with one {source} name are refused for a file, an MQTT topic and a Redis stream alike, naming both', () => {
    const d = tempDir();
    ffmpeg('-i', clip, '-c:v', 'mjpeg', join(d, 'drive.avi'));
    ffmpeg('-i', clip, '-c', 'copy', join(d, 'drive.mp4'));
    // Refused before any sink opens: no broker is needed to see it.
    const sinks = [join(d, 'out', '{source}.mp4'), 'mqtt://127.0.0.1:9/roadseg/{source}/signal', 'redis://127.0.0.1:9/0?stream=roadseg:{source}'];
    for (const sink of sinks) {
      const r = runCli(['run', join(d, 'drive.mp4'), sink, '--source', join(d, 'drive.avi'), ...fast]);
      expectClean(r);
      expect(r.code, sink).toBe(2);
      expect(r.stderr, sink).toMatch(/the sources "drive.mp4" and "drive.avi" both give \{source\} = "drive": they would share /);
      expect(r.stderr, sink).toContain(`where: the sink ${sink}`);
      expectWhereHint(r);
    }
    expect(existsSync(join(d, 'out', 'drive.mp4'))).toBe(false);
  });
});

describe('bring-your-own manifests', () => {
  /** A shipped model's manifest with one change, beside no weights (they are found in --models-dir). */
  function manifestOf(base: string, id: string, change: (m: ModelManifest) => void): string {
    const copy = structuredClone(getManifest(base));
    change(copy);
    const { manifestPath: _, ...m } = { ...copy, id, default: false };
    const path = join(tempDir(), `${id}.json`);
    writeFileSync(path, JSON.stringify(m));
    return path;
  }

  const dynamicStride = (stride: number) => (m: ModelManifest) => {
    if (m.size.rule === 'dynamic') m.size.stride = stride;
  };

  it('a size rule or stride the weights do not follow is refused at load, naming the field and what the weights do (exit 4)', () => {
    const cases: [string, RegExp][] = [
      [manifestOf('espnetv2-s2', 'esp-dynamic', (m) => (m.size = { rule: 'dynamic', stride: 16, offset: 0, defaultHeight: 512, preferred: [[512, 1024]] })), /size: the rule is dynamic, but input "image" takes only 1024x512 .*declare "size": \{"rule": "fixed", "height": 512, "width": 1024\}/],
      [manifestOf('efficientvit-b0', 'evit-stride3', dynamicStride(3)), /size: the weights do not run at 117x66, a size the manifest's rule gives \(dynamic, sides 3k\)/],
      [manifestOf('twinlitenet', 'twin-stride3', dynamicStride(3)), /size: for a 117x66 input \(dynamic, sides 3k\) the drivable head's "drivable" is 120x72/],
      [manifestOf('efficientvit-b0', 'evit-logits4', (m) => (m.heads.classes!.logits.stride = 4)), /heads\.classes\.logits\.stride: 4, but the weights give 16x8 "logits" for a 128x64 input: stride 8/],
    ];
    for (const [manifest, message] of cases) {
      const signal = join(tempDir(), 's.jsonl');
      const r = runCli(['run', clip, '--signal', signal, '--model', manifest, '--device', 'cpu', ...fast]);
      expectClean(r);
      expect(r.code, manifest).toBe(4);
      expect(r.stderr, manifest).toMatch(/model graph does not match manifest/);
      expect(r.stderr, manifest).toMatch(message);
      expect(r.stderr, manifest).toMatch(/where: .*\.onnx/);
      expectWhereHint(r);
      expect(existsSync(signal)).toBe(false);
    }
  });
});

describe('eval labels', () => {
  const camvid = join(data, 'images/camvid');
  const stems = ['0001TP_008550', '0001TP_009000'];
  const evalArgs = ['--json', '--models-dir', modelsDir, '--input-height', '129', '--model', 'deeplabv3-mnedgetpu-slim'];
  /** A folder of the first two CamVid images. */
  function images(): string {
    const d = tempDir();
    for (const s of stems) copyFileSync(join(camvid, `${s}.png`), join(d, `${s}.png`));
    return d;
  }

  it("roadseg segment's own palette labels are read by index: the model against itself scores 1", () => {
    const imgs = images();
    const seg = tempDir();
    const r = runCli(['segment', imgs, '-o', seg, '--model', 'deeplabv3-mnedgetpu-slim', '--input-height', '129', '--models-dir', modelsDir]);
    expect(r.code, r.stderr).toBe(0);
    // OpenCV would read these palette PNGs as grey levels of their colours: pixel accuracy 0.
    const e = runCli(['eval', '--images', imgs, '--labels', seg, '--label-suffix', '_labels.png', ...evalArgs]);
    expectClean(e);
    expect(e.code, e.stderr).toBe(0);
    expect((JSON.parse(e.stdout) as { pixelAccuracy: number }).pixelAccuracy).toBeGreaterThan(0.999);
  });

  it('16-bit labels are ids below 256, else refused; colour labels, unpaired names and sizes that differ are refused, naming the first (exit 3)', () => {
    const imgs = images();
    const truth = stems.map((s) => decodeLabelPng(readFileSync(join(data, 'labels/camvid', `${s}_trainIds.png`))));
    const { width, height } = truth[0]!;
    const rows16 = (ids: Uint8Array, scale = 1) => Array.from({ length: height }, (_, y) => Uint8Array.from([...ids.subarray(y * width, (y + 1) * width)].flatMap((v) => [(v * scale) >> 8, (v * scale) & 255])));
    const folder = (write: (dir: string, stem: string, i: number) => void) => {
      const d = tempDir();
      stems.forEach((s, i) => write(d, s, i));
      return d;
    };
    const grey16 = folder((d, s, i) => writeFileSync(join(d, `${s}_trainIds.png`), png({ width, height, depth: 16, colour: 0, rows: rows16(truth[i]!.ids), filters: [0, 1, 2, 3, 4] })));
    const ok = runCli(['eval', '--images', imgs, '--labels', grey16, ...evalArgs]);
    expectClean(ok);
    expect(ok.code, ok.stderr).toBe(0);
    const plain = runCli(['eval', '--images', imgs, '--labels', folder((d, s) => copyFileSync(join(data, 'labels/camvid', `${s}_trainIds.png`), join(d, `${s}_trainIds.png`))), ...evalArgs]);
    expect(JSON.parse(ok.stdout)).toEqual(JSON.parse(plain.stdout));

    const scaled = folder((d, s, i) => writeFileSync(join(d, `${s}_trainIds.png`), png({ width, height, depth: 16, colour: 0, rows: rows16(truth[i]!.ids, 257) })));
    const colour = folder((d, s) => ffmpeg('-i', join(data, 'labels/camvid', `${s}_trainIds.png`), '-pix_fmt', 'rgb24', join(d, `${s}_trainIds.png`)));
    const resized = folder((d, s) => ffmpeg('-i', join(data, 'labels/camvid', `${s}_trainIds.png`), '-vf', 'scale=240:180:flags=neighbor', '-pix_fmt', 'gray', join(d, `${s}_trainIds.png`)));
    const fewer = folder((d, s, i) => i === 0 && copyFileSync(join(data, 'labels/camvid', `${s}_trainIds.png`), join(d, `${s}_trainIds.png`)));
    const cases: [string, RegExp, string][] = [
      [scaled, /cannot read class ids from the label image .*0001TP_008550_trainIds\.png: a grey 16-bit PNG with values up to 65535: more than the 256 class ids/, join(scaled, `${stems[0]}_trainIds.png`)],
      [colour, /cannot read class ids .*: a RGB colour 8-bit PNG: class ids need one channel per pixel/, join(colour, `${stems[0]}_trainIds.png`)],
      [resized, /the label image of 0001TP_008550 is 240x180, its image 480x360/, join(resized, `${stems[0]}_trainIds.png`)],
      [fewer, /1 of the 2 images have no label: the first, .*0001TP_009000\.png, has no 0001TP_009000_trainIds\.png/, join(imgs, `${stems[1]}.png`)],
    ];
    for (const [labels, message, where] of cases) {
      const r = runCli(['eval', '--images', imgs, '--labels', labels, ...evalArgs]);
      expectClean(r);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(`where: ${where}`);
      expectWhereHint(r);
      expect(r.stdout).toBe('');
    }
  });

  it('eval --sequence with fewer label files than frames is refused before the model loads (exit 3)', () => {
    const seq = tempDir();
    for (const [i, s] of stems.entries()) copyFileSync(join(camvid, `${s}.png`), join(seq, `f${i}.png`));
    const labels = tempDir();
    copyFileSync(join(data, 'labels/camvid', `${stems[0]}_trainIds.png`), join(labels, `f0_trainIds.png`));
    const r = runCli(['eval', '--sequence', seq, '--labels', labels, ...evalArgs]);
    expectClean(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/the sequence has 2 frames and 1 label files \(\*_trainIds\.png\): frame i is compared with the i-th label file/);
    expect(r.stderr).not.toMatch(/model: scene/);
    expectWhereHint(r);
  });
});
