/**
 * A fleet worker: takes jobs from the BullMQ queue and runs each through the same pipeline as
 * `roadseg run` (createPipeline), in this process.
 *
 * In process rather than a child `roadseg run` per job: the model is loaded once per concurrent
 * slot and reused (a one-second clip costs less than loading the model), and a worker killed with
 * SIGKILL takes its jobs with it instead of leaving an orphan writing into a folder that the retry
 * also writes into. The cost is that lock renewal shares the event loop with decoding, rendering
 * and encoding; inference runs in a worker thread. The loop's longest block is measured per job
 * (JobResult.eventLoopMaxBlockMs, `npm run bench:fleet`) and is far below the lock period.
 *
 * Outputs are written into a hidden temporary folder beside the final one and renamed to
 * `<out>/<input name>-<short id>/` only when complete, so a job run twice (a worker died after
 * finishing, or its lock expired) never leaves a half or doubled output: the second run finds the
 * folder and completes without writing. Temporary folders of an earlier, dead attempt of the same
 * job are removed when the job starts again.
 *
 * Stopping: the first SIGTERM/SIGINT lets the jobs in progress finish; the second abandons them (their
 * pipelines aborted, sinks finalised, temporary folders removed, the jobs handed back to the queue).
 * Either way, once no job of this worker runs, Redis gets `closeTimeoutMs` to take the results and
 * close the connections: a Redis that is down or never came up does not keep the worker alive.
 *
 * Failures: usage and input errors (exit codes 2, 3: a bad file stays bad) fail the job at once,
 * with the error's what/where/hint as its reason, and keep what was produced before the failure
 * in `<out>/<input name>-<short id>.failed/`; others (model, output, device, anything else) are
 * retried with backoff, each attempt from the start.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { createPipeline } from '../app/open.js';
import type { DeviceChoice } from '../engine/devices.js';
import { SegmentationEngine } from '../engine/engine.js';
import { throttledLog } from '../util/broker.js';
import { within } from '../util/deadline.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { ensureWritableDir } from '../util/output.js';
import { onInterrupt, type Interrupt } from '../util/interrupts.js';
import { fleetConnection, fleetDefaults, openQueue, type JobData, type JobProgress, type JobResult } from './jobs.js';

export interface WorkerOptions {
  redisUrl: string;
  queue: string;
  /** Output root instead of the one given at submit (per-machine folders). */
  outDir?: string;
  concurrency: number;
  device: DeviceChoice;
  /** CPU inference threads per concurrent job (default: the cores shared among them). */
  threads?: number;
  modelsDir?: string;
  lockDurationMs: number;
  /** Once no job of this worker runs, how long Redis gets to take the results and close, ms. */
  closeTimeoutMs: number;
  exitWhenIdle: boolean;
  log: (line: string) => void;
}

/** Exit codes whose cause does not go away on a retry. */
const permanentExitCodes: ReadonlySet<number> = new Set([ExitCode.usage, ExitCode.input]);

/** The error a failed job reports, its message the what/where/hint lines: permanent ones are not retried. */
export function classifyFailure(e: unknown): Error {
  const reason = e instanceof RoadsegError ? e.describe() : `error: ${messageOf(e)}`;
  if (e instanceof RoadsegError && permanentExitCodes.has(e.exitCode)) return new UnrecoverableError(reason);
  return new Error(reason);
}

/** Engines kept between jobs: one per concurrent slot, by the options that make them differ. */
class EnginePool {
  private readonly idle = new Map<string, SegmentationEngine[]>();

  constructor(private readonly base: { device: DeviceChoice; threads: number; modelsDir?: string; log: (line: string) => void }) {}

  async take(model: string | undefined, inputHeight: number | undefined): Promise<{ engine: SegmentationEngine; give: () => void }> {
    const key = JSON.stringify([model, inputHeight]);
    let engine = this.idle.get(key)?.pop();
    if (!engine) {
      // One engine per running job at most: idle ones made for other options go.
      for (const [k, list] of this.idle) if (k !== key) for (const e of list.splice(0)) await e.dispose();
      engine = await SegmentationEngine.create({ ...this.base, model, inputHeight });
    }
    const taken = engine;
    return { engine: taken, give: () => void (this.idle.get(key) ?? this.idle.set(key, []).get(key)!).push(taken) };
  }

