/** The graph driven by fake sources, processors and sinks: no OpenCV, no model. */
import { describe, expect, it } from 'vitest';
import { createGraph, type GraphParts } from '../../src/pipeline/graph.js';
import { FakeProcessor, FakeSource, MatLedger, RecordingSink, sleep } from './fakes/parts.js';

function graph(parts: Partial<GraphParts> & { source: FakeSource }, ledger: MatLedger) {
  const { source, ...rest } = parts;
  return createGraph({ sources: [source], processor: new FakeProcessor(ledger), sinks: [], inFlight: 3, ...rest });
}

/** Frames read from the source and not yet out of the graph, sampled at every read and exit. */
function trackInFlight(source: FakeSource, handle: ReturnType<typeof createGraph>) {
  let outstanding = 0;
  let max = 0;
  const read = source.read.bind(source);
  source.read = async () => {
    const f = await read();
    if (f && !('stale' in f)) max = Math.max(max, ++outstanding);
    return f;
  };
  handle.results.subscribe({ next: () => outstanding--, error: () => {} });
  return () => max;
}

describe('graph: backpressure', () => {
  for (const [label, writeMs] of [
    ['fast sinks', 0],
    ['a slow sink', 15],
  ] as const) {
    it(`never holds more than inFlight frames decoded and not finalised, with ${label}`, async () => {
      const ledger = new MatLedger();
      const source = new FakeSource(ledger, { frames: 30 });
      const sink = new RecordingSink('video', 'every', { writeMs });
      const inFlight = 2;
      const g = graph({ source, sinks: [sink], inFlight, processor: new FakeProcessor(ledger, { inferMs: 2 }) }, ledger);
      const maxInFlight = trackInFlight(source, g);
      const summary = await g.run();
      expect(summary.framesOut).toBe(30);
      expect(maxInFlight()).toBeLessThanOrEqual(inFlight);
      expect(maxInFlight()).toBeGreaterThan(0);
    });
  }
});

describe('graph: sink policies', () => {
  it('every sinks see every frame in order, latest sinks never block and count what they skip', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 40 });
    const every = new RecordingSink('video', 'every');
    const slowLatest = new RecordingSink('window', 'latest', { writeMs: 30 });
    const g = graph({ source, sinks: [every, slowLatest] }, ledger);
    const summary = await g.run();
    expect(every.frames).toEqual([...Array(40).keys()]);
    // The slow sink got the first frame, then only the newest ones; each skip is counted.
    expect(slowLatest.frames.length).toBeLessThan(40);
    expect(slowLatest.concurrentWrites).toBe(0);
    expect(slowLatest.frames).toEqual([...slowLatest.frames].sort((a, b) => a - b));
    expect(summary.drops['window busy']).toBe(40 - slowLatest.frames.length);
  });

  it('latest sinks with a signal get every frame\'s signal even when they skip its image', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 20 });
    const ws = new RecordingSink('websocket', 'latest', { writeMs: 20, carriesSignal: true });
    await graph({ source, sinks: [ws] }, ledger).run();
    expect(ws.signals.map((s) => s.frame)).toEqual([...Array(20).keys()]);
    expect(ws.frames.length).toBeLessThan(20);
  });
});

describe('graph: native memory', () => {
  it('releases every Mat exactly once, and never before a sink is done with it', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 25 });
    const every = new RecordingSink('video', 'every', { writeMs: 1 });
    const latest = new RecordingSink('window', 'latest', { writeMs: 7 });
    let kept: (() => void) | undefined;
    // A sink that keeps frame 3 beyond its write, as the websocket encoder does.
    const keeper = new RecordingSink('websocket', 'latest', { onWrite: (f) => f.meta.index === 3 && (kept = f.retain()) });
    await graph({ source, sinks: [every, latest, keeper] }, ledger).run();
    expect(every.sawReleased).toEqual([]);
    expect(latest.sawReleased).toEqual([]);
    expect(ledger.doubleReleases).toEqual([]);
    expect(ledger.live).toBe(keeper.frames.includes(3) ? 2 : 0);
    kept?.();
    kept?.();
    expect(ledger.live).toBe(0);
    expect(ledger.doubleReleases).toEqual([]);
  });

  it('releases the frames a live source drops and those skipped after a failure', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 30, live: true, intervalMs: 1 });
    await graph({ source, processor: new FakeProcessor(ledger, { inferMs: 8, failInferAt: 10 }) }, ledger)
      .run()
      .catch(() => {});
    await sleep(20);
    expect(ledger.doubleReleases).toEqual([]);
    expect(ledger.live).toBe(0);
  });
});

