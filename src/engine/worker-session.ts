/**
 * An onnxruntime session that lives in its own worker thread, with the part of the
 * InferenceSession interface the engine uses. Inputs are copied to the worker (the caller may
 * reuse them); outputs come back transferred, without a copy.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { packageRoot } from '../util/package.js';
import type { TensorData, WorkerReply, WorkerRequest } from './worker-protocol.js';

/** The compiled worker (tests run the TypeScript sources, but a worker needs JavaScript). */
const workerScript = join(packageRoot, 'dist', 'src', 'engine', 'inference-worker.js');

type Created = Extract<WorkerReply, { kind: 'created' }>;
type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class WorkerSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];

  private constructor(
    private readonly worker: Worker,
    private readonly call: (req: DistributiveOmit<WorkerRequest, 'id'>) => Promise<WorkerReply>,
    created: Created,
  ) {
    this.inputNames = created.inputNames;
    this.outputNames = created.outputNames;
    this.inputMetadata = created.inputMetadata;
    this.outputMetadata = created.outputMetadata;
  }

  static async create(path: string, options: ort.InferenceSession.SessionOptions): Promise<WorkerSession> {
    const worker = new Worker(workerScript);
    const pending = new Map<number, Pending>();
    let nextId = 0;
    const failAll = (e: Error) => {
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    };
    worker.on('message', (reply: WorkerReply) => {
      const p = pending.get(reply.id);
      pending.delete(reply.id);
      if (pending.size === 0) worker.unref();
      if (reply.kind === 'error') p?.reject(new Error(reply.message));
      else p?.resolve(reply);
    });
    worker.on('error', (e) => failAll(e));
    worker.on('exit', (code) => failAll(new Error(`the inference worker exited (code ${code})`)));
    const call = (req: DistributiveOmit<WorkerRequest, 'id'>) =>
      new Promise<WorkerReply>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        // Referenced only while a call is pending, so an idle engine never keeps the process alive.
        worker.ref();
        worker.postMessage({ ...req, id });
      });
    try {
      const created = (await call({ kind: 'create', path, options, logLevel: ort.env.logLevel ?? 'warning' })) as Created;
      return new WorkerSession(worker, call, created);
    } catch (e) {
      await worker.terminate();
      throw e;
    }
  }

  async run(feeds: Record<string, ort.Tensor>, fetches: string[]): Promise<Record<string, TensorData>> {
    const plain = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, { type: t.type, data: t.data as TensorData['data'], dims: t.dims }]));
    const reply = await this.call({ kind: 'run', feeds: plain, fetches });
    return (reply as Extract<WorkerReply, { kind: 'ran' }>).outputs;
  }

  async release(): Promise<void> {
    try {
      await this.call({ kind: 'release' });
    } finally {
      await this.worker.terminate();
    }
  }
}
