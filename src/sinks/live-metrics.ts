/**
 * Live metrics of a running pipeline, as a sink sees them: `GET /metrics` in the Prometheus text
 * format (version 0.0.4) and `GET /healthz`. Fed by the sink that serves them (each frame and each
 * signal, stale ones included); the graph's own counters (frames, drops by cause) come through the
 * pipeline context.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PipelineContext, ProcessedFrame } from '../core/sink.js';
import { sourceStateOf, type SignalMessage } from '../core/signal.js';
import type { SourceState } from '../core/frame.js';
import { sendText, type AccessRules, type Route } from './http-endpoint.js';

/** Histogram bounds of the stage latencies, seconds. */
const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Per-frame stages, from the frame's timings; `total` is capture to signal. */
const stages = ['queue', 'preprocess', 'infer', 'analyse', 'render', 'total'] as const;
type Stage = (typeof stages)[number];
/** The frame rate is measured over this window. */
const fpsWindowMs = 5000;
/** No frame and no stale tick for this long (and at least 10 frame intervals): unhealthy. */
const healthyGapMs = 5000;

class Histogram {
  readonly counts = new Array<number>(latencyBuckets.length).fill(0);
  count = 0;
  sum = 0;
  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const i = latencyBuckets.findIndex((b) => seconds <= b);
    if (i >= 0) this.counts[i]!++;
  }
}

