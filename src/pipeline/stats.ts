/** Counters and latency distributions of a run: what the end-of-run summary reports. */

export class LatencySamples {
  private readonly values: number[] = [];
  private max = 0;
  /** Keeps at most this many samples (a reservoir), so long runs stay bounded in memory. */
  constructor(private readonly cap = 10_000) {}
  private seen = 0;

  add(ms: number): void {
    this.seen++;
    if (ms > this.max) this.max = ms;
    if (this.values.length < this.cap) this.values.push(ms);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.cap) this.values[j] = ms;
    }
  }

  summary(): { p50: number; p95: number; max: number; n: number } {
    const s = [...this.values].sort((a, b) => a - b);
    const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : 0);
    const r = (x: number) => Math.round(x * 10) / 10;
    return { p50: r(q(0.5)), p95: r(q(0.95)), max: r(this.max), n: this.seen };
  }
}

export const stageNames = ['queue', 'preprocess', 'infer', 'analyse', 'render', 'sinks', 'endToEnd'] as const;
export type StageName = (typeof stageNames)[number];

/** A run's counters; a source's own (with `parent`, the run's) count into the run's too. */
export class RunStats {
  framesIn = 0;
  framesOut = 0;
  readonly drops = new Map<string, number>();
  readonly latency = new Map<StageName, LatencySamples>(stageNames.map((s) => [s, new LatencySamples()]));
  private t0 = performance.now();
  /** When the run (or this source) ended; until then elapsed is the time so far. */
  private tEnd: number | undefined;

  constructor(private readonly parent?: RunStats) {}

  /** A picture read from the source. */
  frameIn(): void {
    this.framesIn++;
    this.parent?.frameIn();
  }

  drop(cause: string, n = 1): void {
    this.drops.set(cause, (this.drops.get(cause) ?? 0) + n);
    this.parent?.drop(cause, n);
  }

  sample(stage: StageName, ms: number): void {
    this.latency.get(stage)!.add(ms);
    this.parent?.sample(stage, ms);
  }

  frameDone(): void {
    this.framesOut++;
    this.parent?.frameDone();
  }

  /** The run starts now (its sinks open): elapsed counts from here. */
  start(): void {
    this.t0 = performance.now();
    this.tEnd = undefined;
  }

  /** The run (or this source) is over: elapsed stops here. */
  finish(): void {
    this.tEnd ??= performance.now();
  }

  /**
   * Wall time of the run: from its start to its end, not to its last frame (a live source offline
   * for 30 s still ran those 30 s).
   */
  get elapsedS(): number {
    return ((this.tEnd ?? performance.now()) - this.t0) / 1000;
  }

  get fps(): number {
    return this.elapsedS > 0 ? this.framesOut / this.elapsedS : 0;
  }

  snapshot(): StatsSnapshot {
    return {
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      drops: Object.fromEntries(this.drops),
      elapsedS: Math.round(this.elapsedS * 100) / 100,
      fps: Math.round(this.fps * 100) / 100,
      latencyMs: Object.fromEntries([...this.latency].map(([k, v]) => [k, v.summary()])),
    };
  }
}

export interface StatsSnapshot {
  framesIn: number;
  framesOut: number;
  drops: Record<string, number>;
  elapsedS: number;
  fps: number;
  latencyMs: Record<string, { p50: number; p95: number; max: number; n: number }>;
}

/** How inference calls were batched: calls per batch size, and how long batches waited to fill. */
export class BatchStats {
  readonly sizes = new Map<number, number>();
  readonly waitMs = new LatencySamples();

  add(size: number, waitedMs: number): void {
    this.sizes.set(size, (this.sizes.get(size) ?? 0) + 1);
    this.waitMs.add(waitedMs);
  }

  snapshot(): { calls: number; sizes: Record<string, number>; waitMs: ReturnType<LatencySamples['summary']> } {
    const sizes = [...this.sizes].sort(([a], [b]) => a - b);
    return { calls: sizes.reduce((n, [, c]) => n + c, 0), sizes: Object.fromEntries(sizes.map(([k, v]) => [String(k), v])), waitMs: this.waitMs.summary() };
  }
}
