// The fp16 maker: half-precision rounding alone, then a small float graph through it.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { fp16Model, halfBits, toHalf } from '../../src/engine/fp16.js';
import { buildOnnx, ElemType } from '../helpers/onnx.js';

const { onnx } = onnxProto;

describe('halfBits', () => {
  it('gives the IEEE half of exact values, signs and the largest finite half', () => {
    expect(halfBits(0)).toBe(0);
    expect(halfBits(-0)).toBe(0x8000);
    expect(halfBits(1)).toBe(0x3c00);
    expect(halfBits(-2)).toBe(0xc000);
    expect(halfBits(65504)).toBe(0x7bff);
    expect(halfBits(2 ** -14)).toBe(0x0400);
  });

  it('rounds to nearest, ties to even', () => {
    expect(halfBits(0.1)).toBe(0x2e66);
    expect(halfBits(1 + 2 ** -11)).toBe(0x3c00);
    expect(halfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(halfBits(2047.5)).toBe(0x6800);
  });

  it('overflows to infinity, keeps NaN, and goes subnormal then to zero below the range', () => {
    expect(halfBits(65520)).toBe(0x7c00);
    expect(halfBits(1e6)).toBe(0x7c00);
    expect(halfBits(-Infinity)).toBe(0xfc00);
    expect(halfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(halfBits(NaN) & 0x3ff).not.toBe(0);
    expect(halfBits(2 ** -24)).toBe(1);
    expect(halfBits(2 ** -25)).toBe(0);
    expect(halfBits(3 * 2 ** -25)).toBe(2);
    expect(halfBits(2 ** -16)).toBe(0x0100);
  });

  it('toHalf converts an array element by element', () => {
    expect([...toHalf(Float32Array.of(1, -2, 0.1))]).toEqual([0x3c00, 0xc000, 0x2e66]);
  });
});

describe('fp16Model', () => {
  // image (uint8) -> Cast to float -> Mul by a constant -> scaled (a graph output also read inside) -> Add -> out
  const fp32 = buildOnnx({
    inputs: [{ name: 'image', elemType: ElemType.uint8, dims: ['N', 4] }],
    outputs: [
      { name: 'scaled', elemType: ElemType.float, dims: ['N', 4] },
      { name: 'out', elemType: ElemType.float, dims: ['N', 4] },
    ],
    initializers: [
      { name: 'scale', dims: [1], values: [0.1] },
      { name: 'bias', dims: [4], values: [1, -2, 65504, 1e6] },
    ],
    nodes: [
      { op: 'Cast', inputs: ['image'], outputs: ['x'], ints: { to: ElemType.float } },
      { op: 'Mul', inputs: ['x', 'scale'], outputs: ['scaled'] },
      { op: 'Add', inputs: ['scaled', 'bias'], outputs: ['out'] },
    ],
  });
  const model = onnx.ModelProto.decode(fp16Model(fp32));
  const graph = model.graph!;

  it('halves every float constant and cast, and keeps the graph outputs float32', () => {
    const bias = graph.initializer!.find((t) => t.name === 'bias')!;
    expect(bias.dataType).toBe(ElemType.float16);
    expect([...new Uint16Array(Uint8Array.from(bias.rawData!).buffer)]).toEqual([0x3c00, 0xc000, 0x7bff, 0x7c00]);
    expect(Number(graph.node!.find((n) => n.name === 'n0')!.attribute![0]!.i)).toBe(ElemType.float16);
    expect(graph.output!.map((o) => [o.name, o.type!.tensorType!.elemType])).toEqual([
      ['scaled', ElemType.float],
      ['out', ElemType.float],
    ]);
  });

  it('computes a float output in fp16 under another name, reads that inside, and casts it back', () => {
    const byName = new Map(graph.node!.map((n) => [n.name, n]));
    expect(byName.get('n1')!.output).toEqual(['scaled_fp16']);
    expect(byName.get('n2')!.input).toEqual(['scaled_fp16', 'bias']);
    const casts = graph.node!.filter((n) => n.opType === 'Cast' && n.output![0] !== 'x');
    expect(casts.map((n) => [n.input![0], n.output![0], Number(n.attribute![0]!.i)])).toEqual([
      ['scaled_fp16', 'scaled', ElemType.float],
      ['out_fp16', 'out', ElemType.float],
    ]);
  });

  it('gives the same bytes every time (the manifest pins their sha256)', () => {
    expect(Buffer.from(fp16Model(fp32)).equals(Buffer.from(fp16Model(fp32)))).toBe(true);
  });

  it('refuses a graph with a float32 input', () => {
    const floatIn = buildOnnx({
      inputs: [{ name: 'x', elemType: ElemType.float, dims: [1] }],
      outputs: [{ name: 'y', elemType: ElemType.float, dims: [1] }],
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    });
    expect(() => fp16Model(floatIn)).toThrow(/graph input x is float32/);
  });
});