export interface Health {
  ok: boolean;
  /** One line for people: why it is (un)healthy. */
  status: string;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** One source's own series: labelled `source="id"`, so that several sources do not overwrite each other. */
interface SourceSeries {
  frames: number;
  drivablePct: number | null;
  egoCorridorPct: number | null;
}
const newSeries = (): SourceSeries => ({ frames: 0, drivablePct: null, egoCorridorPct: null });

export class LiveMetrics {
  private context: PipelineContext | undefined;
  private readonly latency = new Map<Stage, Histogram>(stages.map((s) => [s, new Histogram()]));
  private framesSeen = 0;
  private readonly recent: number[] = [];
  private lastFrameAt = 0;
  private lastStaleAt = 0;
  /** Each source's state as its last signal message gave it: the one state /healthz and roadseg_source_online read. */
  private readonly states = new Map<string, SourceState | 'ended'>();
  private ended = false;
  private readonly sources = new Map<string, SourceSeries>();
  /** Other gauges of the serving sink (websocket clients). */
  private readonly gauges = new Map<string, { help: string; value: () => number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Adds a gauge to the exposition (e.g. `roadseg_websocket_clients`). */
  gauge(name: string, help: string, value: () => number): void {
    this.gauges.set(name, { help, value });
  }

  open(ctx: PipelineContext): void {
    this.context = ctx;
    this.ended = false;
    // Every source of the run is listed from the start (offline, NaN) rather than appearing at its first frame.
    for (const { sourceId } of ctx.streams) if (!this.sources.has(sourceId)) this.sources.set(sourceId, newSeries());
  }

  private seriesOf(source: string): SourceSeries {
    let series = this.sources.get(source);
    if (!series) this.sources.set(source, (series = newSeries()));
    return series;
  }

  /** The stream has ended (the sink is closing). */
  end(): void {
    this.ended = true;
  }

  frame(frame: ProcessedFrame): void {
    const t = frame.timings;
    const ms: Record<Exclude<Stage, 'total'>, number> = { queue: t.queueMs, preprocess: t.preprocessMs, infer: t.inferMs, analyse: t.analyseMs, render: t.renderMs };
    for (const [stage, v] of Object.entries(ms)) this.latency.get(stage as Stage)!.observe(v / 1000);
    this.framesSeen++;
    this.seriesOf(frame.meta.sourceId).frames++;
    const now = this.now();
    this.recent.push(now);
    while (this.recent.length && this.recent[0]! < now - fpsWindowMs) this.recent.shift();
    this.lastFrameAt = now;
  }

  signal(message: SignalMessage): void {
    const state = sourceStateOf(message);
    this.states.set(message.source, state);
    if (state === 'online') this.latency.get('total')!.observe(message.latencyMs / 1000);
    else this.lastStaleAt = this.now();
    const series = this.seriesOf(message.source);
    series.drivablePct = message.drivablePct;
    series.egoCorridorPct = message.egoCorridorPct;
  }

  /** Frames per second over the last few seconds (0 when none came). */
  fps(): number {
    const now = this.now();
    const r = this.recent.filter((t) => t >= now - fpsWindowMs);
    if (r.length < 2) return 0;
    return (r.length - 1) / ((r[r.length - 1]! - r[0]!) / 1000);
  }

  /**
   * Healthy while every source delivers pictures: a source that is stale (no frame for a while) or
   * offline (reconnecting) is unhealthy, as its signal and `roadseg_source_online` say; so is a
   * pipeline from which nothing at all came for a while (it is stuck, whatever its source does).
   * A source of several that failed and ended is left out while others go on.
   */
  health(): Health {
    if (this.ended) return { ok: false, status: 'stream ended' };
    if (!this.context || (!this.lastFrameAt && !this.lastStaleAt)) return { ok: false, status: 'starting: no frame yet' };
    const fps = this.context.stream.fps;
    const gap = Math.max(healthyGapMs, 10_000 / fps);
    const now = this.now();
    const quiet = now - Math.max(this.lastFrameAt, this.lastStaleAt);
    if (quiet > gap) return { ok: false, status: `stalled: nothing for ${(quiet / 1000).toFixed(1)} s` };
    const states = this.context.streams.map((s) => [s.sourceId, this.states.get(s.sourceId)] as const).filter(([, st]) => st !== 'ended');
    if (states.length === 0) return { ok: false, status: 'stream ended' };
    const down = states.filter(([, st]) => st !== 'online');
    if (down.length === 0) return { ok: true, status: 'ok: frames flowing' };
    const several = this.context.streams.length > 1;
    return { ok: false, status: down.map(([id, st]) => `${st === 'stale' ? 'stale: no frame for a while' : st === 'offline' ? 'offline: reconnecting' : 'starting: no frame yet'}${several ? ` (${id})` : ''}`).join('; ') };
  }

  /** The exposition in the Prometheus text format. */
  prometheus(): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [labels: string, value: number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${name}${labels} ${Number.isFinite(value) ? value : 'NaN'}`);
    };
    const stats = this.context?.stats;
    metric('roadseg_frames_total', 'counter', 'Frames through the pipeline.', [['', stats?.framesOut ?? this.framesSeen]]);
    const drops = [...(stats?.drops ?? new Map<string, number>())].map(([cause, n]): [string, number] => [`{cause="${escapeLabel(cause)}"}`, n]);
    metric('roadseg_dropped_frames_total', 'counter', 'Frames dropped, by cause.', drops);
    metric('roadseg_fps', 'gauge', 'Frames per second over the last 5 s.', [['', Math.round(this.fps() * 100) / 100]]);
    out.push('# HELP roadseg_stage_latency_seconds Time per frame in each stage (total: capture to signal).', '# TYPE roadseg_stage_latency_seconds histogram');
    for (const [stage, h] of this.latency) {
      let cumulative = 0;
      latencyBuckets.forEach((b, i) => {
        cumulative += h.counts[i]!;
        out.push(`roadseg_stage_latency_seconds_bucket{stage="${stage}",le="${b}"} ${cumulative}`);
      });
      out.push(`roadseg_stage_latency_seconds_bucket{stage="${stage}",le="+Inf"} ${h.count}`);
      out.push(`roadseg_stage_latency_seconds_sum{stage="${stage}"} ${Math.round(h.sum * 1e6) / 1e6}`);
      out.push(`roadseg_stage_latency_seconds_count{stage="${stage}"} ${h.count}`);
    }
    const perSource = (value: (s: SourceSeries, id: string) => number): [string, number][] => [...this.sources].map(([id, s]) => [`{source="${escapeLabel(id)}"}`, value(s, id)]);
    metric('roadseg_source_frames_total', 'counter', 'Frames of each source through the pipeline.', perSource((s) => s.frames));
    metric('roadseg_ego_corridor_percent', 'gauge', 'Drivable share of the ego corridor in the source\'s latest frame (NaN while it is offline).', perSource((s) => s.egoCorridorPct ?? NaN));
    metric('roadseg_drivable_percent', 'gauge', 'Drivable share of the source\'s latest frame (NaN while it is offline).', perSource((s) => s.drivablePct ?? NaN));
    metric('roadseg_source_online', 'gauge', '1 while the source delivers pictures, 0 while it is stale, offline or not started (the state /healthz reads).', perSource((_, id) => (this.states.get(id) === 'online' ? 1 : 0)));
    for (const [name, g] of this.gauges) metric(name, 'gauge', g.help, [['', g.value()]]);
    return out.join('\n') + '\n';
  }

  /** `/metrics` and `/healthz`, behind the token rule when a token is set. */
  routes(access: AccessRules): Record<string, Route> {
    const guarded =
      (answer: (req: IncomingMessage, res: ServerResponse) => void): Route =>
      (req, res, url) => {
        const refusal = access.tokenRefusal(req, url);
        if (refusal) sendText(req, res, refusal.status, `${refusal.reason}\n`, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer' });
        else answer(req, res);
      };
    return {
      '/metrics': guarded((req, res) => sendText(req, res, 200, this.prometheus(), { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' })),
      '/healthz': guarded((req, res) => {
        const h = this.health();
        sendText(req, res, h.ok ? 200 : 503, `${h.status}\n`, { 'Content-Type': 'text/plain; charset=utf-8' });
      }),
    };
  }
}
