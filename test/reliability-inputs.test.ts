// Issue 14, inputs and messages: unusual pictures, impossible sizes, config files of the wrong
// shape, segment's output collisions, variable frame rates, usage errors, model paths and a
// websocket server that never answers. Each through the real CLI: the message (what / where /
// hint), the exit status, and what was written.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getManifest } from '../src/engine/registry.js';
import { cv } from '../src/util/cv.js';
import { expectClean, expectWhereHint, ffmpeg, runCli, startCli, testClip } from './helpers/cli.js';
import { data, modelsDir, tempDir } from './helpers/paths.js';
import { readSignal } from './helpers/video.js';

const fast = ['--input-height', '65', '--models-dir', modelsDir, '--no-progress'];
const street = join(data, 'images/camvid/0001TP_008550.png');
let clip: string;

beforeAll(() => {
  clip = join(tempDir(), 'clip.mp4');
  testClip(clip);
});

describe('pictures', () => {
  it('16-bit PNGs (colour and grey) are converted to 8-bit, said once, in segment and run', () => {
    const d = tempDir();
    ffmpeg('-i', street, '-pix_fmt', 'rgb48be', join(d, 'colour16.png'));
    ffmpeg('-i', street, '-pix_fmt', 'gray16be', join(d, 'grey16.png'));
    expect(cv.imread(join(d, 'colour16.png'), cv.IMREAD_UNCHANGED).depth).toBe(cv.CV_16U);
    const out = tempDir();
    const seg = runCli(['segment', d, '-o', out, '--model', 'deeplabv3-mnedgetpu-slim', '--input-height', '65', '--models-dir', modelsDir]);
    expectClean(seg);
    expect(seg.code).toBe(0);
    expect(seg.stderr.match(/deeper than 8 bits: converted to 8-bit/g)).toHaveLength(1);
    expect(cv.imread(join(out, 'grey16_overlay.png')).depth).toBe(cv.CV_8U);
    expect(JSON.parse(readFileSync(join(out, 'colour16.json'), 'utf8')).drivablePct).toBeGreaterThan(10);
    const signal = join(tempDir(), 's.jsonl');
    const run = runCli(['run', d, '--signal', signal, ...fast]);
    expectClean(run);
    expect(run.code).toBe(0);
    expect(readSignal(signal)).toHaveLength(2);
  });

  it('impossible model input sizes are refused before running: a 20000x2 picture, --input-height 40000', () => {
    const d = tempDir();
    ffmpeg('-f', 'lavfi', '-i', 'color=size=20000x2', '-frames:v', '1', join(d, 'wide.png'));
    const run = runCli(['run', join(d, 'wide.png'), '--signal', join(d, 's.jsonl'), '--models-dir', modelsDir, '--no-progress']);
    expectClean(run);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/a 20000x2 picture needs a \d+x\d+ model input \([\d.]+ megapixels; its tensors alone would take [\d.]+ GiB\): more than the 16\.8 megapixels roadseg runs/);
    expectWhereHint(run);
    expect(run.stderr).not.toMatch(/device: /);
    const seg = runCli(['segment', join(d, 'wide.png'), '-o', d, '--models-dir', modelsDir]);
    expectClean(seg);
    expect(seg.code).toBe(3);
    expect(seg.stderr).toMatch(/megapixels roadseg runs/);
    const flag = runCli(['run', clip, '--signal', join(d, 's.jsonl'), '--input-height', '40000']);
    expectClean(flag);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--input-height must be an integer in \[17, 4097\], got "40000"/);
    expect(readdirSync(d)).toEqual(['wide.png']);
  });
});

describe('config files of the wrong shape: exit 2 naming the key and the expected type', () => {
  const cases: [string, string, RegExp][] = [
    ['null', 'null', /config file must hold a JSON object, got null/],
    ['an array', '["clip.mp4"]', /must hold a JSON object, got an array/],
    ['a number', '3', /must hold a JSON object, got a number/],
    ['a string', '"clip.mp4"', /must hold a JSON object, got a string/],
    ['sinks as a string', '{"sinks": "x.jsonl"}', /expected array, received string\s+→ at sinks/],
    ['a wrong nested type', '{"serve": {"maxClients": "ten"}}', /expected number, received string\s+→ at serve\.maxClients/],
  ];
  it.each(cases)('%s', (_name, text, message) => {
    const file = join(tempDir(), 'pipeline.json');
    writeFileSync(file, text);
    const r = runCli(['run', clip, '--config', file, '--no-progress']);
    expectClean(r);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expectWhereHint(r);
  });

  it('a UTF-8 byte-order mark is accepted', () => {
    const d = tempDir();
    writeFileSync(join(d, 'pipeline.json'), '\uFEFF' + JSON.stringify({ source: clip, sinks: [join(d, 's.jsonl')], stride: 10, inputHeight: 65, modelsDir }));
    const r = runCli(['run', '--config', join(d, 'pipeline.json'), '--no-progress']);
    expectClean(r);
    expect(r.code).toBe(0);
    expect(readSignal(join(d, 's.jsonl'))).toHaveLength(2);
  });
});

