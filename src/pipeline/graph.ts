/**
 * The stream graph, assembled from a config in one place:
 *
 *   source(uri) -> policy (lossless pull | freshest slot) -> preprocess -> infer -> analyse
 *     -> render -> signal -> sinks: `every` sinks awaited in order (video file, signal; the
 *                                   websocket takes every signal and never waits),
 *                                   `freshest` sinks offered without waiting (window)
 *   stale ticks (a live stream offline) -> a stale signal to the sinks that carry the signal
 *
 * Backpressure: a frame is pulled from the source only against a credit, and a credit is returned
 * when a frame has left the graph, so at most `inFlight` frames are decoded and not yet written,
 * whatever the speed of the source and sinks. Decoding (libuv pool), inference (onnxruntime's
 * threads) and video encoding (libuv pool) of different frames overlap.
 */
import { EMPTY, Subject, asapScheduler, catchError, concatMap, filter, from, lastValueFrom, map, observeOn, of, takeUntil, takeWhile, tap, type Observable } from 'rxjs';
import { SegmentationEngine } from '../engine/engine.js';
import { openSink } from '../sinks/index.js';
import { FreshestSlot } from '../sinks/freshest.js';
import { openSource } from '../sources/index.js';
import type { FrameSource } from '../sources/source.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { parseConfig, type PipelineConfig, type PipelineConfigInput } from './config.js';
import { freshestPull, type Pull } from './policy.js';
import { Segmenter } from './segmenter.js';
import { signalOf, staleSignal } from './signal.js';
import { RunStats, type StageName, type StatsSnapshot } from './stats.js';
import { isStale, type Frame, type FrameMeta, type FrameTimings, type PipelineContext, type ProcessedFrame, type Sink, type StaleTick } from './types.js';

export interface RunSummary extends StatsSnapshot {
  /** Per sink: its own counters (frames written, skipped, ...). */
  sinks: Record<string, Record<string, number | string>>;
}

export interface PipelineOptions {
  /** An engine to use instead of creating one from the config (it is then not disposed). */
  engine?: SegmentationEngine;
  log?: (line: string) => void;
}

export interface PipelineHandle {
  readonly config: PipelineConfig;
  readonly context: PipelineContext;
  readonly sinks: readonly Sink[];
  readonly stats: RunStats;
  /** Every frame that left the graph (hot: subscribe before `run`). */
  readonly results: Observable<ProcessedFrame>;
  /** Runs to the end of the input or a stop; sinks are finalised before it settles. */
  run(): Promise<RunSummary>;
  /** Graceful stop: no new frames; frames in flight finish and reach the sinks. */
  stop(): void;
  /** Immediate stop: frames in flight are abandoned; sinks are still finalised. */
  abort(): void;
}

