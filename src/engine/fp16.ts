/**
 * fp16 weights made from an fp32 ONNX file, for GPU providers: every float32 tensor of the graph
 * (weights, constants, casts to float) becomes float16, and the graph's float outputs are cast
 * back to float32, so that the engine reads the same output types as from the fp32 file.
 * onnx-proto decodes and encodes the protobuf; the encoding is deterministic, so the same fp32
 * file always gives the same bytes and the manifest can pin their sha256.
 */
import onnxProto, { type onnx as Onnx } from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits of a number, rounded to nearest even (overflow: infinity). */
export function halfBits(value: number): number {
  f32[0] = value;
  const x = f32Bits[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit 1 into place.
    if (e < -10) return sign;
    const m = mantissa | 0x800000;
    const shift = 14 - e;
    const rest = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    let h = m >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa rounds up into the exponent, up to infinity: what IEEE asks.
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Float32 values as half-precision bits. */
export function toHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBits(values[i]!);
  return out;
}

function halveTensor(t: Onnx.ITensorProto): void {
  if (t.dataType !== FLOAT) return;
  const raw = t.rawData;
  // raw_data is little-endian float32, a view into the decoded file: copied out, so aligned.
  const values = raw && raw.length ? new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) : Float32Array.from(t.floatData ?? []);
  t.dataType = FLOAT16;
  t.floatData = [];
  t.rawData = new Uint8Array(toHalf(values).buffer);
}

function halveType(type: Onnx.ITypeProto | null | undefined): void {
  const tensor = type?.tensorType;
  if (tensor?.elemType === FLOAT) tensor.elemType = FLOAT16;
}

function cast(input: string, output: string, to: number): Onnx.INodeProto {
  return onnx.NodeProto.create({
    name: `${output}_cast`,
    opType: 'Cast',
    input: [input],
    output: [output],
    attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: to })],
  });
}

/**
 * The fp16 version of an fp32 ONNX model's bytes. Throws on what it cannot convert faithfully:
 * float32 graph inputs, subgraphs, float32 constants given as attributes, and Resize by scales
 * (its roi and scales inputs must stay float32).
 */
export function fp16Model(fp32: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(fp32);
  const graph = model.graph;
  if (!graph) throw new Error('the file has no graph');
  const floatOutputs = new Set((graph.output ?? []).filter((o) => o.type?.tensorType?.elemType === FLOAT).map((o) => o.name!));
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  // Float graph inputs would need the same treatment in reverse; no registered model has one.
  const floatInput = (graph.input ?? []).find((i) => i.type?.tensorType?.elemType === FLOAT && !initializers.has(i.name));
  if (floatInput) throw new Error(`graph input ${floatInput.name} is float32`);
  for (const t of graph.initializer ?? []) halveTensor(t);
  for (const v of [...(graph.valueInfo ?? []), ...(graph.input ?? []).filter((i) => initializers.has(i.name))]) halveType(v.type);
  for (const node of graph.node ?? []) {
    if (node.opType === 'Resize' && (node.input?.[1] || node.input?.[2])) throw new Error(`node ${node.name || node.opType} resizes by float scales, which must stay float32`);
    for (const a of node.attribute ?? []) {
      if (a.g || a.graphs?.length) throw new Error(`node ${node.name || node.opType} has a subgraph`);
      if (a.t) halveTensor(a.t);
      if (a.name === 'value_float' || a.name === 'value_floats') throw new Error(`node ${node.name || node.opType} makes a float32 constant from ${a.name}`);
      if (a.name === 'to' && node.opType === 'Cast' && Number(a.i) === FLOAT) a.i = FLOAT16;
    }
    // The graph's float outputs are produced (and read inside the graph) in fp16 under another
    // name, and cast back to float32 under their own.
    const inFp16 = (name: string) => (floatOutputs.has(name) ? `${name}_fp16` : name);
    node.output = (node.output ?? []).map(inFp16);
    node.input = (node.input ?? []).map(inFp16);
  }
  for (const name of floatOutputs) {
    graph.node!.push(cast(`${name}_fp16`, name, FLOAT));
  }
  return onnx.ModelProto.encode(model).finish();
}
