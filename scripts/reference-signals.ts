/**
 * `npm run reference-signals`: the signal of every shipped clip, as `roadseg run CLIP --signal`
 * gives it with default settings, stored without its timing fields under
 * test/fixtures/reference-signals/NAME.jsonl.gz. Refactors must leave these line for line equal;
 * a change that alters the signal on purpose re-baselines them with this script (and says so).
 *
 *   npm run reference-signals              write the references (the baseline)
 *   npm run reference-signals -- --check   compare instead; prints the first differing line per clip, exit 1 on a difference
 *   ... -- --only NAME.mp4                 one clip (repeatable)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { packageRoot } from '../src/util/package.js';

/** Wall-clock fields of a signal line: they differ run to run, everything else is deterministic on the CPU. */
export const timingFields = ['captureTime', 'latencyMs'] as const;
export const referenceDir = join(packageRoot, 'test', 'fixtures', 'reference-signals');
export const clipsDir = join(packageRoot, '..', 'shared', 'data', 'videos');

/** A signal file's lines with the timing fields removed (key order kept, so lines compare as text). */
export function withoutTimings(jsonl: string): string[] {
  return jsonl.split('\n').filter((l) => l.trim()).map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    for (const f of timingFields) delete o[f];
    return JSON.stringify(o);
  });
}

export function referencePath(clip: string): string {
  return join(referenceDir, `${basename(clip).replace(/\.[^.]+$/, '')}.jsonl.gz`);
}

export function readReference(clip: string): string[] {
  return gunzipSync(readFileSync(referencePath(clip))).toString('utf8').split('\n').filter((l) => l);
}

/** The clip's signal as a default `roadseg run` gives it, timing fields removed. */
export function signalOfClip(clip: string, extraArgs: string[] = []): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'roadseg-ref-'));
  try {
    const file = join(dir, 'signal.jsonl');
    const r = spawnSync(process.execPath, [join(packageRoot, 'bin', 'roadseg.js'), 'run', clip, '--signal', file, '--no-progress', ...extraArgs], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`roadseg run ${basename(clip)} exited ${r.status}: ${r.stderr.slice(-2000)}`);
    return withoutTimings(readFileSync(file, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * How far a number of the signal may move where floating point differs by machine (another CPU's
 * kernels in onnxruntime can flip a label on a boundary pixel): percentages 0.05 points, other
 * figures 0.005 or a thousandth of their size, whichever is larger. Everything else exactly.
 */
export const machineTolerance = { pct: 0.05, abs: 0.005, rel: 1e-3 } as const;

function close(a: unknown, b: unknown, key: string): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    const t = key.endsWith('Pct') ? machineTolerance.pct : Math.max(machineTolerance.abs, machineTolerance.rel * Math.abs(b));
    return Math.abs(a - b) <= t;
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => close(x, b[i], key));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], k));
  }
  return a === b;
}

/**
 * The first line where two signals differ (1-based), or undefined when they are equal: as text
 * (this machine's refactor check), or `tolerant` within `machineTolerance` (a test on any machine).
 */
export function firstDifference(actual: string[], expected: string[], tolerant = false): { line: number; actual?: string; expected?: string } | undefined {
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    const a = actual[i];
    const e = expected[i];
    const same = a === e || (tolerant && a !== undefined && e !== undefined && close(JSON.parse(a), JSON.parse(e), ''));
    if (!same) return { line: i + 1, actual: a, expected: e };
  }
  return undefined;
}

function main(): void {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false }, only: { type: 'string', multiple: true } } });
  const clips = readdirSync(clipsDir).filter((f) => /\.(mp4|mkv|avi|mov)$/.test(f)).filter((f) => !values.only || values.only.includes(f)).sort();
  let differ = 0;
  for (const name of clips) {
    const clip = join(clipsDir, name);
    const t0 = Date.now();
    const lines = signalOfClip(clip);
    const took = ((Date.now() - t0) / 1000).toFixed(1);
    if (!values.check) {
      writeFileSync(referencePath(clip), gzipSync(lines.join('\n') + '\n', { level: 9 }));
      console.log(`${name}: ${lines.length} lines written (${took} s)`);
      continue;
    }
    const d = firstDifference(lines, readReference(clip));
    if (!d) console.log(`${name}: ${lines.length} lines, identical (${took} s)`);
    else {
      differ++;
      console.log(`${name}: DIFFERS at line ${d.line}\n  reference: ${d.expected ?? '(none)'}\n  now:       ${d.actual ?? '(none)'}`);
    }
  }
  if (values.check) console.log(differ ? `${differ} of ${clips.length} clips differ` : `all ${clips.length} clips identical`);
  process.exitCode = differ ? 1 : 0;
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) main();
