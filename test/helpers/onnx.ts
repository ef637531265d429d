/**
 * Builds tiny ONNX models byte by byte (protobuf wire format), so the tests can make models with
 * a wrong contract without any Python tooling. Only what onnxruntime needs for Identity/Cast graphs.
 */
import { createHash } from 'node:crypto';

export const ElemType = { float: 1, uint8: 2 } as const;

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

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const key = (field: number, wire: number) => varint((field << 3) | wire);
const int = (field: number, v: number) => [...key(field, 0), ...varint(v)];
const bytes = (field: number, b: number[]) => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...Buffer.from(s, 'utf8')]);

function valueInfo(v: ValueSpec): number[] {
  const dims = v.dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensor = [...int(1, v.elemType), ...bytes(2, dims)];
  return [...str(1, v.name), ...bytes(2, bytes(1, tensor))];
}

function node(n: NodeSpec, i: number): number[] {
  const attrs = Object.entries(n.ints ?? {}).flatMap(([name, value]) => bytes(5, [...str(1, name), ...int(3, value), ...int(20, 2 /* INT */)]));
  return [...n.inputs.flatMap((s) => str(1, s)), ...n.outputs.flatMap((s) => str(2, s)), ...str(3, `n${i}`), ...str(4, n.op), ...attrs];
}

export function buildOnnx(spec: { inputs: ValueSpec[]; outputs: ValueSpec[]; nodes: NodeSpec[] }): Buffer {
  const graph = [
    ...spec.nodes.flatMap((n, i) => bytes(1, node(n, i))),
    ...str(2, 'tiny'),
    ...spec.inputs.flatMap((v) => bytes(11, valueInfo(v))),
    ...spec.outputs.flatMap((v) => bytes(12, valueInfo(v))),
  ];
  const model = [...int(1, 8), ...str(2, 'roadseg-test'), ...bytes(7, graph), ...bytes(8, [...str(1, ''), ...int(2, 13)])];
  return Buffer.from(model);
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
