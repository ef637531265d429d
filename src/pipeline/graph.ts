/**
 * The stream graph, assembled from a config in one place:
 *
 *   source(uri) -> policy (lossless pull | freshest slot) -> preprocess -> infer -> analyse
 *     -> render -> signal -> sinks: `every` sinks awaited in order (video file, signal),
 *                                   `freshest` sinks offered without waiting (window, websocket)
 *
 * Backpressure: a frame is pulled from the source only against a credit, and a credit is returned
 * when a frame has left the graph, so at most `inFlight` frames are decoded and not yet written,
 * whatever the speed of the source and sinks. Decoding (libuv pool), inference (onnxruntime's
 * threads) and video encoding (libuv pool) of different frames overlap.
 */
import { Subject, asapScheduler, concatMap, filter, lastValueFrom, map, observeOn, takeUntil, takeWhile, tap, type Observable } from 'rxjs';
import { SegmentationEngine } from '../engine/engine.js';
import { openSink } from '../sinks/index.js';
import { FreshestSlot } from '../sinks/freshest.js';
import { openSource } from '../sources/index.js';
import type { FrameSource } from '../sources/source.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { parseConfig, type PipelineConfig, type PipelineConfigInput } from './config.js';
import { freshestPull, losslessPull, type Pull } from './policy.js';
import { Segmenter } from './segmenter.js';
import { signalOf, staleSignal } from './signal.js';
import { RunStats, type StageName, type StatsSnapshot } from './stats.js';
import { isStale, type Frame, type FrameTimings, type PipelineContext, type ProcessedFrame, type Sink, type StaleTick } from './types.js';

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
  const stopRequested = new Subject<void>();
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

  /** Runs one step of one frame, timing it and naming the stage and frame if it fails. */
  const step = <T>(stage: StageName, meta: Frame | ProcessedFrame['meta'], timings: Partial<FrameTimings> | undefined, fn: () => T): T => {
    const t0 = performance.now();
    try {
      return fn();
    } catch (e) {
      throw stageError(stage, meta, source, e);
    } finally {
      const ms = performance.now() - t0;
      stats.sample(stage, ms);
      if (timings) (timings as Record<string, number>)[`${stage}Ms`] = ms;
    }
  };

  const run = async (): Promise<RunSummary> => {
    let pull: Pull;
    let stopPump = () => {};
    if (live) {
      const fresh = freshestPull(source, stats, { paced: source.info.kind === 'file' || source.info.kind === 'images' });
      pull = fresh.pull;
      stopPump = fresh.stop;
    } else {
      const read = losslessPull(source);
      pull = async () => {
        const f = await read();
        if (f) stats.framesIn++;
        return f;
      };
    }
    stopRequested.subscribe(() => stopPump());
    const credits = new Subject<void>();
    try {
      for (const s of sinks) await s.open(context);
      const signalSinks = sinks.filter((s) => s.writeSignal);
      const frames$ = credits.pipe(
        concatMap(() => (stopping ? Promise.resolve(null) : pull())),
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
      );
      const processed$ = frames$.pipe(
        map((frame) => {
          const timings: FrameTimings = { queueMs: Date.now() - frame.captureTimeMs, preprocessMs: 0, inferMs: 0, analyseMs: 0, renderMs: 0 };
          stats.sample('queue', timings.queueMs);
          const { bgr, tensor } = step('preprocess', frame, timings, () => segmenter.preprocess(frame.image));
          return { frame, timings, bgr, tensor };
        }),
        concatMap(async (x) => {
          const t0 = performance.now();
          const labels = await segmenter.infer(x.tensor).catch((e: unknown) => Promise.reject(stageError('infer', x.frame, source, e)));
          x.timings.inferMs = performance.now() - t0;
          stats.sample('infer', x.timings.inferMs);
          return { ...x, labels };
        }),
        // Hand the labels on asynchronously, so the next inference is started before this frame's
        // analysis and rendering run on the main thread, in parallel with it.
        observeOn(asapScheduler),
        map((x) => {
          const { analysis, summary } = step('analyse', x.frame, x.timings, () => segmenter.analyse(x.labels));
          const overlay = step('render', x.frame, x.timings, () => segmenter.render(x.bgr, x.labels, analysis, summary));
          const { image: _image, ...meta } = x.frame;
          const partial = { meta, image: x.bgr, labels: x.labels, analysis, summary, overlay, timings: x.timings };
          return { ...partial, signal: signalOf(partial as ProcessedFrame, context) } satisfies ProcessedFrame;
        }),
        concatMap(async (f) => {
          const t0 = performance.now();
          for (const s of every) await Promise.resolve(s.write(f));
          for (const slot of freshest) slot.offer(f);
          stats.sample('sinks', performance.now() - t0);
          return f;
        }),
        tap((f) => {
          stats.sample('endToEnd', Date.now() - f.meta.captureTimeMs);
          stats.frameDone();
          results.next(f);
          credits.next();
        }),
        takeUntil(aborted),
      );
      const done = lastValueFrom(processed$, { defaultValue: undefined });
      for (let i = 0; i < config.inFlight; i++) credits.next();
      await done;
      for (const slot of freshest) await slot.settle();
    } catch (e) {
      results.error(e);
      throw e;
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
    results.complete();
    if (source.endedEarly && !stopping) {
      const { decoded, expected } = source.endedEarly;
      throw new RoadsegError(`input ended early: decoded ${decoded} of the ${expected} frames its container declares (truncated or damaged file)`, {
        where: source.info.uri,
        hint: `the ${stats.framesOut} frames before the damage were processed and the outputs finalised; re-copy or re-encode the file`,
        exitCode: ExitCode.input,
      });
    }
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
      stopRequested.next();
    },
    abort() {
      handle.stop();
      aborted.next();
    },
  };
  return handle;
}

function stageError(stage: StageName, meta: { index: number; sourceId: string }, source: FrameSource, e: unknown): RoadsegError {
  if (e instanceof RoadsegError) return e;
  return new RoadsegError(`stage "${stage}" failed on frame ${meta.index} of ${meta.sourceId}: ${messageOf(e)}`, {
    where: `${source.info.uri}, frame ${meta.index}`,
    hint: 'this is a bug if the input is valid: please report it with the input',
    exitCode: ExitCode.failure,
    cause: e,
  });
}
