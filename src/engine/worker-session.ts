/**
 * onnxruntime sessions that live in one worker thread, with the part of the InferenceSession
 * interface the engine uses. Inputs are copied to the worker (the caller may reuse them); outputs
 * come back transferred, without a copy. Several sessions' runs go in one round trip.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { packageRoot } from '../util/package.js';
import type { TensorData, WorkerReply, WorkerRequest } from './worker-protocol.js';

/** The compiled worker (tests run the TypeScript sources, but a worker needs JavaScript). */
const workerScript = join(packageRoot, 'dist', 'src', 'engine', 'inference-worker.js');

/**
 * The worker thread's stack, MiB. onnxruntime's telemetry matches the process's command line
 * (/proc/self/cmdline) with a recursive std::regex when its first session is created: about 300
 * bytes of stack per character, so a long command line (a 16 KB --token, a shell-expanded list of
 * a thousand images) overflowed the worker's default 4 MiB and the process died of SIGSEGV. The
 * command line cannot be hidden from it (a worker's own argv does not change /proc/self/cmdline),
 * so the stack is sized to it, with a factor 2 to spare; only the pages used are ever committed.
 */
export function workerStackMb(cmdlineBytes = commandLineBytes()): number {
  return 4 + Math.ceil((cmdlineBytes * 600) / 2 ** 20);
}

function commandLineBytes(): number {
  try {
    return readFileSync('/proc/self/cmdline').length;
  } catch {
    // No /proc (not Linux): the arguments as Node holds them.
    return process.argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  }
}

type Created = Extract<WorkerReply, { kind: 'created' }>;
type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The thread; sessions are created in it and it ends when the last one is released. */
export class InferenceWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private live = 0;
  /** Set once the thread is being ended: no call is sent to it after that. */
  private ending = false;

  private constructor(private readonly worker: Worker) {
    const failAll = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      // Not while it is being ended: the process would exit before `terminate` settles (exit 13).
      if (this.pending.size === 0 && !this.ending) worker.unref();
      if (reply.kind === 'error') p?.reject(new Error(reply.message));
      else p?.resolve(reply);
    });
    worker.on('error', (e) => failAll(e));
    worker.on('exit', (code) => failAll(new Error(`the inference worker exited (code ${code})`)));
  }

  static start(): InferenceWorker {
    return new InferenceWorker(new Worker(workerScript, { argv: [], execArgv: [], resourceLimits: { stackSizeMb: workerStackMb() } }));
  }

  call(req: DistributiveOmit<WorkerRequest, 'id'>): Promise<WorkerReply> {
    return new Promise<WorkerReply>((resolve, reject) => {
      if (this.ending) return reject(new Error('the inference worker has been stopped'));
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      // Referenced only while a call is pending, so an idle engine never keeps the process alive.
      this.worker.ref();
      this.worker.postMessage({ ...req, id });
    });
  }

  async createSession(path: string, options: ort.InferenceSession.SessionOptions): Promise<WorkerSession> {
    const created = (await this.call({ kind: 'create', path, options, logLevel: ort.env.logLevel ?? 'warning' })) as Created;
    this.live++;
    return new WorkerSession(this, created);
  }

  /** Runs of several sessions in one round trip, in order; one output record per run. */
  async runAll(runs: { session: WorkerSession; feeds: Record<string, ort.Tensor>; fetches: string[] }[]): Promise<Record<string, TensorData>[]> {
    const plain = runs.map((r) => ({
      session: r.session.key,
      fetches: r.fetches,
      feeds: Object.fromEntries(Object.entries(r.feeds).map(([name, t]) => [name, { type: t.type, data: t.data as TensorData['data'], dims: t.dims }])),
    }));
    const reply = await this.call({ kind: 'run', runs: plain });
    return (reply as Extract<WorkerReply, { kind: 'ran' }>).outputs;
  }

  /** Releases one session (after the runs sent before it: the thread takes requests in order); the thread ends with the last. */
  async release(session: WorkerSession): Promise<void> {
    try {
      await this.call({ kind: 'release', session: session.key });
    } finally {
      if (--this.live <= 0) await this.terminate();
    }
  }

  /** Ends the thread whatever it holds (a failed start, the last release). Calls still pending are rejected. */
  async terminate(): Promise<void> {
    this.ending = true;
    // Referenced until it has exited, so that this promise settles before the process may end.
    this.worker.ref();
    await this.worker.terminate();
  }
}

export class WorkerSession {
  readonly key: number;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];

  constructor(
    readonly worker: InferenceWorker,
    created: Created,
  ) {
    this.key = created.session;
    this.inputNames = created.inputNames;
    this.outputNames = created.outputNames;
    this.inputMetadata = created.inputMetadata;
    this.outputMetadata = created.outputMetadata;
  }

  release(): Promise<void> {
    return this.worker.release(this);
  }
}
