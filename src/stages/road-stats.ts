/**
 * Statistics of the drivable-area signal over a run: distributions of drivable % and ego corridor %,
 * the time and the spans in which the ego corridor was below a threshold ("blocked"), and counts of
 * stale and low-confidence frames. Memory is bounded whatever the run's length: percentiles come
 * from 0.1 %-wide bins, the plotted series is thinned by halving, spans are capped.
 */
import type { SignalMessage } from '../core/signal.js';
import { plural } from '../util/text.js';

/** Points kept for plots, at most (halved when exceeded, so they stay evenly spread). */
const maxSeriesPoints = 4000;
const maxSpans = 1000;
const bins = 1001;

export interface Distribution {
  mean: number;
  min: number;
  p5: number;
  p50: number;
  p95: number;
  max: number;
}

export interface BlockedSpan {
  fromFrame: number;
  toFrame: number;
  fromS: number;
  /** Seconds, to the frame after the span (or the last frame plus one interval). */
  toS: number;
  /** Lowest ego corridor % in the span. */
  minPct: number;
}

/** One frame of the plotted series; values are null for stale frames or absent fields. */
export interface SeriesPoint {
  frame: number;
  s: number;
  drivablePct: number | null;
  egoCorridorPct: number | null;
  confidence: number | null;
  lanes: number | null;
}

export interface RoadSummary {
  /** Signals seen: frames with a picture and stale ticks. */
  frames: number;
  stale: number;
  lowConfidence: number;
  drivablePct: Distribution | null;
  egoCorridorPct: Distribution | null;
  blockedBelowPct: number;
  /** Seconds with the ego corridor below the threshold. */
  blockedS: number;
  blockedFrames: number;
  blockedSpans: number;
}

/** Fields other versions of the signal may carry; read only when present. */
interface OptionalFields {
  confidence?: unknown;
  lanes?: unknown;
}

class Values {
  private readonly hist = new Uint32Array(bins);
  n = 0;
  private sum = 0;
  min = Infinity;
  max = -Infinity;

  add(v: number): void {
    this.n++;
    this.sum += v;
    this.min = Math.min(this.min, v);
    this.max = Math.max(this.max, v);
    this.hist[Math.max(0, Math.min(bins - 1, Math.round(v * 10)))]!++;
  }

  distribution(): Distribution | null {
    if (!this.n) return null;
    const q = (p: number) => {
      const rank = Math.max(1, Math.ceil(p * this.n));
      let seen = 0;
      for (let i = 0; i < bins; i++) if ((seen += this.hist[i]!) >= rank) return i / 10;
      return this.max;
    };
    const r = (x: number) => Math.round(x * 10) / 10;
    return { mean: r(this.sum / this.n), min: r(this.min), p5: q(0.05), p50: q(0.5), p95: q(0.95), max: r(this.max) };
  }
}

const numberOr = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Lanes as a count: an array of lanes, or an object with a `count`. */
function laneCount(lanes: unknown): number | null {
  if (Array.isArray(lanes)) return lanes.length;
  if (lanes && typeof lanes === 'object' && 'count' in lanes) return numberOr((lanes as { count: unknown }).count);
  return null;
}

export class RoadStats {
  private readonly drivable = new Values();
  private readonly corridor = new Values();
  private frames = 0;
  private stale = 0;
  private lowConfidence = 0;
  private blockedMs = 0;
  private blockedFrames = 0;
  private spanCount = 0;
  readonly spans: BlockedSpan[] = [];
  private open: BlockedSpan | undefined;
  private previous: { ptsMs: number; s: number; blocked: boolean } | undefined;
  private lastIntervalMs = 0;
  private firstPtsMs: number | undefined;
  private seriesStep = 1;
  readonly series: SeriesPoint[] = [];

  constructor(readonly blockedBelowPct: number) {}

  add(signal: SignalMessage): void {
    // The marker a failed source leaves once, when it stops, is not a frame.
    if (signal.status === 'ended') return;
    this.frames++;
    this.firstPtsMs ??= signal.ptsMs;
    const s = (signal.ptsMs - this.firstPtsMs) / 1000;
    // Time is counted per frame, up to the next one.
    if (this.previous) {
      this.lastIntervalMs = Math.max(0, signal.ptsMs - this.previous.ptsMs);
      if (this.previous.blocked) this.blockedMs += this.lastIntervalMs;
    }
    const extra = signal as SignalMessage & OptionalFields;
    const confidence = numberOr(extra.confidence);
    const status: string = signal.status;
    if (status === 'stale') this.stale++;
    if (status === 'low-confidence') this.lowConfidence++;
    const corridor = signal.egoCorridorPct;
    if (signal.drivablePct !== null) this.drivable.add(signal.drivablePct);
    if (corridor !== null) this.corridor.add(corridor);
    const blocked = corridor !== null && corridor < this.blockedBelowPct;
    if (blocked) {
      this.blockedFrames++;
      if (this.open) {
        this.open.toFrame = signal.frame;
        this.open.minPct = Math.min(this.open.minPct, corridor);
      } else {
        this.open = { fromFrame: signal.frame, toFrame: signal.frame, fromS: s, toS: s, minPct: corridor };
        this.spanCount++;
        if (this.spans.length < maxSpans) this.spans.push(this.open);
      }
    } else if (this.open) {
      this.open.toS = s;
      this.open = undefined;
    }
    this.previous = { ptsMs: signal.ptsMs, s, blocked };
    if ((this.frames - 1) % this.seriesStep === 0) {
      this.series.push({ frame: signal.frame, s: Math.round(s * 1000) / 1000, drivablePct: signal.drivablePct, egoCorridorPct: corridor, confidence, lanes: laneCount(extra.lanes) });
      if (this.series.length > maxSeriesPoints) this.thin();
    }
  }

  summary(): RoadSummary {
    // The last frame lasts one interval.
    const tail = this.previous?.blocked ? this.lastIntervalMs : 0;
    if (this.open && this.previous) this.open.toS = this.previous.s + tail / 1000;
    return {
      frames: this.frames,
      stale: this.stale,
      lowConfidence: this.lowConfidence,
      drivablePct: this.drivable.distribution(),
      egoCorridorPct: this.corridor.distribution(),
      blockedBelowPct: this.blockedBelowPct,
      blockedS: Math.round(this.blockedMs + tail) / 1000,
      blockedFrames: this.blockedFrames,
      blockedSpans: this.spanCount,
    };
  }

  private thin(): void {
    this.seriesStep *= 2;
    let o = 0;
    for (let i = 0; i < this.series.length; i += 2) this.series[o++] = this.series[i]!;
    this.series.length = o;
  }
}

/** The road part of the text summary, one or two lines. */
export function formatRoadSummary(r: RoadSummary): string[] {
  const dist = (name: string, d: Distribution | null) => (d ? `${name} % mean ${d.mean.toFixed(1)}, min ${d.min.toFixed(1)}, p5 ${d.p5.toFixed(1)}, median ${d.p50.toFixed(1)}, p95 ${d.p95.toFixed(1)}` : `${name} % n/a`);
  return [
    `road: ${dist('drivable', r.drivablePct)}; ${dist('ego corridor', r.egoCorridorPct)}`,
    `road: ego corridor below ${r.blockedBelowPct} % for ${r.blockedS.toFixed(1)} s (${plural(r.blockedFrames, 'frame')}, ${plural(r.blockedSpans, 'span')}); ${plural(r.lowConfidence, 'low-confidence frame')}, ${plural(r.stale, 'stale frame')}`,
  ];
}
