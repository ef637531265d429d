// The health rule and the exposition of LiveMetrics, on a fake clock.
import { describe, expect, it } from 'vitest';
import type { PipelineContext, ProcessedFrame } from '../../src/core/sink.js';
import type { SignalMessage } from '../../src/core/signal.js';
import { LiveMetrics } from '../../src/sinks/live-metrics.js';
import { parsePrometheus } from '../helpers/prometheus.js';

const oneSource = { stream: { fps: 25, sourceId: 'cam' }, streams: [{ fps: 25, sourceId: 'cam' }], stats: { framesIn: 3, framesOut: 3, drops: new Map([['stream offline, reconnecting', 2]]) } } as unknown as PipelineContext;
const twoSources = { stream: { fps: 25, sourceId: 'cam' }, streams: [{ fps: 25, sourceId: 'cam' }, { fps: 25, sourceId: 'rear' }], stats: { framesIn: 3, framesOut: 3, drops: new Map([['stream offline, reconnecting', 2]]) } } as unknown as PipelineContext;
const frame = { meta: { sourceId: 'cam' }, timings: { queueMs: 1, preprocessMs: 2, inferMs: 30, analyseMs: 3, renderMs: 4, sinksMs: 0 } } as unknown as ProcessedFrame;
const signal = (status: 'ok' | 'stale', pct: number | null, sourceState?: 'stale' | 'offline') => ({ source: 'cam', status, ...(sourceState && { sourceState }), latencyMs: 40, drivablePct: pct, egoCorridorPct: pct }) as SignalMessage;

describe('LiveMetrics', () => {
  it('is healthy while frames flow, and not before, while the source is stale or offline, after a stall, or at the end', () => {
    let now = 1000;
    const m = new LiveMetrics(() => now);
    expect(m.health().ok).toBe(false);
    m.open(oneSource);
    expect(m.health()).toEqual({ ok: false, status: 'starting: no frame yet' });
    m.frame(frame);
    m.signal(signal('ok', 50));
    expect(m.health().ok).toBe(true);
    expect(parsePrometheus(m.prometheus()).value('roadseg_source_online', { source: 'cam' })).toBe(1);
    now += 1000;
    m.signal(signal('stale', null, 'stale'));
    expect(m.health()).toEqual({ ok: false, status: 'stale: no frame for a while' });
    expect(parsePrometheus(m.prometheus()).value('roadseg_source_online', { source: 'cam' })).toBe(0);
    now += 3000;
    m.signal(signal('stale', null, 'offline'));
    expect(m.health()).toEqual({ ok: false, status: 'offline: reconnecting' });
    expect(parsePrometheus(m.prometheus()).value('roadseg_source_online', { source: 'cam' })).toBe(0);
    now += 100;
    m.frame(frame);
    m.signal(signal('ok', 50));
    expect(m.health().ok).toBe(true);
    now += 6000;
    expect(m.health().ok).toBe(false);
    expect(m.health().status).toMatch(/^stalled: nothing for 6\.0 s/);
    m.end();
    expect(m.health().status).toBe('stream ended');
  });

  it('exposes the graph counters, a histogram per stage, and NaN road values while offline', () => {
    let now = 0;
    const m = new LiveMetrics(() => now);
    m.open(twoSources);
    for (let i = 0; i < 3; i++, now += 100) m.frame(frame), m.signal(signal('ok', 60));
    m.signal(signal('stale', null));
    m.gauge('roadseg_websocket_clients', 'clients', () => 2);
    const e = parsePrometheus(m.prometheus());
    expect(e.value('roadseg_frames_total')).toBe(3);
    expect(e.value('roadseg_dropped_frames_total', { cause: 'stream offline, reconnecting' })).toBe(2);
    expect(e.value('roadseg_stage_latency_seconds_bucket', { stage: 'infer', le: '0.025' })).toBe(0);
    expect(e.value('roadseg_stage_latency_seconds_bucket', { stage: 'infer', le: '0.05' })).toBe(3);
    expect(e.value('roadseg_stage_latency_seconds_count', { stage: 'total' })).toBe(3);
    expect(e.value('roadseg_fps')).toBe(10);
    expect(e.value('roadseg_source_online', { source: 'cam' })).toBe(0);
    expect(e.value('roadseg_ego_corridor_percent', { source: 'cam' })).toBeNaN();
    expect(e.value('roadseg_source_frames_total', { source: 'cam' })).toBe(3);
    // A source without frames yet is listed, offline, rather than missing.
    expect(e.value('roadseg_source_frames_total', { source: 'rear' })).toBe(0);
    expect(e.value('roadseg_drivable_percent', { source: 'rear' })).toBeNaN();
    expect(e.value('roadseg_source_online')).toBeUndefined();
    expect(e.value('roadseg_websocket_clients')).toBe(2);
  });
});
