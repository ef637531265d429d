/**
 * `npm run bench:multi` (and the last rows of `npm run bench`): aggregate fps of one process
 * replaying 1, 2 and 4 copies of a real clip, with frames of the sources inferred together
 * (batched, --max-batch 4) and one at a time (--max-batch 1), side by side in alternated rounds.
 * Each cell is frames out of all sources over the phase's time; ratios are over 1 source.
 *
 * Usage: npm run bench:multi [-- --clip PATH --frames N --rounds R --input-height H --json FILE --models-dir DIR]
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createPipeline } from '../src/app/open.js';
import { SegmentationEngine } from '../src/engine/engine.js';
import { packageRoot } from '../src/util/package.js';
import { median, roundRatio } from './stats.js';

export interface MultiSourceRow {
  sources: number;
  maxBatch: number;
  fps: number;
  /** Aggregate fps over the 1-source fps of the same round (median over rounds). */
  ratio: number;
  meanBatch: number;
}

/** Frames out of all sources per second, over `frames` frames (each source looping its clip). */
async function aggregateFps(engine: SegmentationEngine, clip: string, sources: number, maxBatch: number, frames: number, modelsDir?: string): Promise<{ fps: number; meanBatch: number }> {
  const p = await createPipeline({ sources: Array.from({ length: sources }, () => clip), loop: true, maxBatch, modelsDir, sinks: [] }, { engine });
  let n = 0;
  p.results.subscribe(() => {
    if (++n === frames) p.stop();
  });
  const s = await p.run();
  const calls = s.batches ? Object.entries(s.batches.sizes).reduce((a, [k, v]) => a + Number(k) * v, 0) / Math.max(1, s.batches.calls) : 1;
  return { fps: s.fps, meanBatch: calls };
}

export async function benchMultiSource(opts: { clip: string; frames: number; rounds: number; inputHeight?: number; modelsDir?: string; log?: (l: string) => void }): Promise<MultiSourceRow[]> {
  const engine = await SegmentationEngine.create({ modelsDir: opts.modelsDir, ...(opts.inputHeight && { inputHeight: opts.inputHeight }), log: opts.log });
  if (!engine.batchable) opts.log?.(`model ${engine.manifest.id} has a fixed batch size: the batched rows infer one frame per call`);
  const cells = new Map<string, { fps: number[]; meanBatch: number[] }>();
  for (let round = 0; round < opts.rounds; round++) {
    // Alternated: the order reverses every other round, so that drift in load hits every cell alike.
    for (const sources of round % 2 ? [4, 2, 1] : [1, 2, 4]) {
      for (const maxBatch of [1, 4]) {
        if (sources === 1 && maxBatch === 4) continue; // one source is never batched
        const r = await aggregateFps(engine, opts.clip, sources, maxBatch, opts.frames * sources, opts.modelsDir);
        const cell = cells.get(`${sources}x${maxBatch}`) ?? { fps: [], meanBatch: [] };
        cell.fps.push(r.fps);
        cell.meanBatch.push(r.meanBatch);
        cells.set(`${sources}x${maxBatch}`, cell);
      }
    }
  }
  await engine.dispose();
  const one = cells.get('1x1')!.fps;
  return [1, 2, 4].flatMap((sources) =>
    [1, 4].flatMap((maxBatch) => {
      const c = cells.get(`${sources}x${maxBatch}`);
      return c ? [{ sources, maxBatch, fps: median(c.fps), ratio: roundRatio(c.fps, one), meanBatch: median(c.meanBatch) }] : [];
    }),
  );
}

export function multiSourceTable(rows: MultiSourceRow[]): string {
  const lines = ['| sources | max batch | mean batch | aggregate fps | over 1 source |', '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.sources} | ${r.maxBatch} | ${r.meanBatch.toFixed(2)} | ${r.fps.toFixed(2)} | ${r.ratio.toFixed(2)} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: args } = parseArgs({
    options: {
      clip: { type: 'string', default: join(packageRoot, '..', 'shared', 'data', 'videos', 'udacity_vehicledet_pr2_test_small1.mp4') },
      frames: { type: 'string', default: '40' },
      rounds: { type: 'string', default: '2' },
      'input-height': { type: 'string' },
      json: { type: 'string' },
      'models-dir': { type: 'string' },
    },
  });
  const clip = resolve(args.clip!);
  const rows = await benchMultiSource({
    clip,
    frames: Number(args.frames),
    rounds: Number(args.rounds),
    ...(args['input-height'] && { inputHeight: Number(args['input-height']) }),
    ...(args['models-dir'] && { modelsDir: args['models-dir'] }),
    log: (l) => process.stderr.write(l + '\n'),
  });
  console.log(`clip ${clip.split('/').pop()}, ${args.frames} frames per source per phase, median of ${args.rounds} alternated rounds (ratios within each round)`);
  console.log(multiSourceTable(rows));
  if (args.json) writeFileSync(args.json, JSON.stringify(rows, null, 2) + '\n');
}