/** Opens the engine, the source and every sink (so bad input fails before anything runs). */
export async function createPipeline(input: PipelineConfigInput | PipelineConfig, opts: PipelineOptions = {}): Promise<PipelineHandle> {
  const config = parseConfig(input);
  const log = opts.log ?? (() => {});
  const stats = new RunStats();
  let stopping = false;
  /** Stops a live source's pump (set by `run`). */
  let stopPump = () => {};
  const aborted = new Subject<void>();
  const results = new Subject<ProcessedFrame>();

  const source = openSource(config.source, { ...config, log });
  const sinks: Sink[] = [];
  let engine: SegmentationEngine | undefined;
  try {
    for (const uri of config.sinks) sinks.push(openSink(uri, { stop: () => handle.stop(), serve: config.serve }));
    engine = opts.engine ?? (await SegmentationEngine.create({ ...config, log }));
  } catch (e) {
    source.close();
    for (const s of sinks) await Promise.resolve(s.close()).catch(() => {});
    throw e;
  }
  const ownEngine = !opts.engine;
  const segmenter = new Segmenter(engine, {
    overlay: { opacity: config.opacity },
    hud: config.hud,
    analysis: { ...(config.corridor && { corridor: config.corridor }), ...(config.drivableClasses && { drivableClasses: config.drivableClasses }) },
  });
  const context: PipelineContext = { stream: source.info, manifest: engine.manifest, device: engine.provider };
  const live = config.live ?? source.info.live;
  const every = sinks.filter((s) => s.policy === 'every');
  const freshest = sinks.filter((s) => s.policy === 'freshest').map((s) => new FreshestSlot(s, (name) => stats.drop(`${name} busy`)));
  // Frames' Mats are freed as they leave the graph unless a sink may still hold them (see types.ts).
  const releaseFrames = !sinks.some((s) => s.policy === 'freshest' || s.retainsFrames);

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
  const skip = (): Observable<never> => {
    credits.next();
    return EMPTY;
  };

  /**
   * One step of the graph as an operator: timed, skipped once the run has failed, and a failure
   * names the stage and frame, then stops the run gracefully (no new frames; earlier frames finish).
   */
  const stage = <I extends { meta: FrameMeta; timings: FrameTimings }, O>(name: StageName & keyof StageTimings, fn: (x: I) => O | Promise<O>) =>
    concatMap((x: I): Observable<O> => {
      if (x.meta.index >= failedAt) return skip();
      const t0 = performance.now();
      const timed = (out: O) => {
        x.timings[`${name}Ms`] = performance.now() - t0;
        stats.sample(name, x.timings[`${name}Ms`]);
        return out;
      };
      const failed = (e: unknown): Observable<O> => {
        fail(stageError(name, x.meta, source, e), x.meta.index);
        return skip();
      };
      try {
        const out = fn(x);
        return out instanceof Promise ? from(out.then(timed)).pipe(catchError(failed)) : of(timed(out));
      } catch (e) {
        return failed(e);
      }
    });

  const run = async (): Promise<RunSummary> => {
    let read: Pull;
    if (live) {
      const fresh = freshestPull(source, stats, { paced: source.info.kind === 'file' || source.info.kind === 'images' });
      read = fresh.pull;
      stopPump = fresh.stop;
    } else {
      read = async () => {
        const f = await source.read();
        if (f) stats.framesIn++;
        return f;
      };
    }
    // A source that fails (an undecodable image in a folder) ends the input: frames already read
    // still go through, then the run reports the failure.
    const pull: Pull = () => (stopping ? Promise.resolve(null) : read().catch((e: unknown) => (fail(e), null)));
    try {
      for (const s of sinks) await s.open(context);
      const signalSinks = sinks.filter((s) => s.writeSignal);
      const frames$ = credits.pipe(
        concatMap(pull),
        takeWhile((f): f is Frame | StaleTick => f !== null),
        // A stale tick (a live source without picture) goes to the signal sinks only, as a
        // message with null values, and hands its credit straight back.
        filter((f): f is Frame => {
          if (!isStale(f)) return true;
          stats.drop(f.reason);
          const message = staleSignal(f, context);
          for (const s of signalSinks) s.writeSignal!(message);
          credits.next();
          return false;
        }),
        map(({ image, ...meta }) => {
          const timings: FrameTimings = { queueMs: Date.now() - meta.captureTimeMs, preprocessMs: 0, inferMs: 0, analyseMs: 0, renderMs: 0, sinksMs: 0 };
          stats.sample('queue', timings.queueMs);
          return { meta, timings, image };
        }),
      );
      const processed$ = frames$.pipe(
        stage('preprocess', (x) => ({ ...x, ...segmenter.preprocess(x.image) })),
        stage('infer', async (x) => ({ ...x, labels: await segmenter.infer(x.tensor) })),
        // Hand the labels on asynchronously, so the next inference is started before this frame's
        // analysis and rendering run on the main thread, in parallel with it.
        observeOn(asapScheduler),
        stage('analyse', (x) => ({ ...x, ...segmenter.analyse(x.labels) })),
        stage('render', (x) => ({ ...x, overlay: segmenter.render(x.bgr, x.analysis, x.summary) })),
        map((x): ProcessedFrame => {
          const frame = { meta: x.meta, image: x.bgr, labels: x.labels, analysis: x.analysis, summary: x.summary, overlay: x.overlay, timings: x.timings };
          return { ...frame, signal: signalOf(frame, context) };
        }),
        stage('sinks', async (f) => {
          for (const s of every) await s.write(f);
          for (const slot of freshest) slot.offer(f);
          return f;
        }),
        tap((f) => {
          stats.sample('endToEnd', Date.now() - f.meta.captureTimeMs);
          stats.frameDone();
          results.next(f);
          if (releaseFrames) {
            f.overlay.release();
            f.image.release();
          }
          credits.next();
        }),
        takeUntil(aborted),
      );
      const done = lastValueFrom(processed$, { defaultValue: undefined });
      for (let i = 0; i < config.inFlight; i++) credits.next();
      await done;
      for (const slot of freshest) await slot.settle().catch((e: unknown) => fail(e));
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
      if (ownEngine) await engine!.dispose();
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
    config,
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

/** Stages whose time is kept per frame, in FrameTimings. */
type StageTimings = { [K in keyof FrameTimings as K extends `${infer S}Ms` ? S : never]: number };

function stageError(stage: StageName, meta: { index: number; sourceId: string }, source: FrameSource, e: unknown): RoadsegError {
  if (e instanceof RoadsegError) return e;
  return new RoadsegError(`stage "${stage}" failed on frame ${meta.index} of ${meta.sourceId}: ${messageOf(e)}`, {
    where: `${source.info.uri}, frame ${meta.index}`,
    hint: 'this is a bug if the input is valid: please report it with the input',
    exitCode: ExitCode.failure,
    cause: e,
  });
}
