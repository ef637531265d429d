/** Messages between the engine (main thread) and its inference worker. */
import type * as ort from 'onnxruntime-node';

export interface TensorData {
  type: ort.Tensor.Type;
  data: ArrayBufferView & ArrayLike<number>;
  dims: readonly number[];
}

export type WorkerRequest =
  | { kind: 'create'; id: number; path: string; options: ort.InferenceSession.SessionOptions; logLevel: NonNullable<typeof ort.env.logLevel> }
  | { kind: 'run'; id: number; feeds: Record<string, TensorData>; fetches: string[] }
  | { kind: 'release'; id: number };

export type WorkerReply =
  | {
      kind: 'created';
      id: number;
      inputNames: string[];
      outputNames: string[];
      inputMetadata: ort.InferenceSession.ValueMetadata[];
      outputMetadata: ort.InferenceSession.ValueMetadata[];
    }
  | { kind: 'ran'; id: number; outputs: Record<string, TensorData> }
  | { kind: 'released'; id: number }
  | { kind: 'error'; id: number; message: string };