  async dispose(): Promise<void> {
    for (const list of this.idle.values()) for (const e of list.splice(0)) await e.dispose();
  }
}

/** What runJob throws when its signal stopped the job before it completed: nothing was published. */
export class JobAbandoned extends Error {
  constructor() {
    super('the job was stopped before it completed');
    this.name = 'JobAbandoned';
  }
}

/**
 * Runs one job; resolves with its result or throws what classifyFailure made of the failure, or
 * JobAbandoned when `signal` aborts it first (its pipeline is aborted, the sinks finalised as a
 * stopped `roadseg run` finalises them, and its temporary folder removed: a stopped attempt's
 * partial outputs are never published, and the next attempt starts from the beginning).
 */
export async function runJob(job: Job<JobData, JobResult>, engines: EnginePool, outRoot: string | undefined, log: (line: string) => void, signal: AbortSignal): Promise<JobResult> {
  const { input, outputName, options } = job.data;
  const root = outRoot ?? job.data.outDir;
  const final = join(root, outputName);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = performance.now();
  if (existsSync(join(final, 'summary.json'))) return { ...previousResult(final), alreadyDone: true };
  let temp: string;
  try {
    temp = freshTempDir(root, outputName, input);
  } catch (e) {
    throw classifyFailure(e);
  }
  let progressTimer: NodeJS.Timeout | undefined;
  const { engine, give } = await engines.take(options.model, options.inputHeight).catch((e: unknown) => {
    rmSync(temp, { recursive: true, force: true });
    throw signal.aborted ? new JobAbandoned() : classifyFailure(e);
  });
  let abort = () => {};
  try {
    if (signal.aborted) throw new JobAbandoned();
    const pipeline = await createPipeline(
      {
        source: input,
        sinks: [...(options.video === false ? [] : [join(temp, 'overlay.mp4')]), `signal:${join(temp, 'signal.jsonl')}`],
        live: false,
        ...(options.start !== undefined && { start: options.start }),
        ...(options.duration !== undefined && { duration: options.duration }),
        ...(options.stride !== undefined && { stride: options.stride }),
        ...(options.opacity !== undefined && { opacity: options.opacity }),
        ...(options.hud !== undefined && { hud: options.hud }),
        ...(options.corridor && { corridor: options.corridor }),
      },
      { engine, log },
    );
    abort = () => pipeline.abort();
    signal.addEventListener('abort', abort);
    if (signal.aborted) abort();
    const framesTotal = pipeline.context.stream.frameCount ?? null;
    const report = () => void job.updateProgress({ framesDone: pipeline.stats.framesOut, framesTotal } satisfies JobProgress).catch(() => {});
    report();
    progressTimer = setInterval(report, 1000);
    const summary = await pipeline.run();
    clearInterval(progressTimer);
    if (signal.aborted) throw new JobAbandoned();
    report();
    const result: JobResult = {
      output: final,
      frames: summary.framesOut,
      elapsedS: round((performance.now() - t0) / 1000),
      fps: summary.fps,
      eventLoopMaxBlockMs: round(loop.max / 1e6),
    };
    writeFileSync(join(temp, 'summary.json'), JSON.stringify({ ...summary, model: pipeline.context.manifest.id, device: pipeline.context.device, source: pipeline.context.stream, job: { id: job.id, attempt: job.attemptsMade + 1, ...result } }, null, 2) + '\n');
    try {
      renameSync(temp, final);
    } catch (e) {
      // Another attempt of this job finished first: its output stands, this one is discarded.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      rmSync(temp, { recursive: true, force: true });
      return { ...previousResult(final), alreadyDone: true };
    }
    return result;
  } catch (e) {
    // A stopped job's failure (the abort itself, or anything after it) is not the job's.
    if (signal.aborted) {
      rmSync(temp, { recursive: true, force: true });
      throw new JobAbandoned();
    }
    const failure = classifyFailure(e);
    if (failure instanceof UnrecoverableError && readdirSync(temp).length) {
      // No retry will redo it: what was produced before the failure (a truncated file's first
      // frames) is kept beside the outputs, named as failed.
      const kept = `${final}.failed`;
      rmSync(kept, { recursive: true, force: true });
      renameSync(temp, kept);
      failure.message += `\n  partial outputs: ${kept}`;
    } else {
      rmSync(temp, { recursive: true, force: true });
    }
    throw failure;
  } finally {
    signal.removeEventListener('abort', abort);
    clearInterval(progressTimer);
    loop.disable();
    give();
  }
}

