/**
 * Fleet replay on BullMQ: what a job is and how it is named, submitted and counted. The worker that
 * runs jobs is in worker.ts (it loads the pipeline; this module does not, so `roadseg submit` and
 * `roadseg status` start fast).
 *
 * A job is one input file plus the options that shape its result (model, input height, frame
 * range, overlay look). Its id is a hash of the file's real path, size, modification time and those
 * options: submitting the same files again adds nothing, and a changed file is a new job. How a
 * job runs (device, threads, concurrency) is the worker's choice, not part of the job.
 */
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { Queue, type ConnectionOptions, type Job } from 'bullmq';
import { videoInputExtensions } from '../core/uri.js';
import { expandInputs } from '../util/glob.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { parseRedisUrl } from '../util/broker.js';

/** Options that shape a job's outputs; part of its id. */
export interface JobOptions {
  model?: string;
  inputHeight?: number;
  start?: number;
  duration?: number;
  stride?: number;
  opacity?: number;
  hud?: boolean;
  corridor?: { centerX: number; topY: number; bottomY: number; topWidth: number; bottomWidth: number };
  /** Write overlay.mp4 (default true). */
  video?: boolean;
}

export interface JobData {
  /** The input file's real path. */
  input: string;
  /** Output folder name: `<input name>-<short id>`. */
  outputName: string;
  /** The output root given at submit (a worker may override it with its own). */
  outDir: string;
  options: JobOptions;
}

/** What a completed job returns (kept by BullMQ, read by `roadseg status`). */
export interface JobResult {
  output: string;
  frames: number;
  elapsedS: number;
  fps: number;
  /** Longest the worker's event loop was blocked during the job, ms (must stay below the lock period). */
  eventLoopMaxBlockMs: number;
  /** True when an earlier attempt had already completed the output (at-least-once delivery). */
  alreadyDone?: boolean;
}

/** Progress a worker reports while a job runs. */
export interface JobProgress {
  framesDone: number;
  framesTotal: number | null;
}

export const fleetDefaults = {
  attempts: 3,
  /** Exponential backoff between attempts: 2 s, 4 s. */
  backoffMs: 2000,
  /**
   * How long a worker's claim on a job lasts without renewal (renewed every half period). It must
   * exceed the longest event-loop block of a worker (docs/performance.md: Fleet), or a busy job is
   * taken for stalled and run twice.
   */
  lockDurationMs: 30_000,
  /**
   * A stopping worker, once none of its jobs runs, gives Redis this long to take their results and
   * close the connections, seconds; then it exits anyway (a Redis that is down never answers).
   */
  closeTimeoutS: 10,
  /** A job whose worker died is handed back at most this many times, then failed. */
  maxStalledCount: 2,
} as const;


/** Files, folders (their videos, sorted by name) and globs (`*` `?` in the last component). */
export function expandVideoInputs(inputs: readonly string[]): string[] {
  return expandInputs(inputs, { noun: 'videos', extensions: videoInputExtensions, mustExist: true });
}

/** The job for one file: its id (from real path, size, mtime and options) and its data. */
export function jobFor(file: string, options: JobOptions, outDir: string): { id: string; data: JobData } {
  const input = realpathSync(file);
  const st = statSync(input);
  // Sorted keys: the same options always hash the same.
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b))));
  const hash = createHash('sha256').update(JSON.stringify([input, st.size, st.mtimeMs, canonical])).digest('hex');
  // A letter first: BullMQ treats all-digit ids as its own counters.
  const id = `r${hash.slice(0, 23)}`;
  return { id, data: { input, outputName: `${basename(input, extname(input))}-${hash.slice(0, 8)}`, outDir: resolve(outDir), options } };
}

const redisHint = 'redis://HOST[:PORT][/DB], e.g. redis://127.0.0.1:6379/0';

/**
 * The BullMQ connection for a `redis://HOST:PORT/DB` URL (no query options). A worker's commands
 * wait through a Redis restart (BullMQ's advice for workers); a command-line client (`submit`,
 * `status`) gives up after a few seconds instead of hanging on a server that is not there.
 */
export function fleetConnection(url: string, waitForRedis: boolean): ConnectionOptions {
  const { server, params } = parseRedisUrl(url, redisHint);
  if ([...params.keys()].length) throw new RoadsegError(`the fleet's Redis URL takes no options: ${url}`, { where: url, hint: redisHint, exitCode: ExitCode.usage });
  if (waitForRedis) return { ...server, maxRetriesPerRequest: null };
  return { ...server, maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: (times: number) => (times > 3 ? null : 500) };
}

