// Road statistics over a signal: distributions, blocked time and spans, stale and low-confidence counts.
import { describe, expect, it } from 'vitest';
import type { SignalMessage } from '../../src/core/signal.js';
import { RoadStats, formatRoadSummary } from '../../src/stages/road-stats.js';

const signal = (frame: number, corridor: number | null, status = corridor === null ? 'stale' : 'ok', extra: object = {}) =>
  ({ v: 1, type: 'signal', source: 's', frame, ptsMs: frame * 100, captureTime: 0, latencyMs: 1, status, model: 'm', device: 'cpu', drivablePct: corridor === null ? null : corridor / 2, egoCorridorPct: corridor, roadEdges: [], histogram: {}, ...extra }) as unknown as SignalMessage;

describe('RoadStats', () => {
  it('summarises a run: percentiles, time and spans below the threshold, stale and low-confidence frames', () => {
    const r = new RoadStats(50);
    const corridor = [90, 80, 40, 30, 45, 70, null, null, 60, 20, 10, 'low'];
    corridor.forEach((c, i) => r.add(c === 'low' ? signal(i, 55, 'low-confidence', { confidence: 0.3, lanes: [{}, {}] }) : signal(i, c as number | null)));
    const s = r.summary();
    expect(s).toMatchObject({ frames: 12, stale: 2, lowConfidence: 1, blockedFrames: 5, blockedSpans: 2, blockedBelowPct: 50 });
    // Frames 2-4 (0.3 s) and 9-10 (0.2 s), 0.1 s each.
    expect(s.blockedS).toBeCloseTo(0.5, 6);
    expect(s.egoCorridorPct).toEqual({ mean: 50, min: 10, p5: 10, p50: 45, p95: 90, max: 90 });
    expect(s.drivablePct!.max).toBe(45);
    expect(r.spans).toEqual([
      { fromFrame: 2, toFrame: 4, fromS: 0.2, toS: 0.5, minPct: 30 },
      { fromFrame: 9, toFrame: 10, fromS: 0.9, toS: 1.1, minPct: 10 },
    ]);
    expect(r.series.at(-1)).toMatchObject({ frame: 11, confidence: 0.3, lanes: 2 });
    expect(r.series[6]).toMatchObject({ egoCorridorPct: null, confidence: null, lanes: null });
    expect(formatRoadSummary(s)[1]).toBe('road: ego corridor below 50 % for 0.5 s (5 frames, 2 spans); 1 low-confidence frame, 2 stale frames');
  });

  it('keeps memory bounded: the series is thinned evenly', () => {
    const r = new RoadStats(50);
    for (let i = 0; i < 10_000; i++) r.add(signal(i, 60));
    expect(r.series.length).toBeLessThanOrEqual(4000);
    expect(r.series[1]!.frame - r.series[0]!.frame).toBe(r.series[2]!.frame - r.series[1]!.frame);
    expect(r.summary().frames).toBe(10_000);
  });
});
