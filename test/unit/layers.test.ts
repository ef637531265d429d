/**
 * The import graph of src/: layers only point down and no module imports one that imports it.
 * Layers, low to high: util, core (shared types), stages (pure kernels), engine | sources | sinks
 * (implementations, which never import each other), pipeline (the graph), app (the factory), the
 * fleet | eval (evaluation against labels; neither imports the other), cli. src/index.ts is the package's entry and may import anything.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = resolve(import.meta.dirname, '..', '..', 'src');
const rank: Record<string, number> = { util: 0, core: 1, stages: 2, engine: 3, sources: 3, sinks: 3, pipeline: 4, app: 5, eval: 6, fleet: 6, cli: 7 };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

const layerOf = (file: string) => relative(src, file).split('/')[0]!;
const graph = new Map(files(src).map((f) => [f, imports(f)]));

describe('import layers', () => {
  it('every folder of src has a layer', () => {
    const unknown = [...graph.keys()].map(layerOf).filter((l) => !l.endsWith('.ts') && !(l in rank));
    expect(unknown).toEqual([]);
  });

  it('no import points up or across the implementation layer', () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      const from = layerOf(file);
      if (from.endsWith('.ts')) continue;
      for (const dep of deps) {
        const to = layerOf(dep);
        if (to === from) continue;
        if (!(to in rank) || rank[to]! >= rank[from]!) wrong.push(`${relative(src, file)} -> ${relative(src, dep)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has no import cycle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(src, p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of graph.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
