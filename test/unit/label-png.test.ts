// The label PNG decoder (src/stages/indexed-png.ts decodeLabelPng) on hand-made PNGs: every row
// filter, palette and grey at 1 to 16 bits, and the files it must refuse.
import { describe, expect, it } from 'vitest';
import { labelMap } from '../../src/core/labelmap.js';
import { LabelPngError, decodeLabelPng, encodeIndexedPng } from '../../src/stages/indexed-png.js';
import { png } from '../helpers/png.js';

/** Ids 0..18 and 255 in a pattern that differs between neighbours (so every filter predicts something). */
const idAt = (x: number, y: number) => ((x * 7 + y * 3) % 23 > 18 ? 255 : (x * 7 + y * 3) % 23);

describe('label PNG decoder', () => {
  const width = 13;
  const height = 9;
  const ids = Uint8Array.from({ length: width * height }, (_, i) => idAt(i % width, Math.floor(i / width)));
  const rows8 = Array.from({ length: height }, (_, y) => ids.subarray(y * width, (y + 1) * width));

  it('reads palette and grey 8-bit PNGs by index through every row filter', () => {
    for (const colour of [0, 3]) {
      const d = decodeLabelPng(png({ width, height, depth: 8, colour, rows: rows8, filters: [0, 1, 2, 3, 4] }));
      expect(d).toMatchObject({ width, height, format: colour === 3 ? 'palette 8-bit' : 'grey 8-bit' });
      expect([...d.ids]).toEqual([...ids]);
    }
  });

  it("reads roadseg segment's own label PNGs back as their ids", () => {
    const encoded = encodeIndexedPng(labelMap(ids.slice(), height, width), Array.from({ length: 19 }, (_, i) => [i, 2 * i, 3 * i] as [number, number, number]));
    expect([...decodeLabelPng(encoded).ids]).toEqual([...ids]);
  });

  it('unpacks 1-, 2- and 4-bit samples and reads 16-bit grey values below 256 as ids', () => {
    for (const depth of [1, 2, 4]) {
      const max = (1 << depth) - 1;
      const values = Array.from({ length: height }, (_, y) => Array.from({ length: width }, (_, x) => (x + y) & max));
      const rows = values.map((row) => {
        const packed = new Uint8Array(Math.ceil((width * depth) / 8));
        row.forEach((v, x) => (packed[Math.floor((x * depth) / 8)]! |= v << (8 - depth - ((x * depth) % 8))));
        return packed;
      });
      const d = decodeLabelPng(png({ width, height, depth, colour: 3, rows, filters: [0, 1, 2, 3, 4] }));
      expect([...d.ids], `${depth}-bit`).toEqual(values.flat());
    }
    const rows16 = rows8.map((row) => Uint8Array.from([...row].flatMap((v) => [0, v])));
    const d = decodeLabelPng(png({ width, height, depth: 16, colour: 0, rows: rows16, filters: [0, 1, 2, 3, 4] }));
    expect(d.format).toBe('grey 16-bit');
    expect([...d.ids]).toEqual([...ids]);
  });

  it('refuses 16-bit values of 256 and more, colour, interlaced and damaged PNGs, saying why', () => {
    const big = rows8.map((row, y) => Uint8Array.from([...row].flatMap((v, x) => (x === 3 && y === 2 ? [4, 0] : [0, v]))));
    const cases: [Buffer, RegExp][] = [
      [png({ width, height, depth: 16, colour: 0, rows: big }), /grey 16-bit PNG with values up to 1024: more than the 256 class ids/],
      [png({ width, height, depth: 8, colour: 2, rows: rows8.map((r) => Uint8Array.from([...r].flatMap((v) => [v, v, v]))) }), /a RGB colour 8-bit PNG: class ids need one channel per pixel/],
      [png({ width, height, depth: 8, colour: 6, rows: rows8.map((r) => Uint8Array.from([...r].flatMap((v) => [v, v, v, 255]))) }), /a RGBA colour 8-bit PNG/],
      [png({ width, height, depth: 8, colour: 3, rows: rows8, interlace: 1 }), /an interlaced palette 8-bit PNG/],
      [png({ width, height, depth: 8, colour: 0, rows: rows8 }).subarray(0, 60), /truncated or damaged/],
      [Buffer.from('not a png at all'), /not a PNG file/],
    ];
    for (const [file, message] of cases) {
      expect(() => decodeLabelPng(file)).toThrow(LabelPngError);
      expect(() => decodeLabelPng(file)).toThrow(message);
    }
  });
});
