/** Messages between the engine (main thread) and its inference worker. */
import type * as ort from 'onnxruntime-node';

export interface TensorData {
  type: ort.Tensor.Type;
  data: ArrayBufferView & ArrayLike<number>;
  dims: readonly number[];
}

/** One session's run within a `run` request. */
export interface SessionRun {
  session: number;
  feeds: Record<string, TensorData>;
  fetches: string[];
}

export type WorkerRequest =
  | { kind: 'create'; id: number; path: string; options: ort.InferenceSession.SessionOptions; logLevel: NonNullable<typeof ort.env.logLevel> }
  /** Several sessions' runs, one after the other, answered together (the models of one frame). */
  | { kind: 'run'; id: number; runs: SessionRun[] }
  | { kind: 'release'; id: number; session: number };

export type WorkerReply =
  | {
      kind: 'created';
      id: number;
      session: number;
      inputNames: string[];
      outputNames: string[];
      inputMetadata: ort.InferenceSession.ValueMetadata[];
      outputMetadata: ort.InferenceSession.ValueMetadata[];
    }
  | { kind: 'ran'; id: number; outputs: Record<string, TensorData>[] }
  | { kind: 'released'; id: number }
  | { kind: 'error'; id: number; message: string };