export function openQueue(url: string, name: string, waitForRedis = false): Queue<JobData, JobResult> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new RoadsegError(`invalid queue name "${name}"`, { hint: 'letters, digits, . _ - only', exitCode: ExitCode.usage });
  const queue = new Queue<JobData, JobResult>(name, { connection: fleetConnection(url, waitForRedis) });
  // Connection errors surface as the failure of the command that needed the connection.
  queue.on('error', () => {});
  return queue;
}

export interface SubmitResult {
  added: string[];
  known: string[];
}

/** Adds one job per file; files already known (same id) are left as they are. */
export async function submitJobs(queue: Queue<JobData, JobResult>, files: readonly string[], options: JobOptions, outDir: string): Promise<SubmitResult> {
  const jobs = files.map((f) => jobFor(f, options, outDir));
  const unique = [...new Map(jobs.map((j) => [j.id, j])).values()];
  const states = await Promise.all(unique.map((j) => queue.getJobState(j.id)));
  const fresh = unique.filter((_, i) => states[i] === 'unknown');
  await queue.addBulk(
    fresh.map((j) => ({
      name: 'replay',
      data: j.data,
      opts: { jobId: j.id, attempts: fleetDefaults.attempts, backoff: { type: 'exponential', delay: fleetDefaults.backoffMs }, removeOnComplete: false, removeOnFail: false },
    })),
  );
  const added = new Set(fresh.map((j) => j.id));
  return { added: unique.filter((j) => added.has(j.id)).map((j) => j.data.input), known: unique.filter((j) => !added.has(j.id)).map((j) => j.data.input) };
}

export interface FleetStatus {
  queue: string;
  counts: { waiting: number; active: number; delayed: number; completed: number; failed: number };
  /** Frames per second of the jobs finished in the last minute, over the fleet. */
  fps: number;
  filesPerMinute: number;
  /** Seconds until the waiting, delayed and active jobs are done at the last minute's pace; null when unknown. */
  etaS: number | null;
  active: { id: string; input: string; progress: JobProgress | null }[];
  failed: { id: string; input: string; attempts: number; reason: string }[];
}

export async function fleetStatus(queue: Queue<JobData, JobResult>, windowMs = 60_000, now = Date.now()): Promise<FleetStatus> {
  const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
  const counts = { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
  const windowStart = now - windowMs;
  const recent = (await queue.getCompleted(0, 999)).filter((j) => (j.finishedOn ?? 0) >= windowStart);
  const active = await queue.getActive(0, 99);
  // Over the last minute, or since the first of those jobs started if that is later.
  const since = Math.max(windowStart, Math.min(...[...recent, ...active].map((j) => j.processedOn ?? now)));
  const spanS = Math.max(1, (now - since) / 1000);
  // Of each job's frames, the share done within the window (at an even pace); running jobs count too.
  const inWindow = (frames: number, startedAt: number, endedAt: number) => frames * Math.min(1, (endedAt - windowStart) / Math.max(1, endedAt - startedAt));
  const frames =
    recent.reduce((n, j) => n + inWindow(j.returnvalue?.frames ?? 0, j.processedOn ?? now, j.finishedOn ?? now), 0) +
    active.reduce((n, j) => n + inWindow(progressOf(j)?.framesDone ?? 0, j.processedOn ?? now, now), 0);
  const filesPerS = recent.length / spanS;
  const remaining = counts.waiting + counts.delayed + counts.active;
  const failed = await queue.getFailed(0, 99);
  return {
    queue: queue.name,
    counts,
    fps: round(frames / spanS),
    filesPerMinute: round(filesPerS * 60),
    etaS: remaining === 0 ? 0 : filesPerS > 0 ? Math.round(remaining / filesPerS) : null,
    active: active.map((j) => ({ id: j.id ?? '', input: j.data.input, progress: progressOf(j) })),
    failed: failed.map((j) => ({ id: j.id ?? '', input: j.data.input, attempts: j.attemptsMade, reason: j.failedReason })),
  };
}

function progressOf(job: Job<JobData, JobResult>): JobProgress | null {
  const p = job.progress;
  return typeof p === 'object' && p !== null && 'framesDone' in p ? (p as JobProgress) : null;
}

const round = (x: number) => Math.round(x * 100) / 100;
