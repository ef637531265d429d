/**
 * The stream graph, assembled from ready-made parts (sources, a frame processor, sinks):
 *
 *   source (one lane each) -> policy (lossless pull | freshest slot) -> preprocess
 *     -> batcher -> infer (one call for frames of several sources) -> analyse -> render -> signal
 *     -> sinks: `every` sinks awaited in order (video file, signal file),
 *               `latest` sinks offered the newest frame of each source without waiting (window, websocket)
 *   stale ticks (a live stream offline) -> a stale signal to the sinks that carry the signal
 *
 * Backpressure, per source: a frame is pulled only against a credit of its lane, and a credit is
 * returned when the frame has left the graph, so at most `inFlight` frames of a source are decoded
 * and not yet written, whatever the speed of the sources and sinks. Decoding, inference and
 * encoding of different frames overlap. A source that fails or ends stops only itself: its own
 * sinks are finalised then; the shared ones at the end. The graph knows no concrete source, sink
 * or model: `src/app` opens them from a config.
 */
import { EMPTY, Subject, asapScheduler, catchError, concatMap, filter, from, lastValueFrom, map, merge, observeOn, of, takeUntil, takeWhile, tap, type Observable } from 'rxjs';
import { isStale, type Frame, type FrameMeta, type FrameTimings, type StaleTick } from '../core/frame.js';
import type { FrameHeads, PackedInput } from '../core/model.js';
import type { FrameProcessor } from '../core/processor.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import { signalOf, staleSignal, type SignalMessage } from '../core/signal.js';
import type { FrameSource } from '../core/source.js';
import type { Mat } from '../util/cv.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { batchInference } from './batcher.js';
import { LatestSinkDriver } from './latest-sink.js';
import { GuardedSink } from './sink-guard.js';
import { freshestPull, losslessPull, sourcePolicy, type Pull, type SourcePolicy } from './policy.js';
import { BatchStats, RunStats, type StageName, type StatsSnapshot } from './stats.js';
import { holdFrame } from './frame-hold.js';
import { releaseMats } from '../util/mats.js';
import { recordStep, type TimedStep } from './step-timing.js';

export interface RunSummary extends StatsSnapshot {
  /** Per sink: its own counters (frames written, skipped, ...). */
  sinks: Record<string, Record<string, number | string>>;
  /** Per source, when the run has several. */
  sources?: Record<string, StatsSnapshot & { failed?: string }>;
  /** How inference calls were batched, when the run has several sources. */
  batches?: ReturnType<BatchStats['snapshot']>;
}

/** A source and how the graph takes its frames. */
export interface SourceBinding {
  source: FrameSource;
  /** Default: `sourcePolicy` of the source's own `info.live`, with the graph's `inFlight`. */
  policy?: SourcePolicy;
}

/** A sink and the frames it takes: one source's (a `{source}` output), or every source's. */
export interface SinkBinding {
  sink: Sink;
  sourceId?: string;
}

export interface GraphParts {
  sources: readonly (FrameSource | SourceBinding)[];
  processor: FrameProcessor;
  /** Opened, not yet `open(ctx)`-ed: the graph opens them when it runs and closes each once. */
  sinks: readonly (Sink | SinkBinding)[];
  /** Frames decoded and not yet through the graph, per source, at most. */
  inFlight: number;
  /** Frames inferred in one call, at most (default 1: no batching). */
  maxBatch?: number;
  /** How long the oldest frame waits for a batch to fill, ms (default 20). */
  batchTimeoutMs?: number;
  log?: (line: string) => void;
  /** Called once after the sinks are closed (to dispose an engine the caller opened). */
  dispose?: () => Promise<void>;
}

