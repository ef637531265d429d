/**
 * The worker thread that holds the onnxruntime sessions (the scene model and, where asked, the
 * drivable model: one thread, both sessions). onnxruntime-node runs inference synchronously on the
 * calling thread (its `run` only defers the call with setImmediate), so on the main thread a
 * 60-150 ms inference would stall decoding, rendering, encoding and sockets. Here it runs beside
 * them. OpenCV is never loaded in this thread (it crashes in more than one).
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { TensorData, WorkerReply, WorkerRequest } from './worker-protocol.js';

if (!parentPort) throw new Error('inference-worker must run as a worker thread');
const port = parentPort;
const sessions = new Map<number, ort.InferenceSession>();
let nextSession = 0;

const metadata = (values: readonly ort.InferenceSession.ValueMetadata[]) => values.map((v) => ({ ...v }));

/**
 * Requests are handled one after the other, in the order sent: a session is never released while
 * a run on it is in progress (onnxruntime aborts the process then), and a run sent after the
 * release gets an error instead of reaching a released session.
 */
let queue = Promise.resolve();
port.on('message', (msg: WorkerRequest) => {
  queue = queue.then(() => handle(msg)).catch((e: unknown) => {
    // The reply itself could not be sent: say so, and keep the queue going for the next request.
    const reply: WorkerReply = { kind: 'error', id: msg.id, message: e instanceof Error ? e.message : String(e) };
    try {
      port.postMessage(reply);
    } catch {
      // nothing more can be said to the engine
    }
  });
});

function sessionOf(key: number): ort.InferenceSession {
  const session = sessions.get(key);
  if (!session) throw new Error(`inference session ${key} has been released`);
  return session;
}

async function handle(msg: WorkerRequest): Promise<void> {
  let reply: WorkerReply;
  try {
    switch (msg.kind) {
      case 'create': {
        ort.env.logLevel = msg.logLevel;
        const session = await ort.InferenceSession.create(msg.path, msg.options);
        const key = nextSession++;
        sessions.set(key, session);
        reply = {
          kind: 'created',
          id: msg.id,
          session: key,
          inputNames: [...session.inputNames],
          outputNames: [...session.outputNames],
          inputMetadata: metadata(session.inputMetadata),
          outputMetadata: metadata(session.outputMetadata),
        };
        break;
      }
      case 'run': {
        const outputs: Record<string, TensorData>[] = [];
        for (const run of msg.runs) {
          const feeds = Object.fromEntries(Object.entries(run.feeds).map(([name, t]) => [name, new ort.Tensor(t.type, t.data as ort.Tensor.DataType, t.dims)]));
          const result = await sessionOf(run.session).run(feeds, run.fetches);
          outputs.push(Object.fromEntries(Object.entries(result).map(([name, t]) => [name, { type: t.type, data: t.data as TensorData['data'], dims: [...t.dims] }])));
        }
        reply = { kind: 'ran', id: msg.id, outputs };
        port.postMessage(reply, outputs.flatMap((o) => Object.values(o).map((t) => t.data.buffer as ArrayBuffer)));
        return;
      }
      case 'release':
        await sessions.get(msg.session)?.release();
        sessions.delete(msg.session);
        reply = { kind: 'released', id: msg.id };
        break;
    }
  } catch (e) {
    reply = { kind: 'error', id: msg.id, message: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
}
