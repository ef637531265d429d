/**
 * `node dist/bench/ab.js --against DIR [--rounds N] [-- bench options]`: this tree's benchmark and
 * another checkout's (DIR, built: its dist/ and node_modules in place), alternated round by round
 * (the order swapped each round, so a drift of the machine's load falls on both), then each row's
 * median fps per tree and the ratio this / other. For refactors that must not cost speed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/util/package.js';

const { values: args, positionals } = parseArgs({
  options: { against: { type: 'string' }, rounds: { type: 'string', default: '3' } },
  allowPositionals: true,
});
if (!args.against) {
  console.error('usage: node dist/bench/ab.js --against DIR [--rounds N] [-- bench options]');
  process.exit(2);
}
const trees = { this: packageRoot, other: resolve(args.against) };
const benchArgs = positionals.length ? positionals : ['--no-latency', '--no-multi', '--no-websocket'];
type Row = { name: string; variant: string; fps: number };
const fps = new Map<string, { this: number[]; other: number[] }>();
const tmp = mkdtempSync(join(tmpdir(), 'roadseg-ab-'));
const load = [loadavg()[0]!];

function runOnce(tree: 'this' | 'other', round: number): void {
  const json = join(tmp, `${tree}-${round}.json`);
  const r = spawnSync(process.execPath, [join(trees[tree], 'dist', 'bench', 'bench.js'), '--rounds', '1', '--json', json, ...benchArgs], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`the benchmark of ${trees[tree]} exited ${r.status}`);
  for (const row of (JSON.parse(readFileSync(json, 'utf8')) as { rows: Row[] }).rows) {
    const key = `${row.name} (${row.variant})`;
    if (!fps.has(key)) fps.set(key, { this: [], other: [] });
    fps.get(key)![tree].push(row.fps);
  }
  load.push(loadavg()[0]!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const tree of round % 2 ? (['other', 'this'] as const) : (['this', 'other'] as const)) runOnce(tree, round);
  }
  console.log(`this: ${trees.this}\nother: ${trees.other}\n${args.rounds} rounds each, alternated; load average (1 min) ${Math.min(...load).toFixed(2)}-${Math.max(...load).toFixed(2)}`);
  console.log('| row | this fps | other fps | this / other |\n|---|---|---|---|');
  for (const [key, f] of fps) console.log(`| ${key} | ${median(f.this).toFixed(1)} | ${median(f.other).toFixed(1)} | ${(median(f.this) / median(f.other)).toFixed(3)} |`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