export interface PipelineHandle {
  readonly context: PipelineContext;
  readonly sinks: readonly Sink[];
  /** The whole run; per source in `sourceStats`. */
  readonly stats: RunStats;
  readonly sourceStats: ReadonlyMap<string, RunStats>;
  /** Each source's policy, in the order of `context.streams`. */
  readonly policies: readonly SourcePolicy[];
  /** Every frame that left the graph; completes when the run ends, failed or not (hot: subscribe before `run`; copy Mats kept past the callback). */
  readonly results: Observable<ProcessedFrame>;
  /** Runs to the end of every input or a stop; sinks are finalised before it settles. */
  run(): Promise<RunSummary>;
  /** The summary so far; after a failed `run`, what it did, with each failed source's `failed` reason. */
  summary(): RunSummary;
  /** Graceful stop: no new frames; frames in flight finish and reach the sinks. */
  stop(): void;
  /** Immediate stop: frames in flight are abandoned; sinks are still finalised. */
  abort(): void;
}

/** A frame on its way through the steps; fields are added as the steps run. */
interface InFlight {
  meta: FrameMeta;
  timings: FrameTimings;
  lane: Lane;
  /** Mats owned by this frame so far (released when it is skipped or has left every sink). */
  mats: Mat[];
}

/** One source's path through the graph: its policy, credits, failure and sinks. */
interface Lane {
  id: string;
  source: FrameSource;
  policy: SourcePolicy;
  stats: RunStats;
  credits: Subject<void>;
  /** Frames of this lane in the graph (credits taken and not returned). */
  outstanding: number;
  /** Indices of this lane's pictures in the graph, and stale messages waiting for them to leave. */
  inGraph: Set<number>;
  staleQueue: SignalMessage[];
  stopping: boolean;
  ended: boolean;
  finished: boolean;
  stopPump: () => void;
  failure: unknown;
  failedAt: number;
  every: Sink[];
  latest: LatestSinkDriver[];
  signalSinks: Sink[];
  /** Sinks bound to this source alone: finalised when it finishes. */
  own: Sink[];
}

