/**
 * The stream graph, assembled from ready-made parts (a source, a frame processor, sinks):
 *
 *   source -> policy (lossless pull | freshest slot) -> preprocess -> infer -> analyse -> render
 *     -> signal -> sinks: `every` sinks awaited in order (video file, signal file),
 *                         `latest` sinks offered the newest frame without waiting (window, websocket)
 *   stale ticks (a live stream offline) -> a stale signal to the sinks that carry the signal
 *
 * Backpressure: a frame is pulled from the source only against a credit, and a credit is returned
 * when a frame has left the graph, so at most `inFlight` frames are decoded and not yet written,
 * whatever the speed of the source and sinks. Decoding, inference and encoding of different frames
 * overlap. The graph knows no concrete source, sink or model: `src/app` opens them from a config.
 */
import { EMPTY, Subject, asapScheduler, catchError, concatMap, filter, from, lastValueFrom, map, observeOn, of, takeUntil, takeWhile, tap, type Observable } from 'rxjs';
import { isStale, type Frame, type FrameMeta, type FrameTimings, type StaleTick } from '../core/frame.js';
import type { FrameProcessor } from '../core/processor.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import { signalOf, staleSignal } from '../core/signal.js';
import type { FrameSource } from '../core/source.js';
import type { Mat } from '../util/cv.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { LatestSinkDriver } from './latest-sink.js';
import { freshestPull, losslessPull, type Pull } from './policy.js';
import { RunStats, type StageName, type StatsSnapshot } from './stats.js';

export interface RunSummary extends StatsSnapshot {
  /** Per sink: its own counters (frames written, skipped, ...). */
  sinks: Record<string, Record<string, number | string>>;
}

export interface GraphParts {
  source: FrameSource;
  processor: FrameProcessor;
  /** Opened, not yet `open(ctx)`-ed: the graph opens them when it runs and closes them at the end. */
  sinks: readonly Sink[];
  /** Frames decoded and not yet through the graph, at most (lossless policy). */
  inFlight: number;
  /** Freshest-frame policy for the source (default: the source's own, `info.live`). */
  live?: boolean;
  log?: (line: string) => void;
  /** Called once after the sinks are closed (to dispose an engine the caller opened). */
  dispose?: () => Promise<void>;
}

export interface PipelineHandle {
  readonly context: PipelineContext;
  readonly sinks: readonly Sink[];
  readonly stats: RunStats;
  /** Every frame that left the graph (hot: subscribe before `run`; copy Mats kept past the callback). */
  readonly results: Observable<ProcessedFrame>;
  /** Runs to the end of the input or a stop; sinks are finalised before it settles. */
  run(): Promise<RunSummary>;
  /** Graceful stop: no new frames; frames in flight finish and reach the sinks. */
  stop(): void;
  /** Immediate stop: frames in flight are abandoned; sinks are still finalised. */
  abort(): void;
}

/** A frame on its way through the steps; fields are added as the steps run. */
interface InFlight {
  meta: FrameMeta;
  timings: FrameTimings;
  /** Mats owned by this frame so far (released when it is skipped or has left every sink). */
  mats: Mat[];
}

