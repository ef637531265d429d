/** PNGs by hand: reading an 8-bit indexed PNG as roadseg writes it, and writing any PNG layout with any row filters. */
import { readFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';
import { pngChunk } from '../../src/stages/indexed-png.js';

/** Reads an 8-bit indexed PNG as roadseg writes it (filter type 0 on every row): its indices and palette. */
export function readIndexedPng(file: string): { width: number; height: number; ids: Uint8Array; palette: Uint8Array } {
  const buf = readFileSync(file);
  let width = 0;
  let height = 0;
  let palette = new Uint8Array();
  const idat: Buffer[] = [];
  for (let o = 8; o < buf.length; ) {
    const length = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    const data = buf.subarray(o + 8, o + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 3) throw new Error(`not an 8-bit indexed PNG (depth ${data[8]}, colour type ${data[9]})`);
    } else if (type === 'PLTE') palette = Uint8Array.from(data);
    else if (type === 'IDAT') idat.push(data);
    o += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const ids = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    if (raw[y * (width + 1)] !== 0) throw new Error(`row ${y} uses PNG filter ${raw[y * (width + 1)]}`);
    ids.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, ids, palette };
}

/** The forward PNG filter of one row (what an encoder writes), given the row above. */
function filterRow(filter: number, row: Uint8Array, up: Uint8Array | undefined, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length);
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp]! : 0;
    const b = up ? up[i]! : 0;
    const c = up && i >= bpp ? up[i - bpp]! : 0;
    const p = a + b - c;
    const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
    const predicted = [0, a, b, (a + b) >> 1, paeth][filter]!;
    out[i] = (row[i]! - predicted) & 0xff;
  }
  return out;
}

/** A PNG of packed sample rows; row y uses filter type filters[y % filters.length]. */
export function png(opts: { width: number; height: number; depth: number; colour: number; rows: Uint8Array[]; filters?: number[]; interlace?: number; palette?: boolean }): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(opts.width, 0);
  ihdr.writeUInt32BE(opts.height, 4);
  ihdr.set([opts.depth, opts.colour, 0, 0, opts.interlace ?? 0], 8);
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[opts.colour as 0 | 2 | 3 | 4 | 6];
  const bpp = Math.max(1, (channels * opts.depth) / 8);
  const filters = opts.filters ?? [0];
  const raw = Buffer.concat(opts.rows.map((row, y) => Buffer.concat([Buffer.from([filters[y % filters.length]!]), filterRow(filters[y % filters.length]!, row, opts.rows[y - 1], bpp)])));
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr)];
  if (opts.colour === 3) parts.push(pngChunk('PLTE', Buffer.alloc(256 * 3, 7)));
  // The pixel data in two IDAT chunks, as encoders split it.
  const z = deflateSync(raw);
  parts.push(pngChunk('IDAT', z.subarray(0, z.length >> 1)), pngChunk('IDAT', z.subarray(z.length >> 1)), pngChunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}
