/** Several sources in one graph: lanes, per-source and shared sinks, batching, failure isolation. */
import { describe, expect, it } from 'vitest';
import { createGraph } from '../../src/pipeline/graph.js';
import { FakeProcessor, FakeSource, MatLedger, RecordingSink } from './fakes/parts.js';

describe('graph: several sources', () => {
  it('gives each source its frames in order, to its own sinks and to the shared ones', async () => {
    const ledger = new MatLedger();
    const a = new FakeSource(ledger, { frames: 12 }, 'a');
    const b = new FakeSource(ledger, { frames: 7 }, 'b');
    const c = new FakeSource(ledger, { frames: 20, intervalMs: 1 }, 'c');
    const shared = new RecordingSink('signal', 'every', { carriesSignal: true });
    const own = { a: new RecordingSink('video a', 'every'), b: new RecordingSink('video b', 'every'), c: new RecordingSink('video c', 'every') };
    const seen: string[] = [];
    const g = createGraph({
      sources: [a, b, c],
      processor: new FakeProcessor(ledger, { inferMs: 1 }),
      sinks: [shared, ...Object.entries(own).map(([sourceId, sink]) => ({ sink, sourceId }))],
      inFlight: 2,
      maxBatch: 3,
    });
    g.results.subscribe((f) => seen.push(f.meta.sourceId));
    const summary = await g.run();
    expect(own.a.frames).toEqual([...Array(12).keys()]);
    expect(own.b.frames).toEqual([...Array(7).keys()]);
    expect(own.c.frames).toEqual([...Array(20).keys()]);
    expect(shared.frames.length).toBe(39);
    expect(summary.framesOut).toBe(39);
    expect(summary.sources?.a?.framesOut).toBe(12);
    expect(summary.sources?.b?.framesOut).toBe(7);
    expect(summary.sources?.c?.framesOut).toBe(20);
    // Sources interleave rather than running one after the other.
    expect(seen.slice(0, 6)).toEqual(expect.arrayContaining(['a', 'b']));
    expect(ledger.live).toBe(0);
  });

  it('infers frames of sources that are ready together in one call', async () => {
    const ledger = new MatLedger();
    const processor = new FakeProcessor(ledger, { inferMs: 5 });
    const sources = ['a', 'b', 'c', 'd'].map((id) => new FakeSource(ledger, { frames: 10 }, id));
    const g = createGraph({ sources, processor, sinks: [], inFlight: 2, maxBatch: 4, batchTimeoutMs: 50 });
    const summary = await g.run();
    expect(Math.max(...processor.batches)).toBe(4);
    expect(summary.batches?.sizes['4']).toBeGreaterThan(0);
    expect(summary.framesOut).toBe(40);
  });

  it('with one source, infers frame by frame without waiting', async () => {
    const ledger = new MatLedger();
    const processor = new FakeProcessor(ledger);
    const g = createGraph({ sources: [new FakeSource(ledger, { frames: 10 })], processor, sinks: [], inFlight: 3, maxBatch: 4, batchTimeoutMs: 10_000 });
    const summary = await g.run();
    expect(summary.framesOut).toBe(10);
    expect(processor.batches).toEqual([]);
    expect(summary.batches).toBeUndefined();
  });

  it('a failing source stops alone: its own sinks are finalised at once, the others go on', async () => {
    const ledger = new MatLedger();
    const good = new FakeSource(ledger, { frames: 30, intervalMs: 1 }, 'good');
    const bad = new FakeSource(ledger, { frames: 30, failAt: 4 }, 'bad');
    const goodVideo = new RecordingSink('video good', 'every');
    const badVideo = new RecordingSink('video bad', 'every');
    const signal = new RecordingSink('signal', 'every', { carriesSignal: true });
    let badClosedWhileGoodRan = false;
    const g = createGraph({
      sources: [good, bad],
      processor: new FakeProcessor(ledger),
      sinks: [signal, { sink: goodVideo, sourceId: 'good' }, { sink: badVideo, sourceId: 'bad' }],
      inFlight: 2,
      maxBatch: 2,
    });
    g.results.subscribe({
      next: (f) => {
        if (f.meta.sourceId === 'good' && badVideo.closed === 1 && goodVideo.closed === 0) badClosedWhileGoodRan = true;
      },
      error: () => {},
    });
    await expect(g.run()).rejects.toThrow(/source broke at 4/);
    expect(goodVideo.frames).toEqual([...Array(30).keys()]);
    expect(badVideo.frames).toEqual([0, 1, 2, 3]);
    expect(badClosedWhileGoodRan).toBe(true);
    expect([goodVideo.closed, badVideo.closed, signal.closed]).toEqual([1, 1, 1]);
    expect(signal.signals.filter((m) => m.source === 'bad').map((m) => m.status)).toEqual(['ended']);
    expect(signal.signals.filter((m) => m.source === 'good')).toEqual([]);
    expect(ledger.live).toBe(0);
  });

  it('a live source goes stale for itself only', async () => {
    const ledger = new MatLedger();
    const file = new FakeSource(ledger, { frames: 10 }, 'file');
    const cam = new FakeSource(ledger, { frames: 10, staleAt: [3, 4] }, 'cam');
    const signal = new RecordingSink('signal', 'every', { carriesSignal: true });
    const summary = await createGraph({ sources: [file, cam], processor: new FakeProcessor(ledger), sinks: [signal], inFlight: 2, maxBatch: 2 }).run();
    expect(signal.signals.map((m) => [m.source, m.frame, m.status])).toEqual([
      ['cam', 3, 'stale'],
      ['cam', 4, 'stale'],
    ]);
    expect(summary.sources?.cam?.drops['source offline']).toBe(2);
    expect(summary.sources?.file?.drops).toEqual({});
  });

  it('refuses two sources with one id', () => {
    const ledger = new MatLedger();
    expect(() => createGraph({ sources: [new FakeSource(ledger, { frames: 1 }, 'x'), new FakeSource(ledger, { frames: 1 }, 'x')], processor: new FakeProcessor(ledger), sinks: [], inFlight: 1 })).toThrow(/same id/);
  });
});