export function createGraph(parts: GraphParts): PipelineHandle {
  const { source, processor, sinks } = parts;
  const log = parts.log ?? (() => {});
  const stats = new RunStats();
  const live = parts.live ?? source.info.live;
  const context: PipelineContext = { stream: source.info, manifest: processor.manifest, device: processor.device };
  const origin = { model: processor.manifest.id, device: processor.device };
  const every = sinks.filter((s) => s.policy === 'every');
  const latest = sinks.filter((s) => s.policy === 'latest').map((s) => new LatestSinkDriver(s, (name) => stats.drop(`${name} busy`)));
  const signalSinks = sinks.filter((s) => s.writeSignal);
  const aborted = new Subject<void>();
  const results = new Subject<ProcessedFrame>();
  let stopping = false;
  let stopPump = () => {};

  /**
   * The first failure of the run, and the frame it happened on: frames before it still reach the
   * sinks, that frame and later ones are skipped (a source failure skips none: every frame it
   * delivered precedes it).
   */
  let failure: unknown;
  let failedAt = Infinity;
  const fail = (e: unknown, frameIndex = Infinity) => {
    if (failure === undefined) {
      failure = e;
      failedAt = frameIndex;
    }
    handle.stop();
  };

  /** Frames enter the graph against credits; a frame leaving it, written or skipped, returns its credit. */
  const credits = new Subject<void>();
  const skip = (x: InFlight): Observable<never> => {
    for (const m of new Set(x.mats)) m.release();
    credits.next();
    return EMPTY;
  };

  /**
   * One step as an operator: timed, skipped once the run has failed, and a failure names the step
   * and frame, then stops the run gracefully (no new frames; earlier frames finish).
   */
  const step = <I extends InFlight, O extends InFlight>(name: StageName & keyof StepTimings, fn: (x: I) => O | Promise<O>) =>
    concatMap((x: I): Observable<O> => {
      if (x.meta.index >= failedAt) return skip(x);
      const t0 = performance.now();
      const timed = (out: O) => {
        x.timings[`${name}Ms`] = performance.now() - t0;
        stats.sample(name, x.timings[`${name}Ms`]);
        return out;
      };
      const failed = (e: unknown): Observable<O> => {
        fail(stepError(name, x.meta, source, e), x.meta.index);
        return skip(x);
      };
      try {
        const out = fn(x);
        return out instanceof Promise ? from(out.then(timed)).pipe(catchError(failed)) : of(timed(out));
      } catch (e) {
        return failed(e);
      }
    });

  /** The frame as sinks see it; its Mats are released once the graph and every holder let go. */
  const finished = (x: InFlight & Omit<ProcessedFrame, 'signal' | 'retain'>): ProcessedFrame => {
    let holders = 1;
    const letGo = () => {
      if (--holders === 0) for (const m of new Set(x.mats)) m.release();
    };
    const frame: ProcessedFrame = {
      meta: x.meta,
      image: x.image,
      labels: x.labels,
      analysis: x.analysis,
      summary: x.summary,
      overlay: x.overlay,
      timings: x.timings,
      signal: signalOf(x.meta, x.summary, origin),
      retain: () => {
        holders++;
        let once = false;
        return () => {
          if (!once) (once = true), letGo();
        };
      },
    };
    graphRefs.set(frame, letGo);
    return frame;
  };
  const graphRefs = new WeakMap<ProcessedFrame, () => void>();

  const run = async (): Promise<RunSummary> => {
    let read: Pull;
    if (live) {
      const fresh = freshestPull(source, stats, { paced: source.info.kind === 'file' || source.info.kind === 'images' });
      read = fresh.pull;
      stopPump = fresh.stop;
    } else {
      read = losslessPull(source, stats);
    }
    // A source that fails (an undecodable image in a folder) ends the input: frames already read
    // still go through, then the run reports the failure.
    const pull: Pull = () => (stopping ? Promise.resolve(null) : read().catch((e: unknown) => (fail(e), null)));
    try {
      for (const s of sinks) await s.open(context);
      const frames$ = credits.pipe(
        concatMap(pull),
        takeWhile((f): f is Frame | StaleTick => f !== null),
        // A stale tick (a live source without picture) goes to the signal sinks only, as a
        // message with null values, and hands its credit straight back.
        filter((f): f is Frame => {
          if (!isStale(f)) return true;
          stats.drop(f.reason);
          const message = staleSignal(f, origin);
          for (const s of signalSinks) s.writeSignal!(message);
          credits.next();
          return false;
        }),
        map(({ image, ...meta }) => {
          const timings: FrameTimings = { queueMs: Date.now() - meta.captureTimeMs, preprocessMs: 0, inferMs: 0, analyseMs: 0, renderMs: 0, sinksMs: 0 };
          stats.sample('queue', timings.queueMs);
          return { meta, timings, mats: [image], image };
        }),
      );
      const processed$ = frames$.pipe(
        step('preprocess', (x) => {
          const { bgr, tensor } = processor.preprocess(x.image);
          return { ...x, mats: [bgr], image: bgr, tensor };
        }),
        step('infer', async (x) => ({ ...x, labels: await processor.infer(x.tensor) })),
        // Hand the labels on asynchronously, so the next inference is started before this frame's
        // analysis and rendering run on the main thread, in parallel with it.
        observeOn(asapScheduler),
        step('analyse', (x) => ({ ...x, ...processor.analyse(x.labels) })),
        step('render', (x) => {
          const overlay = processor.render(x.image, x.analysis, x.summary);
          return { ...x, mats: [...x.mats, overlay], overlay };
        }),
        map(finished),
        concatMap(async (f) => {
          const t0 = performance.now();
          try {
            if (f.meta.index < failedAt) {
              for (const s of every) await s.write(f);
              for (const d of latest) d.offer(f);
            }
          } catch (e) {
            fail(stepError('sinks', f.meta, source, e), f.meta.index);
          }
          f.timings.sinksMs = performance.now() - t0;
          stats.sample('sinks', f.timings.sinksMs);
          return f;
        }),
        tap((f) => {
          if (f.meta.index < failedAt) {
            stats.sample('endToEnd', Date.now() - f.meta.captureTimeMs);
            stats.frameDone();
            results.next(f);
          }
          graphRefs.get(f)!();
          credits.next();
        }),
        takeUntil(aborted),
      );
      const done = lastValueFrom(processed$, { defaultValue: undefined });
      for (let i = 0; i < parts.inFlight; i++) credits.next();
      await done;
      for (const d of latest) await d.settle().catch((e: unknown) => fail(e));
    } finally {
      stopPump();
      source.close();
      const closeErrors: unknown[] = [];
      for (const s of sinks) {
        try {
          await s.close();
        } catch (e) {
          closeErrors.push(e);
        }
      }
      await parts.dispose?.();
      if (closeErrors.length) log(`closing sinks: ${closeErrors.map(messageOf).join('; ')}`);
    }
    if (!failure && source.endedEarly && !stopping) {
      const { decoded, expected } = source.endedEarly;
      failure = new RoadsegError(`input ended early: decoded ${decoded} of the ${expected} frames its container declares (truncated or damaged file)`, {
        where: source.info.uri,
        hint: `the ${stats.framesOut} frames before the damage were processed and the outputs finalised; re-copy or re-encode the file`,
        exitCode: ExitCode.input,
      });
    }
    if (failure) {
      results.error(failure);
      throw failure;
    }
    results.complete();
    return { ...stats.snapshot(), sinks: Object.fromEntries(sinks.map((s) => [s.name, s.stats?.() ?? {}])) };
  };

  const handle: PipelineHandle = {
    context,
    sinks,
    stats,
    results: results.asObservable(),
    run,
    stop() {
      if (stopping) return;
      stopping = true;
      stopPump();
    },
    abort() {
      handle.stop();
      aborted.next();
    },
  };
  return handle;
}

/** Steps whose time is kept per frame, in FrameTimings. */
type StepTimings = { [K in keyof FrameTimings as K extends `${infer S}Ms` ? S : never]: number };

function stepError(step: StageName, meta: { index: number; sourceId: string }, source: FrameSource, e: unknown): RoadsegError {
  if (e instanceof RoadsegError) return e;
  return new RoadsegError(`stage "${step}" failed on frame ${meta.index} of ${meta.sourceId}: ${messageOf(e)}`, {
    where: `${source.info.uri}, frame ${meta.index}`,
    hint: 'this is a bug if the input is valid: please report it with the input',
    exitCode: ExitCode.failure,
    cause: e,
  });
}