describe('segment', () => {
  it('two images of one name from different folders: refused before anything is written', () => {
    const d = tempDir();
    for (const sub of ['left', 'right']) {
      mkdirSync(join(d, sub));
      ffmpeg('-i', street, '-vf', 'scale=96:72', join(d, sub, 'frame.png'));
    }
    const out = join(d, 'out');
    const r = runCli(['segment', join(d, 'left'), join(d, 'right'), '-o', out, '--models-dir', modelsDir]);
    expectClean(r);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/two inputs would write the same outputs .*frame_\{overlay,labels\}\.png: .*left\/frame\.png and .*right\/frame\.png/);
    expectWhereHint(r);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });
});

describe('variable frame rate', () => {
  it('every frame carries the container pts, the last ones included', () => {
    const d = tempDir();
    const vfr = join(d, 'vfr.mp4');
    // 10 frames 100 ms apart, then 10 frames 120 ms apart; B-frames make the decoder give the last ones only when flushed.
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=160x90:rate=10:duration=2', '-vf', "settb=1/1000,setpts='if(lt(N,10),N*100,1000+(N-10)*120)'", '-fps_mode', 'passthrough', '-enc_time_base', '1/1000', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', vfr);
    const container = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', vfr], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => Math.round(Number.parseFloat(l) * 1000));
    expect(container.slice(-2)).toEqual([1960, 2080]);
    const r = runCli(['run', vfr, '--signal', join(d, 's.jsonl'), ...fast]);
    expect(r.code).toBe(0);
    expect(readSignal(join(d, 's.jsonl')).map((l) => Math.round(l.ptsMs))).toEqual(container);
  });
});

describe('usage errors and weaker messages', () => {
  it('usage errors have where and hint lines, a file name starting with - gets the ./ or -- hint', () => {
    const d = tempDir();
    const dashed = join(d, '-clip.mp4');
    writeFileSync(dashed, readFileSync(clip));
    const r = runCli(['run', '-clip.mp4', '--signal', 's.jsonl'], { cwd: d });
    expectClean(r);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: "-clip\.mp4" is a file, but reads as a flag\n\s+where: the command line: roadseg run -clip\.mp4 --signal s\.jsonl\n\s+hint: .*write \.\/-clip\.mp4, or put -- before it/);
    const ok = runCli(['run', '--signal', 's.jsonl', '--stride', '10', ...fast, '--', '-clip.mp4'], { cwd: d });
    expect(ok.code).toBe(0);
    expect(readSignal(join(d, 's.jsonl'))).toHaveLength(2);
    const unknown = runCli(['run', clip, '--colour', 'red']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--colour'\n\s+where: .*\n\s+hint:\s+`roadseg run --help` lists the arguments and flags/);
  });

  it('--in-flight 1000 names the flag and its limit, which --help gives', () => {
    const r = runCli(['run', clip, '--in-flight', '1000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--in-flight must be an integer in \[1, 16\], got "1000"/);
    expectWhereHint(r);
    expect(runCli(['run', '--help']).stdout).toMatch(/--in-flight <n>\s+frames in the graph at once, at most \(1 to 16\)/);
  });

  it('a glob matching nothing (exit 3) and signal: without a path (exit 2) have where and hint', () => {
    const d = tempDir();
    const glob = runCli(['run', join(d, '*.png'), '--signal', join(d, 's.jsonl'), ...fast]);
    expectClean(glob);
    expect(glob.code).toBe(3);
    expect(glob.stderr).toMatch(/no files match .*\*\.png\n\s+where: folder .*\n\s+hint: .*quote it/);
    const empty = runCli(['run', clip, 'signal:', ...fast]);
    expectClean(empty);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/the signal sink has no path/);
    expectWhereHint(empty);
  });

  it("a manifest's weights path that climbs out of the models folders, or is absolute, is refused", () => {
    const d = tempDir();
    const { manifestPath: _, ...base } = getManifest('deeplabv3-mnedgetpu-slim');
    for (const file of ['../../etc/passwd', '/etc/passwd']) {
      writeFileSync(join(d, 'evil.json'), JSON.stringify({ ...base, id: 'evil', default: false, weights: { fp32: { ...base.weights.fp32, file } } }));
      const r = runCli(['run', clip, '--model', join(d, 'evil.json'), '--signal', join(d, 's.jsonl'), '--no-progress']);
      expectClean(r);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/the weights path of model "evil" leaves the models folders/);
      expectWhereHint(r);
    }
  });
});

describe('listen against a server that accepts TCP but never answers', () => {
  let server: Server;
  let port = 0;
  const sockets = new Set<import('node:net').Socket>();
  beforeAll(async () => {
    server = createServer((s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  it('a handshake timeout, retried with backoff, then exit 3', async () => {
    const r = await startCli(['listen', `ws://127.0.0.1:${port}`, '--timeout', '0.3', '--retries', '1']).done;
    expectClean(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no answer to the websocket handshake within 0\.3 s; retrying in 0\.5 s \(retry 1 of 1\)/);
    expectWhereHint(r);
  });

  it('Ctrl-C while waiting: exit 130 with a message', async () => {
    const before = sockets.size;
    const run = startCli(['listen', `ws://127.0.0.1:${port}`]);
    while (sockets.size === before) await new Promise((r) => setTimeout(r, 50));
    run.child.kill('SIGINT');
    const r = await run.done;
    expectClean(r);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted after 0 signal lines/);
  });
});