describe('graph: failures and stops', () => {
  it('a failure on frame k delivers frames before k and finalises every sink once', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 20 });
    const video = new RecordingSink('video', 'every');
    const window = new RecordingSink('window', 'latest');
    const g = graph({ source, sinks: [video, window], processor: new FakeProcessor(ledger, { failInferAt: 5 }) }, ledger);
    await expect(g.run()).rejects.toThrow(/stage "analyse" failed on frame 5 of fake: analysis broke on frame 5/);
    expect(video.frames).toEqual([0, 1, 2, 3, 4]);
    expect([video.closed, window.closed, source.closed]).toEqual([1, 1, 1]);
    expect(ledger.live).toBe(0);
  });

  it('a sink failure on frame k stops the run after the frames before it', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 20 });
    const video = new RecordingSink('video', 'every', { failAt: 7 });
    const signal = new RecordingSink('signal', 'every');
    await expect(graph({ source, sinks: [signal, video] }, ledger).run()).rejects.toThrow(/sink video broke on frame 7/);
    expect(video.frames).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(video.closed).toBe(1);
  });

  it('a source failure ends the input: frames read before it reach the sinks', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 20, failAt: 6 });
    const video = new RecordingSink('video', 'every');
    await expect(graph({ source, sinks: [video] }, ledger).run()).rejects.toThrow(/source broke at 6/);
    expect(video.frames).toEqual([0, 1, 2, 3, 4, 5]);
    expect(video.closed).toBe(1);
  });

  it('a graceful stop lets the frames in flight reach the sinks', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 1000 });
    const video = new RecordingSink('video', 'every', { writeMs: 2 });
    const g = graph({ source, sinks: [video], processor: new FakeProcessor(ledger, { inferMs: 2 }) }, ledger);
    g.results.subscribe((f) => f.meta.index === 9 && g.stop());
    const summary = await g.run();
    // Every frame decoded before the stop was written, in order, and nothing after.
    expect(video.frames).toEqual([...Array(video.frames.length).keys()]);
    expect(video.frames.length).toBe(source.read$);
    expect(video.frames.length).toBeGreaterThanOrEqual(10);
    expect(video.frames.length).toBeLessThanOrEqual(10 + 3);
    expect(summary.framesOut).toBe(video.frames.length);
    expect(video.closed).toBe(1);
    expect(ledger.live).toBe(0);
  });

  it('an abort abandons the frames in flight and still finalises the sinks', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 1000 });
    const video = new RecordingSink('video', 'every', { writeMs: 20 });
    const g = graph({ source, sinks: [video] }, ledger);
    g.results.subscribe((f) => f.meta.index === 2 && g.abort());
    await g.run();
    expect(video.frames.length).toBe(3);
    expect(source.read$).toBeGreaterThan(video.frames.length);
    expect(video.closed).toBe(1);
    expect(source.closed).toBe(1);
  });
});

describe('graph: live sources', () => {
  it('sends a stale signal for each frame time without a picture, and none of its values', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 12, live: false, staleAt: [4, 5, 6] });
    const signal = new RecordingSink('signal', 'every', { carriesSignal: true });
    const video = new RecordingSink('video', 'every');
    const summary = await graph({ source, sinks: [signal, video] }, ledger).run();
    expect(signal.signals.map((s) => [s.frame, s.status, s.drivablePct])).toEqual([
      [4, 'stale', null],
      [5, 'stale', null],
      [6, 'stale', null],
    ]);
    expect(video.frames).toEqual([0, 1, 2, 3, 7, 8, 9, 10, 11]);
    expect(summary.framesIn).toBe(9);
    expect(summary.drops['source offline']).toBe(3);
  });

  it('keeps each source\'s signal in frame order when stale ticks arrive while pictures are in flight', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 14, staleAt: [5, 6, 7, 8] });
    const sequence: number[] = [];
    const signal: RecordingSink = new RecordingSink('signal', 'every', { carriesSignal: true, onWrite: (f) => sequence.push(f.signal.frame) });
    signal.writeSignal = (m) => void sequence.push(m.frame);
    await graph({ source, sinks: [signal], inFlight: 4, processor: new FakeProcessor(ledger, { inferMs: 15 }) }, ledger).run();
    expect(sequence).toEqual([...Array(14).keys()]);
  });

  it('keeps the freshest frame of a live source and counts the frames it dropped', async () => {
    const ledger = new MatLedger();
    const source = new FakeSource(ledger, { frames: 40, live: true, intervalMs: 1 });
    const video = new RecordingSink('video', 'every');
    const summary = await graph({ source, sinks: [video], processor: new FakeProcessor(ledger, { inferMs: 10 }) }, ledger).run();
    expect(video.frames.length).toBeLessThan(40);
    expect(summary.framesIn).toBe(40);
    expect(summary.framesIn - summary.framesOut).toBe(summary.drops['pipeline busy (freshest frame kept)']);
    expect(video.frames).toEqual([...video.frames].sort((a, b) => a - b));
    expect(ledger.live).toBe(0);
  });
});