export function createGraph(parts: GraphParts): PipelineHandle {
  const { processor } = parts;
  const log = parts.log ?? (() => {});
  const stats = new RunStats();
  const batchStats = new BatchStats();
  const origin = processor.origin;
  const sourceBindings = parts.sources.map((s): SourceBinding => ('source' in s ? s : { source: s }));
  if (sourceBindings.length === 0) throw new RoadsegError('no source given', { hint: 'give at least one source', exitCode: ExitCode.usage });
  // Every write and close goes through the guard: nothing reaches a sink once it is closing.
  const sinkBindings = parts.sinks.map((s): SinkBinding => ('sink' in s ? s : { sink: s })).map((b) => ({ ...b, sink: new GuardedSink(b.sink) }));
  const sinks = sinkBindings.map((b) => b.sink);
  const streams = sourceBindings.map((b) => b.source.info);
  const context: PipelineContext = { stream: streams[0]!, streams, manifest: processor.manifest, device: processor.device, precision: origin.precision, classes: processor.classes, stats };
  const aborted = new Subject<void>();
  const results = new Subject<ProcessedFrame>();
  const maxBatch = Math.max(1, parts.maxBatch ?? 1);
  let stopping = false;
  /** `abort` was called: frames still in a step are abandoned, and what happens to them is no failure. */
  let aborting = false;
  let writing: Promise<void> | undefined;
  /** The inference call in progress (one at a time): the processor is disposed only after it. */
  let inferring: Promise<unknown> | undefined;
  /** A failure that stops every source (a shared sink's), with the frame it happened on. */
  let sharedFailure: unknown;

  const lanes: Lane[] = sourceBindings.map(({ source, policy }) => {
    const id = source.info.sourceId;
    const mine = sinkBindings.filter((b) => b.sourceId === undefined || b.sourceId === id).map((b) => b.sink);
    return {
      id,
      source,
      policy: policy ?? sourcePolicy(source.info, undefined, () => parts.inFlight),
      stats: new RunStats(stats),
      credits: new Subject<void>(),
      outstanding: 0,
      inGraph: new Set(),
      staleQueue: [],
      stopping: false,
      ended: false,
      finished: false,
      stopPump: () => {},
      failure: undefined,
      failedAt: Infinity,
      every: mine.filter((s) => s.policy === 'every'),
      latest: mine.filter((s) => s.policy === 'latest').map((s) => new LatestSinkDriver(s, (name) => drop(laneOf(id), `${name} busy`))),
      signalSinks: mine.filter((s) => s.writeSignal),
      own: sinkBindings.filter((b) => b.sourceId === id).map((b) => b.sink),
    };
  });
  const byId = new Map(lanes.map((l) => [l.id, l]));
  if (byId.size !== lanes.length) throw new RoadsegError('two sources have the same id', { hint: 'source ids must be unique within a run', exitCode: ExitCode.usage });
  const laneOf = (id: string) => byId.get(id)!;
  const openLanes = () => lanes.filter((l) => !l.ended && !l.stopping).map((l) => l.id);

  const drop = (lane: Lane, cause: string, n = 1) => lane.stats.drop(cause, n);
  const sample = (lane: Lane, step: StageName, ms: number) => lane.stats.sample(step, ms);

  const stopLane = (lane: Lane) => {
    if (lane.stopping) return;
    lane.stopping = true;
    lane.stopPump();
  };

  /**
   * A lane's first failure, and the frame it happened on: its frames before it still reach the
   * sinks, that frame and later ones are skipped (a source failure skips none: every frame it
   * delivered precedes it). Other sources go on.
   */
  const fail = (lane: Lane, e: unknown, frameIndex = Infinity) => {
    if (lane.failure === undefined) {
      lane.failure = e;
      lane.failedAt = frameIndex;
      if (lanes.length > 1) log(`source ${lane.id} stopped: ${messageOf(e)}`);
    }
    stopLane(lane);
  };
  const failAll = (e: unknown) => {
    sharedFailure ??= e;
    handle.stop();
  };
  const skipped = (x: InFlight) => x.meta.index >= x.lane.failedAt;
  /** A sink failed on a lane's frame or message: a source's own output fails that source; a shared one stops the run. */
  const sinkFailed = (lane: Lane, sink: Sink | undefined, meta: Pick<FrameMeta, 'index' | 'sourceId'>, e: unknown) => {
    const error = stepError('sinks', meta, lane.source, e);
    if (sink && !lane.own.includes(sink)) failAll(error);
    fail(lane, error, meta.index);
  };

  /**
   * A stale message goes out once every earlier picture of its source has left the graph, so that
   * each source's signal stays in frame order.
   */
  const sendStale = (lane: Lane, message?: SignalMessage) => {
    if (message) lane.staleQueue.push(message);
    // Called as every frame leaves: nothing to do unless a live source is reconnecting.
    if (!lane.staleQueue.length) return;
    const oldest = lane.inGraph.size ? Math.min(...lane.inGraph) : Infinity;
    while (lane.staleQueue.length && lane.staleQueue[0]!.frame < oldest) signalTo(lane, lane.staleQueue.shift()!);
  };

  /**
   * A message of the graph's own (stale, ended) to a lane's signal sinks. A sink that fails on it
   * (the reader of its pipe went away) fails as it would on a frame: its own source stops, a shared
   * sink stops the run; it never escapes as an uncaught error.
   */
  const signalTo = (lane: Lane, message: SignalMessage) => {
    for (const s of lane.signalSinks) {
      try {
        s.writeSignal!(message);
      } catch (e) {
        sinkFailed(lane, s, { index: message.frame, sourceId: lane.id }, e);
      }
    }
  };

  /** A frame leaving the graph, written or skipped: its credit goes back to its lane. */
  const leave = (lane: Lane, index?: number) => {
    if (index !== undefined) {
      lane.inGraph.delete(index);
      sendStale(lane);
    }
    lane.outstanding--;
    lane.credits.next();
    void finishIfDone(lane);
  };
  const skip = (x: InFlight): Observable<never> => {
    releaseMats(x.mats);
    leave(x.lane, x.meta.index);
    return EMPTY;
  };

  /**
   * One step as an operator: timed, skipped once the lane has failed, and a failure names the step
   * and frame, then stops that source gracefully (no new frames; earlier frames finish).
   */
  const step = <I extends InFlight, O extends InFlight>(name: TimedStep, fn: (x: I) => O | Promise<O>) =>
    concatMap((x: I): Observable<O> => {
      if (skipped(x)) return skip(x);
      const t0 = performance.now();
      const timed = (out: O) => {
        recordStep(x.timings, name, t0, (n, ms) => sample(x.lane, n, ms));
        return out;
      };
      const failed = (e: unknown): Observable<O> => {
        if (!aborting) fail(x.lane, stepError(name, x.meta, x.lane.source, e), x.meta.index);
        return skip(x);
      };
      try {
        const out = fn(x);
        return out instanceof Promise ? from(out.then(timed)).pipe(catchError(failed)) : of(timed(out));
      } catch (e) {
        return failed(e);
      }
    });

  /** Infers a batch of preprocessed frames; frames of a failed call are skipped. */
  type Preprocessed = InFlight & { tensor: PackedInput; image: Mat };
  const inferBatch = async (batch: Preprocessed[], waitedMs: number): Promise<(Preprocessed & { heads: FrameHeads })[]> => {
    const live = batch.filter((x) => {
      if (!skipped(x)) return true;
      skip(x);
      return false;
    });
    if (live.length === 0) return [];
    if (lanes.length > 1) batchStats.add(live.length, waitedMs);
    const t0 = performance.now();
    let heads: FrameHeads[];
    try {
      const call = live.length > 1 && processor.inferBatch ? processor.inferBatch(live.map((x) => x.tensor)) : Promise.all(live.map((x) => processor.infer(x.tensor)));
      inferring = call;
      heads = await call;
    } catch (e) {
      for (const x of live) {
        if (!aborting) fail(x.lane, stepError('infer', x.meta, x.lane.source, e), x.meta.index);
        skip(x);
      }
      return [];
    } finally {
      inferring = undefined;
    }
    const ms = performance.now() - t0;
    return live.map((x, i) => {
      x.timings.inferMs = ms;
      sample(x.lane, 'infer', ms);
      return { ...x, heads: heads[i]! };
    });
  };

  /**
   * The frame as sinks see it, and the graph's own hold on it (`letGo`): its Mats are released
   * once the graph and every holder let go.
   */
  const finished = (x: InFlight & Omit<ProcessedFrame, 'signal' | 'retain'>): { frame: ProcessedFrame; letGo: () => void } => {
    const hold = holdFrame(x.mats);
    const frame: ProcessedFrame = {
      meta: x.meta,
      image: x.image,
      labels: x.labels,
      analysis: x.analysis,
      summary: x.summary,
      overlay: x.overlay,
      timings: x.timings,
      signal: signalOf(x.meta, x.summary, origin),
      retain: hold.retain,
    };
    return { frame, letGo: hold.letGo };
  };

  /** Once a lane has ended and its last frame has left the graph: finalise its own sinks. */
  const finishIfDone = async (lane: Lane) => {
    if (!lane.ended || lane.outstanding > 0 || lane.finished) return;
    lane.finished = true;
    lane.stats.finish();
    if (lane.failure !== undefined && lanes.length > 1) {
      const meta: FrameMeta = { sourceId: lane.id, index: lane.stats.framesIn, ptsMs: 0, captureTimeMs: Date.now() };
      signalTo(lane, staleSignal(meta, origin, Date.now(), 'ended'));
    }
    for (const d of lane.latest) if (lane.own.includes(d.sink)) await d.settle().catch((e: unknown) => fail(lane, e));
    await closeSinks(lane.own);
  };

  /** Each sink's close, started once; the final pass waits for those a lane started (the summary reads their counters). */
  const closing = new Map<Sink, Promise<void>>();
  const closeErrors: unknown[] = [];
  const closeSinks = async (list: readonly Sink[]) => {
    for (const s of list) {
      let done = closing.get(s);
      if (!done) closing.set(s, (done = Promise.resolve().then(() => s.close()).catch((e: unknown) => void closeErrors.push(e))));
      await done;
    }
  };

  const laneFrames = (lane: Lane): Observable<InFlight & { image: Mat }> => {
    let read: Pull;
    if (lane.policy.mode === 'freshest') {
      const fresh = freshestPull(lane.source, lane.stats, { paced: lane.policy.paced });
      read = fresh.pull;
      lane.stopPump = fresh.stop;
    } else {
      read = losslessPull(lane.source, lane.stats);
    }
    // A source that fails (an undecodable image in a folder) ends its input: frames already read
    // still go through, then the run reports the failure.
    const pull: Pull = () => (lane.stopping || stopping ? Promise.resolve(null) : read().catch((e: unknown) => (fail(lane, e), null)));
    return lane.credits.pipe(
      concatMap(() => {
        lane.outstanding++;
        return pull();
      }),
      takeWhile((f): f is Frame | StaleTick => {
        if (f !== null) return true;
        lane.outstanding--;
        lane.ended = true;
        void finishIfDone(lane);
        return false;
      }),
      // A stale tick (a live source without picture) goes to the signal sinks only, as a
      // message with null values, and hands its credit straight back.
      filter((f): f is Frame => {
        if (!isStale(f)) {
          lane.inGraph.add(f.index);
          return true;
        }
        drop(lane, f.reason);
        sendStale(lane, staleSignal(f, origin, Date.now(), 'stale', f.state));
        leave(lane);
        return false;
      }),
      map(({ image, ...meta }) => {
        const timings: FrameTimings = { queueMs: Date.now() - meta.captureTimeMs, preprocessMs: 0, inferMs: 0, analyseMs: 0, renderMs: 0, sinksMs: 0 };
        sample(lane, 'queue', timings.queueMs);
        return { meta, timings, lane, mats: [image], image };
      }),
    );
  };

  const run = async (): Promise<RunSummary> => {
    stats.start();
    for (const lane of lanes) lane.stats.start();
    try {
      for (const b of sinkBindings) {
        const stream = b.sourceId === undefined ? context.stream : laneOf(b.sourceId).source.info;
        await b.sink.open({ ...context, stream });
      }
      const processed$ = merge(...lanes.map(laneFrames)).pipe(
        step('preprocess', (x) => {
          const { bgr, tensor } = processor.preprocess(x.image);
          return { ...x, mats: [bgr], image: bgr, tensor };
        }),
        batchInference({
          maxBatch,
          timeoutMs: parts.batchTimeoutMs ?? 20,
          key: (x) => x.tensor.flat().map((t) => t.shape.join('x')).join(','),
          lane: (x) => x.lane.id,
          openLanes,
          run: inferBatch,
        }),
        // Hand the labels on asynchronously, so the next inference is started before this frame's
        // analysis and rendering run on the main thread, in parallel with it.
        observeOn(asapScheduler),
        step('analyse', (x) => ({ ...x, labels: x.heads.labels, ...processor.analyse(x.heads, x.image, x.meta) })),
        step('render', (x) => {
          const overlay = processor.render(x.image, x.analysis, x.summary);
          return { ...x, mats: [...x.mats, overlay], overlay };
        }),
        map((x) => ({ ...finished(x), lane: x.lane })),
        concatMap(async ({ frame, letGo, lane }) => {
          const t0 = performance.now();
          let current: Sink | undefined;
          try {
            if (frame.meta.index < lane.failedAt) {
              // Awaited before the sinks close, also on abort: a frame reaches all of them or none.
              writing = (async () => {
                for (const s of lane.every) {
                  current = s;
                  await s.write(frame);
                }
              })();
              await writing;
              current = undefined;
              for (const d of lane.latest) d.offer(frame);
            }
          } catch (e) {
            sinkFailed(lane, current, frame.meta, e);
          }
          recordStep(frame.timings, 'sinks', t0, (n, ms) => sample(lane, n, ms));
          return { frame, letGo, lane };
        }),
        tap(({ frame, letGo, lane }) => {
          if (frame.meta.index < lane.failedAt) {
            sample(lane, 'endToEnd', Date.now() - frame.meta.captureTimeMs);
            lane.stats.frameDone();
            results.next(frame);
          }
          letGo();
          leave(lane, frame.meta.index);
        }),
        takeUntil(aborted),
      );
      const done = lastValueFrom(processed$, { defaultValue: undefined });
      for (const lane of lanes) for (let i = 0; i < lane.policy.inFlight; i++) lane.credits.next();
      await done;
      for (const lane of lanes) for (const d of lane.latest) await d.settle().catch((e: unknown) => fail(lane, e));
    } finally {
      // The run's time ends with its frames, not with the sinks' close (a broker's grace).
      for (const lane of lanes) lane.stats.finish();
      stats.finish();
      await writing?.catch(() => {});
      for (const lane of lanes) {
        lane.stopPump();
        lane.source.close();
      }
      await closeSinks(sinks);
      // After an abort the last inference call may still be running: it settles first.
      await inferring?.catch(() => {});
      await parts.dispose?.();
      if (closeErrors.length) log(`closing sinks: ${closeErrors.map(messageOf).join('; ')}`);
    }
    for (const lane of lanes) {
      if (lane.failure === undefined && lane.source.endedEarly && !lane.stopping && !stopping) {
        const { decoded, expected } = lane.source.endedEarly;
        lane.failure = new RoadsegError(`input ended early: decoded ${decoded} of the ${expected} frames its container declares (truncated or damaged file)`, {
          where: lane.source.info.uri,
          hint: `the ${lane.stats.framesOut} frames before the damage were processed and the outputs finalised; re-copy or re-encode the file`,
          exitCode: ExitCode.input,
        });
      }
    }
    // `results` completes either way (an error there would be unhandled in subscribers that only
    // count frames); the failure is `run`'s rejection.
    results.complete();
    const failure = sharedFailure ?? worstFailure(lanes);
    if (failure !== undefined) throw failure;
    return summary();
  };

  const summary = (): RunSummary => {
    const out: RunSummary = { ...stats.snapshot(), sinks: Object.fromEntries(sinks.map((s) => [s.name, s.stats?.() ?? {}])) };
    if (lanes.length > 1) {
      out.sources = Object.fromEntries(lanes.map((l) => [l.id, { ...l.stats.snapshot(), ...(l.failure !== undefined && { failed: messageOf(l.failure) }) }]));
      out.batches = batchStats.snapshot();
    }
    return out;
  };

  const handle: PipelineHandle = {
    context,
    sinks: sinks.map((g) => g.sink),
    stats,
    sourceStats: new Map(lanes.map((l) => [l.id, l.stats])),
    policies: lanes.map((l) => l.policy),
    results: results.asObservable(),
    run,
    summary,
    stop() {
      if (stopping) return;
      stopping = true;
      for (const lane of lanes) stopLane(lane);
    },
    abort() {
      aborting = true;
      handle.stop();
      aborted.next();
    },
  };
  return handle;
}

/**
 * The run's outcome when sources failed: one failure as it is; several as one error naming each,
 * with the exit code of the first.
 */
function worstFailure(lanes: readonly Lane[]): unknown {
  const failed = lanes.filter((l) => l.failure !== undefined);
  if (failed.length <= 1) return failed[0]?.failure;
  const first = failed[0]!.failure;
  return new RoadsegError(`${failed.length} of ${lanes.length} sources failed: ${failed.map((l) => `${l.id}: ${messageOf(l.failure)}`).join('; ')}`, {
    where: failed.map((l) => l.source.info.uri).join(', '),
    hint: 'the other sources were processed and every output finalised',
    exitCode: first instanceof RoadsegError ? first.exitCode : ExitCode.failure,
  });
}

function stepError(step: StageName, meta: { index: number; sourceId: string }, source: FrameSource, e: unknown): RoadsegError {
  if (e instanceof RoadsegError) return e;
  return new RoadsegError(`stage "${step}" failed on frame ${meta.index} of ${meta.sourceId}: ${messageOf(e)}`, {
    where: `${source.info.uri}, frame ${meta.index}`,
    hint: 'this is a bug if the input is valid: please report it with the input',
    exitCode: ExitCode.failure,
    cause: e,
  });
}
