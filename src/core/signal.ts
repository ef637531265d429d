/**
 * The drivable-area signal: one JSON object per frame, identical on every transport (JSONL file,
 * stdout, websocket). Versioned: consumers must check `v`; fields are only added within a version.
 */
import type { CameraHealth, DrivableSummary, EdgeSample } from './analysis.js';
import type { FrameMeta, SourceState } from './frame.js';
import type { Precision, Provider } from './model.js';

export const signalVersion = 1 as const;

/**
 * A frame's provenance as every message about it carries it (the signal, and the websocket's
 * images and class maps), so that a consumer can match them field for field.
 */
export interface FrameStamp {
  /** The source's id. */
  source: string;
  /** The frame's index in its source. */
  frame: number;
  /** Presentation time in the source, ms (to the microsecond). */
  ptsMs: number;
  /** Capture wall time, ms since the epoch. */
  captureTime: number;
}

const jsonOf = new WeakMap<SignalMessage, string>();

/**
 * The message as its JSON text, made once however many sinks send it: the JSONL line (without its
 * newline), the MQTT payload, the Redis entry and the websocket message are the same bytes.
 */
export function signalJson(message: SignalMessage): string {
  let json = jsonOf.get(message);
  if (json === undefined) jsonOf.set(message, (json = JSON.stringify(message)));
  return json;
}

export function stampOf(meta: FrameMeta): FrameStamp {
  return { source: meta.sourceId, frame: meta.index, ptsMs: Math.round(meta.ptsMs * 1000) / 1000, captureTime: meta.captureTimeMs };
}

export interface SignalMessage extends FrameStamp {
  v: typeof signalVersion;
  type: 'signal';
  /** Capture to signal, ms. */
  latencyMs: number;
  /**
   * 'ok'; 'low-confidence' (confidence below the configured threshold, values still given);
   * 'camera-fault' (the picture is frozen, too dark, washed out or blurred: see `camera`); 'stale'
   * while a live source is reconnecting (values are null, never repeated); 'ended' once, when a
   * source of a run with several sources failed and stopped (the others go on).
   */
  status: 'ok' | 'low-confidence' | 'camera-fault' | 'stale' | 'ended';
  /** With status 'stale': the source's state, 'stale' (no frame for a while) then 'offline' (reconnecting). Added within v1. */
  sourceState?: Exclude<SourceState, 'online'>;
  model: string;
  device: Provider;
  /** The scene model's weight precision. */
  precision: Precision;
  /** Id of the model whose head gave drivablePct, egoCorridorPct and roadEdges (a --drivable-model, else `model`). */
  drivableSource: string;
  drivablePct: number | null;
  egoCorridorPct: number | null;
  roadEdges: EdgeSample[];
  /** Only where a lanes head ran: at the rows of roadEdges, the x (fraction of the width) of the nearest lane line left and right of the corridor centre, null where none. */
  lanes?: EdgeSample[];
  histogram: Record<string, number>;
  /** How sure the drivable fields are, 0..1 (null when stale). Added within v1. */
  confidence: number | null;
  /** Per column band, left to right: how far up the drivable surface reaches, fraction of the height (0 = top). Added within v1. */
  freeSpace: number[];
  /** Where the vehicle's hood starts, fraction of the height; 1 when there is none (null when stale). Added within v1. */
  hoodY: number | null;
  /** The camera's health as the picture shows it (null when stale). Added within v1. */
  camera: CameraHealth | null;
}

/** What produced the values: the model, the device and precision it ran in, the drivable area's model. */
export interface SignalOrigin {
  model: string;
  device: Provider;
  precision: Precision;
  drivableSource: string;
}

export function signalOf(meta: FrameMeta, summary: DrivableSummary, origin: SignalOrigin, nowMs = Date.now()): SignalMessage {
  return {
    ...header(meta, origin, nowMs),
    status: summary.status,
    drivablePct: summary.drivablePct,
    egoCorridorPct: summary.egoCorridorPct,
    roadEdges: summary.roadEdges,
    ...(summary.lanes && { lanes: summary.lanes }),
    histogram: summary.histogram,
    confidence: summary.confidence,
    freeSpace: summary.freeSpace,
    hoodY: summary.hoodY,
    camera: summary.camera,
  };
}

/** The state of its source a message gives: a stale message's own (offline when it names none), `ended` for the marker. */
export function sourceStateOf(message: SignalMessage): SourceState | 'ended' {
  if (message.status === 'stale') return message.sourceState ?? 'offline';
  return message.status === 'ended' ? 'ended' : 'online';
}

/** A frame time at which the source had no picture (or no longer has one): null values, never repeated. */
export function staleSignal(meta: FrameMeta, origin: SignalOrigin, nowMs = Date.now(), status: 'stale' | 'ended' = 'stale', sourceState?: Exclude<SourceState, 'online'>): SignalMessage {
  return { ...header(meta, origin, nowMs), status, ...(sourceState && { sourceState }), drivablePct: null, egoCorridorPct: null, roadEdges: [], histogram: {}, confidence: null, freeSpace: [], hoodY: null, camera: null };
}

function header(meta: FrameMeta, origin: SignalOrigin, nowMs: number) {
  return {
    v: signalVersion,
    type: 'signal' as const,
    ...stampOf(meta),
    latencyMs: Math.round((nowMs - meta.captureTimeMs) * 100) / 100,
    model: origin.model,
    device: origin.device,
    precision: origin.precision,
    drivableSource: origin.drivableSource,
  };
}