/**
 * The job's new temporary folder in `root` (made if missing; a read-only or unwritable root fails
 * with its real cause, as `roadseg run` reports an output folder); an earlier, dead attempt's are removed.
 */
function freshTempDir(root: string, outputName: string, input: string): string {
  ensureWritableDir(root, input);
  const tempPrefix = `.${outputName}.tmp-`;
  for (const f of readdirSync(root)) if (f.startsWith(tempPrefix)) rmSync(join(root, f), { recursive: true, force: true });
  const temp = join(root, `${tempPrefix}${randomBytes(4).toString('hex')}`);
  mkdirSync(temp);
  return temp;
}

function previousResult(final: string): JobResult {
  const s = JSON.parse(readFileSync(join(final, 'summary.json'), 'utf8')) as { job: JobResult };
  return s.job;
}

/** How a worker ended: its counts, the signal that stopped it, and whether Redis let it close in time. */
export interface WorkerOutcome {
  completed: number;
  failed: number;
  /** The first SIGTERM/SIGINT, when one stopped the worker. */
  signal?: Interrupt;
  /** False when the worker exits without a clean close: a second signal, or Redis past the deadline. */
  closed: boolean;
}

/**
 * Runs a worker until SIGTERM/SIGINT or, with `exitWhenIdle`, until the queue has nothing waiting,
 * delayed or active. The first signal lets the jobs in progress finish (however long they take);
 * the second abandons them and hands them back to the queue. Then, whatever Redis does, the worker
 * is gone within `closeTimeoutMs`: the caller exits the process when `closed` is false, as the
 * connections of a Redis that is down keep retrying.
 */
