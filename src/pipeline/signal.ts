/**
 * The drivable-area signal: one JSON object per frame, identical on every transport (JSONL file,
 * stdout, websocket). Versioned: consumers must check `v`; fields are only added within a version.
 */
import type { Provider } from '../engine/devices.js';
import type { EdgeSample } from '../stages/analyse.js';
import type { FrameMeta, PipelineContext, ProcessedFrame } from './types.js';

export const signalVersion = 1 as const;

export interface SignalMessage {
  v: typeof signalVersion;
  type: 'signal';
  source: string;
  frame: number;
  ptsMs: number;
  /** Capture wall time, ms since the epoch. */
  captureTime: number;
  /** Capture to signal, ms. */
  latencyMs: number;
  /** 'ok', or for live sources 'stale' (the source is reconnecting; values are not repeated). */
  status: 'ok' | 'stale';
  model: string;
  device: Provider;
  drivablePct: number | null;
  egoCorridorPct: number | null;
  roadEdges: EdgeSample[];
  histogram: Record<string, number>;
}

export function signalOf(f: Omit<ProcessedFrame, 'signal'>, ctx: PipelineContext, nowMs = Date.now()): SignalMessage {
  return {
    ...header(f.meta, ctx, nowMs),
    status: 'ok',
    drivablePct: f.summary.drivablePct,
    egoCorridorPct: f.summary.egoCorridorPct,
    roadEdges: f.summary.roadEdges,
    histogram: f.summary.histogram,
  };
}

/** A frame time at which the source had no picture: the values are null, never repeated. */
export function staleSignal(meta: FrameMeta, ctx: PipelineContext, nowMs = Date.now()): SignalMessage {
  return { ...header(meta, ctx, nowMs), status: 'stale', drivablePct: null, egoCorridorPct: null, roadEdges: [], histogram: {} };
}

function header(meta: FrameMeta, ctx: PipelineContext, nowMs: number) {
  return {
    v: signalVersion,
    type: 'signal' as const,
    source: meta.sourceId,
    frame: meta.index,
    ptsMs: Math.round(meta.ptsMs * 1000) / 1000,
    captureTime: meta.captureTimeMs,
    latencyMs: Math.round((nowMs - meta.captureTimeMs) * 100) / 100,
    model: ctx.manifest.id,
    device: ctx.device,
  };
}
