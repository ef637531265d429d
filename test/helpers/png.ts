/** Reads an 8-bit indexed PNG as roadseg writes it (filter type 0 on every row): its indices and palette. */
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

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
