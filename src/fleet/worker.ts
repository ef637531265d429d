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
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { createPipeline } from '../app/open.js';
import type { DeviceChoice } from '../engine/devices.js';
import { SegmentationEngine } from '../engine/engine.js';
import { throttledLog } from '../util/broker.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { interruptExitCode, onInterrupt, type Interrupt } from '../util/interrupts.js';
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

/** Runs one job; resolves with its result or throws what classifyFailure made of the failure. */
export async function runJob(job: Job<JobData, JobResult>, engines: EnginePool, outRoot: string | undefined, log: (line: string) => void): Promise<JobResult> {
  const { input, outputName, options } = job.data;
  const root = outRoot ?? job.data.outDir;
  const final = join(root, outputName);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = performance.now();
  if (existsSync(join(final, 'summary.json'))) return { ...previousResult(final), alreadyDone: true };
  const tempPrefix = `.${outputName}.tmp-`;
  mkdirSync(root, { recursive: true });
  for (const f of readdirSync(root)) if (f.startsWith(tempPrefix)) rmSync(join(root, f), { recursive: true, force: true });
  const temp = join(root, `${tempPrefix}${randomBytes(4).toString('hex')}`);
  mkdirSync(temp);
  let progressTimer: NodeJS.Timeout | undefined;
  const { engine, give } = await engines.take(options.model, options.inputHeight).catch((e: unknown) => {
    rmSync(temp, { recursive: true, force: true });
    throw classifyFailure(e);
  });
  try {
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
    const framesTotal = pipeline.context.stream.frameCount ?? null;
    const report = () => void job.updateProgress({ framesDone: pipeline.stats.framesOut, framesTotal } satisfies JobProgress).catch(() => {});
    report();
    progressTimer = setInterval(report, 1000);
    const summary = await pipeline.run();
    clearInterval(progressTimer);
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
    clearInterval(progressTimer);
    loop.disable();
    give();
  }
}

function previousResult(final: string): JobResult {
  const s = JSON.parse(readFileSync(join(final, 'summary.json'), 'utf8')) as { job: JobResult };
  return s.job;
}

/**
 * Runs a worker until SIGTERM/SIGINT (the jobs in progress finish first; a second signal hands
 * them back at once) or, with `exitWhenIdle`, until the queue has nothing waiting, delayed or active.
 */
export async function runWorker(opts: WorkerOptions): Promise<{ completed: number; failed: number }> {
  const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / opts.concurrency));
  const engines = new EnginePool({ device: opts.device, threads, ...(opts.modelsDir && { modelsDir: opts.modelsDir }), log: opts.log });
  const counts = { completed: 0, failed: 0 };
  const worker = new Worker<JobData, JobResult>(opts.queue, (job) => runJob(job, engines, opts.outDir, opts.log), {
    connection: fleetConnection(opts.redisUrl, true),
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: Math.max(1000, Math.round(opts.lockDurationMs / 2)),
    maxStalledCount: fleetDefaults.maxStalledCount,
    autorun: false,
  });
  worker.on('active', (job) => opts.log(`job ${job.id} ${job.data.input}: started`));
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

  let stopping = false;
  const stop = (sig: Interrupt) => {
    if (!stopping) {
      stopping = true;
      opts.log(`${sig}: finishing the jobs in progress, then exiting (again to hand them back now)`);
      void worker.close();
    } else {
      // Their locks are not renewed any more: the queue gives the jobs to another worker once the
      // locks expire, and that attempt removes this one's temporary folders.
      opts.log(`${sig} again: leaving the jobs in progress to the queue, exiting now`);
      void worker.close(true).finally(() => process.exit(interruptExitCode(sig)));
    }
  };
  const released = onInterrupt(stop);
  let idleTimer: NodeJS.Timeout | undefined;
  const queue = opts.exitWhenIdle ? openQueue(opts.redisUrl, opts.queue, true) : undefined;
  if (queue) {
    // Active jobs of other workers count: a dead worker's job comes back after its lock expires.
    idleTimer = setInterval(() => {
      void queue
        .getJobCounts('waiting', 'prioritized', 'delayed', 'active')
        .then((c) => {
          if (Object.values(c).some((n) => n > 0) || stopping) return;
          stopping = true;
          return worker.close();
        })
        .catch(() => {});
    }, 1000);
  }
  opts.log(`worker on queue ${opts.queue}: concurrency ${opts.concurrency}, ${threads} inference thread(s) each, lock ${opts.lockDurationMs} ms`);
  try {
    await worker.run();
  } finally {
    clearInterval(idleTimer);
    released();
    await worker.close();
    await queue?.close();
    await engines.dispose();
  }
  return counts;
}

const round = (x: number) => Math.round(x * 100) / 100;
