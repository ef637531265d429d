/**
 * `npm run bench`: speed of the streaming graph against the model alone, measured side by side in
 * one run on one real clip (these machines are noisy: compare the ratios, not absolute fps).
 *
 *   bare       the engine alone on tensors prepared beforehand (the ceiling)
 *   pipeline   the whole graph with no sinks
 *   sinks      the graph with the video file and signal sinks
 *   websocket  the graph with 20 reading websocket clients and one stalled, over no clients
 *
 * Usage: npm run bench [-- --clip PATH --frames N --json FILE --models-dir DIR]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { InputTensor } from '../src/core/model.js';
import { SegmentationEngine } from '../src/engine/engine.js';
import { packageRoot } from '../src/util/package.js';
import { createPipeline } from '../src/app/open.js';
import { openSource } from '../src/app/sources.js';
import { isStale } from '../src/core/frame.js';
import { toBgr, packInput } from '../src/stages/preprocess.js';
import { benchWebsocket } from './websocket.js';

const { values: args } = parseArgs({
  options: {
    clip: { type: 'string', default: join(packageRoot, '..', 'shared', 'data', 'videos', 'udacity_vehicledet_pr2_test_small1.mp4') },
    frames: { type: 'string', default: '60' },
    json: { type: 'string' },
    'models-dir': { type: 'string' },
  },
});
const clip = resolve(args.clip!);
const frames = Number(args.frames);
const modelsDir = args['models-dir'];

async function bareFps(engine: SegmentationEngine): Promise<number> {
  const source = openSource(clip, { duration: undefined });
  const tensors: InputTensor[] = [];
  for (let i = 0; i < Math.min(frames, 20); i++) {
    const f = await source.read();
    if (!f || isStale(f)) break;
    tensors.push(packInput(toBgr(f.image), engine.inputSizeFor(f.image.cols, f.image.rows), engine.manifest.input.colorOrder));
  }
  source.close();
  const t0 = performance.now();
  for (let i = 0; i < frames; i++) await engine.infer(tensors[i % tensors.length]!);
  return frames / ((performance.now() - t0) / 1000);
}

async function pipelineFps(engine: SegmentationEngine, sinks: string[]): Promise<number> {
  // Frames read at the clip's start: the same frames as the bare run's.
  const p = await createPipeline({ source: clip, sinks, loop: true, modelsDir }, { engine });
  let n = 0;
  p.results.subscribe(() => {
    if (++n === frames) p.stop();
  });
  const s = await p.run();
  return s.fps;
}

const engine = await SegmentationEngine.create({ modelsDir, log: (l) => process.stderr.write(l + '\n') });
const out = mkdtempSync(join(tmpdir(), 'roadseg-bench-'));
const rows: { name: string; fps: number }[] = [];
// Interleaved twice so that drift in machine load hits every variant alike.
for (let round = 0; round < 2; round++) {
  rows.push({ name: 'bare inference', fps: await bareFps(engine) });
  rows.push({ name: 'pipeline, no sinks', fps: await pipelineFps(engine, []) });
  rows.push({ name: 'pipeline, video + signal sinks', fps: await pipelineFps(engine, [join(out, 'overlay.mp4'), `signal:${join(out, 'signal.jsonl')}`]) });
}
await engine.dispose();
const ws = await benchWebsocket({ clip, frames, modelsDir });

const best = (name: string) => Math.max(...rows.filter((r) => r.name === name).map((r) => r.fps));
const bare = best('bare inference');
const table = ['bare inference', 'pipeline, no sinks', 'pipeline, video + signal sinks'].map((name) => ({ name, fps: best(name), ratio: best(name) / bare }));
const header = `clip ${clip.split('/').pop()}, ${frames} frames per variant, model ${engine.manifest.id} on ${engine.provider}, best of 2 interleaved rounds`;
console.log(header);
console.log('| variant | fps | ratio to bare inference |\n|---|---|---|');
for (const r of table) console.log(`| ${r.name} | ${r.fps.toFixed(2)} | ${r.ratio.toFixed(2)} |`);
console.log(`\nwebsocket: ${ws.fpsWithClients.toFixed(2)} fps with 20 reading clients + 1 stalled, ${ws.fpsNoClients.toFixed(2)} fps with none: ratio ${ws.ratio.toFixed(2)} (CPU ms/frame ${ws.cpuMsPerFrameWithClients.toFixed(0)} vs ${ws.cpuMsPerFrameNoClients.toFixed(0)})`);
if (args.json) writeFileSync(args.json, JSON.stringify({ clip, frames, model: engine.manifest.id, device: engine.provider, rows, table, websocket: ws }, null, 2));
