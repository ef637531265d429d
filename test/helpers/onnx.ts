/**
 * Builds tiny ONNX models (through onnx-proto, as the engine's fp16 maker reads them), so the tests
 * can make models with a wrong contract, or small float graphs, without any Python tooling.
 */
import { createHash } from 'node:crypto';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const ElemType = { float: 1, uint8: 2, float16: 10 } as const;

export interface ValueSpec {
  name: string;
  elemType: number;
  /** Numbers are fixed dims, strings symbolic ones. */
  dims: (number | string)[];
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integer attributes (Cast's `to`). */
  ints?: Record<string, number>;
}

/** A float32 constant of the graph. */
export interface InitializerSpec {
  name: string;
  dims: number[];
  values: number[];
}

function valueInfo(v: ValueSpec) {
  const dim = v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name: v.name, type: { tensorType: { elemType: v.elemType, shape: { dim } } } };
}

export function buildOnnx(spec: { inputs: ValueSpec[]; outputs: ValueSpec[]; nodes: NodeSpec[]; initializers?: InitializerSpec[] }): Buffer {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'roadseg-test',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny',
      node: spec.nodes.map((n, i) => ({
        name: `n${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.ints ?? {}).map(([name, i]) => ({ name, i, type: onnx.AttributeProto.AttributeType.INT })),
      })),
      initializer: (spec.initializers ?? []).map((t) => ({ name: t.name, dims: t.dims, dataType: ElemType.float, rawData: new Uint8Array(Float32Array.from(t.values).buffer) })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** A model whose contract differs from DeepLab's: float NCHW input "input", one output "out". */
export function wrongContractModel(): Buffer {
  return buildOnnx({
    inputs: [{ name: 'input', elemType: ElemType.float, dims: [1, 3, 'h', 'w'] }],
    outputs: [{ name: 'out', elemType: ElemType.float, dims: [1, 3, 'h', 'w'] }],
    nodes: [{ op: 'Identity', inputs: ['input'], outputs: ['out'] }],
  });
}

/**
 * A model with DeepLab's input whose heads are wrong against a classes + drivable + lanes manifest:
 * class logits with 5 channels, drivable logits with 3 (a binary head has 2), no lanes outputs.
 */
export function wrongHeadsModel(): Buffer {
  const image: ValueSpec = { name: 'image', elemType: ElemType.uint8, dims: ['N', 'H', 'W', 3] };
  return buildOnnx({
    inputs: [image],
    outputs: [
      { name: 'labels', elemType: ElemType.uint8, dims: ['N', 'H', 'W'] },
      { name: 'logits', elemType: ElemType.float, dims: ['N', 5, 'h', 'w'] },
      { name: 'drivable', elemType: ElemType.uint8, dims: ['N', 'H', 'W'] },
      { name: 'da_logits', elemType: ElemType.float, dims: ['N', 3, 'H', 'W'] },
    ],
    nodes: [
      { op: 'Identity', inputs: ['image'], outputs: ['labels'] },
      { op: 'Cast', inputs: ['image'], outputs: ['logits'], ints: { to: ElemType.float } },
      { op: 'Identity', inputs: ['image'], outputs: ['drivable'] },
      { op: 'Cast', inputs: ['image'], outputs: ['da_logits'], ints: { to: ElemType.float } },
    ],
  });
}