export async function runWorker(opts: WorkerOptions): Promise<WorkerOutcome> {
  const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / opts.concurrency));
  const engines = new EnginePool({ device: opts.device, threads, ...(opts.modelsDir && { modelsDir: opts.modelsDir }), log: opts.log });
  const counts = { completed: 0, failed: 0 };
  /** This worker's jobs being run (runJob itself, not the Redis calls around it), with their stop. */
  const running = new Map<Promise<unknown>, AbortController>();
  let firstSignal: Interrupt | undefined;
  let stoppedNow = false;
  let closing = false;
  const processJob = async (job: Job<JobData, JobResult>, token?: string): Promise<JobResult> => {
    // Fetched as the worker stops: not started, handed back.
    if (firstSignal) return handBack(job, token);
    // Logged here, not on BullMQ's 'active' event (which comes before the job reaches this
    // function): a job said to be started is one a signal counts as in progress.
    opts.log(`job ${job.id} ${job.data.input}: started`);
    const stop = new AbortController();
    const run = runJob(job, engines, opts.outDir, opts.log, stop.signal);
    const settled = run.catch(() => {});
    running.set(settled, stop);
    void settled.finally(() => running.delete(settled));
    try {
      return await run;
    } catch (e) {
      if (e instanceof JobAbandoned) return handBack(job, token);
      throw e;
    }
  };
  const worker = new Worker<JobData, JobResult>(opts.queue, processJob, {
    connection: fleetConnection(opts.redisUrl, true),
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: Math.max(1000, Math.round(opts.lockDurationMs / 2)),
    maxStalledCount: fleetDefaults.maxStalledCount,
    autorun: false,
  });
  worker.on('completed', (job, r) => {
    counts.completed++;
    opts.log(`job ${job.id} ${job.data.input}: ${r.alreadyDone ? 'already done by an earlier attempt' : `${r.frames} frames in ${r.elapsedS} s (${r.fps} fps, event loop blocked ${r.eventLoopMaxBlockMs} ms at most)`} -> ${r.output}`);
  });
  worker.on('failed', (job, e) => {
    counts.failed++;
    const final = e instanceof UnrecoverableError || (job && job.attemptsMade >= (job.opts.attempts ?? 1));
    opts.log(`job ${job?.id} ${job?.data.input ?? ''}: ${final ? 'failed' : `attempt ${job?.attemptsMade} failed, will retry`}: ${e.message.replace(/\n/g, ' | ')}`);
  });
  // A Redis restart makes every connection report each retry: one line per kind is enough.
  const warn = throttledLog(opts.log);
  worker.on('error', (e) => warn(`worker: ${messageOf(e)}`));

  let signalled = () => {};
  const stopRequested = new Promise<void>((resolve) => (signalled = resolve));
  let stopNow = () => {};
  const nowRequested = new Promise<'now'>((resolve) => (stopNow = () => resolve('now')));
  const onSignal = (sig: Interrupt) => {
    const n = running.size;
    const jobs = `${n} job${n === 1 ? '' : 's'} in progress`;
    if (!firstSignal) {
      firstSignal = sig;
      const again = sig === 'SIGINT' ? 'press Ctrl-C again (or send SIGTERM)' : 'send SIGTERM again (or press Ctrl-C)';
      opts.log(n ? `${sig}: finishing ${jobs}, then exiting; ${again} to stop now` : `${sig}: no job in progress, exiting`);
      signalled();
    } else if (!stoppedNow) {
      opts.log(n ? `${sig} again: stopping now; ${jobs} abandoned and handed back to the queue` : `${sig} again: exiting now`);
      stoppedNow = true;
      stopNow();
    }
  };
  const released = onInterrupt(onSignal);
  let idleTimer: NodeJS.Timeout | undefined;
  const queue = opts.exitWhenIdle ? openQueue(opts.redisUrl, opts.queue, true) : undefined;
  // Stops taking jobs; settles once the jobs' results reached Redis and the connections closed.
  const close = () => {
    closing = true;
    clearInterval(idleTimer);
    return Promise.all([worker.close(), queue?.close()]);
  };
  if (queue) {
    // Active jobs of other workers count: a dead worker's job comes back after its lock expires.
    idleTimer = setInterval(() => {
      void queue
        .getJobCounts('waiting', 'prioritized', 'delayed', 'active')
        .then((c) => (Object.values(c).some((n) => n > 0) || closing ? undefined : close()))
        .catch(() => {});
    }, 1000);
  }
  opts.log(`worker on queue ${opts.queue}: concurrency ${opts.concurrency}, ${threads} inference thread(s) each, lock ${opts.lockDurationMs} ms`);
  const seconds = `${opts.closeTimeoutMs / 1000} s`;
  try {
    await Promise.race([worker.run(), stopRequested]);
    if (firstSignal) {
      void close().catch(() => {});
      const how = await Promise.race([Promise.allSettled(running.keys()), nowRequested]);
      if (how === 'now') {
        for (const stop of running.values()) stop.abort();
        // The aborted jobs finalise their sinks and remove their folders, then go back to the queue.
        const done = await within(Promise.allSettled(running.keys()).then(close), opts.closeTimeoutMs);
        if (!done) opts.log(`the abandoned jobs and Redis did not finish within ${seconds} (--close-timeout): exiting; the queue gives those jobs out again once their locks expire`);
        return { ...counts, signal: firstSignal, closed: false };
      }
    }
    // No job of ours runs now. Redis takes the last results and the connections close; one that is
    // down does not hold the worker past the deadline, and a second signal does not wait for it.
    const closed = await within(Promise.race([close(), nowRequested]), opts.closeTimeoutMs);
    if (!closed) opts.log(`Redis did not answer within ${seconds} (--close-timeout): exiting without closing the connection`);
    return { ...counts, ...(firstSignal && { signal: firstSignal }), closed: closed && !stoppedNow };
  } finally {
    clearInterval(idleTimer);
    released();
    await within(engines.dispose(), opts.closeTimeoutMs);
  }
}

/**
 * Gives a job of a stopping worker back to the queue, now, without counting an attempt (BullMQ's
 * WaitingError: moved, not failed). When Redis does not answer, the worker exits anyway and the
 * queue gives the job out again as stalled once its lock expires.
 */
async function handBack(job: Job<JobData, JobResult>, token: string | undefined): Promise<never> {
  if (token) await job.moveToWait(token);
  throw new WaitingError();
}

const round = (x: number) => Math.round(x * 100) / 100;
