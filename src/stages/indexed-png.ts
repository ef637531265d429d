/**
 * A label map as an indexed (palette) PNG: each pixel's index is its class id, and the palette
 * holds the class colours, so image viewers show the classes in colour while readers that keep
 * the indices (PIL's `Image.open`, libpng without palette expansion) read the ids back. OpenCV
 * expands palettes to colour on reading, so label PNGs are read back here, by index
 * (decodeLabelPng): palette, grey (1 to 8 bits) and 16-bit grey with ids below 256.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import type { Rgb } from './palette.js';

const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** PNG bytes: 8-bit indexed, 256 palette entries (class colours; ids without a class, void included, black). */
export function encodeIndexedPng(labels: LabelMap, palette: readonly Rgb[]): Buffer {
  const width = widthOf(labels);
  const height = heightOf(labels);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 3, 0, 0, 0], 8); // bit depth 8, colour type 3 (indexed), deflate, adaptive filters, no interlace
  const plte = Buffer.alloc(256 * 3);
  palette.slice(0, 256).forEach((rgb, id) => plte.set(rgb, id * 3));
  // Each row: filter type 0 (none), then the row's ids.
  const raw = Buffer.alloc((width + 1) * height);
  const src = labels.data;
  for (let y = 0; y < height; y++) raw.set(src.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('PLTE', plte), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A label image that cannot be read as class ids: what it is, and why not. */
export class LabelPngError extends Error {}

export interface DecodedLabels {
  width: number;
  height: number;
  /** One class id per pixel, row-major. */
  ids: Uint8Array;
  /** What the file held: `palette 8-bit`, `grey 16-bit`, ... */
  format: string;
}

export const isPng = (buf: Uint8Array): boolean => buf.length >= 8 && signature.equals(buf.subarray(0, 8));

const colourTypes: Record<number, string> = { 0: 'grey', 2: 'RGB colour', 3: 'palette', 4: 'grey with alpha', 6: 'RGBA colour' };

/**
 * A PNG's pixels as class ids: a palette image's indices (not its colours), a grey image's values.
 * Colour images and 16-bit values of 256 and more are refused: they are not one id per pixel.
 */
export function decodeLabelPng(buf: Buffer): DecodedLabels {
  if (!isPng(buf)) throw new LabelPngError('not a PNG file');
  let header: { width: number; height: number; depth: number; colour: number; interlace: number } | undefined;
  const idat: Buffer[] = [];
  for (let o = 8; o + 8 <= buf.length; ) {
    const length = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    const data = buf.subarray(o + 8, o + 8 + length);
    if (type === 'IHDR') header = { width: data.readUInt32BE(0), height: data.readUInt32BE(4), depth: data[8]!, colour: data[9]!, interlace: data[12]! };
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    o += 12 + length;
  }
  if (!header) throw new LabelPngError('a PNG without its header (IHDR): damaged');
  const { width, height, depth, colour, interlace } = header;
  const format = `${colourTypes[colour] ?? `colour type ${colour}`} ${depth}-bit`;
  if (colour !== 0 && colour !== 3) throw new LabelPngError(`a ${format} PNG: class ids need one channel per pixel (a palette or grey image)`);
  if (interlace !== 0) throw new LabelPngError(`an interlaced ${format} PNG: save it without interlacing`);
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (e) {
    throw new LabelPngError(`a ${format} PNG whose pixel data does not decompress (${(e as Error).message}): truncated or damaged`);
  }
  const rowBytes = Math.ceil((width * depth) / 8);
  if (raw.length < (rowBytes + 1) * height) throw new LabelPngError(`a ${format} PNG with ${raw.length} bytes of pixel data, ${(rowBytes + 1) * height} expected: truncated or damaged`);
  const rows = unfilter(raw, height, rowBytes, Math.max(1, depth / 8));
  return { width, height, ids: idsOf(rows, width, height, rowBytes, depth, format), format };
}

/** Undoes the PNG row filters (none, sub, up, average, Paeth) ; returns the rows without their filter bytes. */
function unfilter(raw: Buffer, height: number, rowBytes: number, bpp: number): Uint8Array {
  const out = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (rowBytes + 1)]!;
    const src = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    const row = out.subarray(y * rowBytes, (y + 1) * rowBytes);
    const up = y > 0 ? out.subarray((y - 1) * rowBytes, y * rowBytes) : undefined;
    for (let i = 0; i < rowBytes; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0;
      const b = up ? up[i]! : 0;
      const c = up && i >= bpp ? up[i - bpp]! : 0;
      let predicted: number;
      switch (filter) {
        case 0: predicted = 0; break;
        case 1: predicted = a; break;
        case 2: predicted = b; break;
        case 3: predicted = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new LabelPngError(`row ${y} has PNG filter type ${filter}, which does not exist: damaged`);
      }
      row[i] = (src[i]! + predicted) & 0xff;
    }
  }
  return out;
}

/** The samples as ids: bits unpacked below 8 bits, big-endian pairs at 16 (all below 256, else refused). */
function idsOf(rows: Uint8Array, width: number, height: number, rowBytes: number, depth: number, format: string): Uint8Array {
  if (depth === 8) return rows;
  const ids = new Uint8Array(width * height);
  if (depth === 16) {
    let max = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = (rows[y * rowBytes + 2 * x]! << 8) | rows[y * rowBytes + 2 * x + 1]!;
        if (v > max) max = v;
        ids[y * width + x] = v;
      }
    }
    if (max > 255) throw new LabelPngError(`a ${format} PNG with values up to ${max}: more than the 256 class ids (0-255) a label map holds`);
    return ids;
  }
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = rows[y * rowBytes + Math.floor(x / perByte)]!;
      ids[y * width + x] = (byte >> (8 - depth * ((x % perByte) + 1))) & mask;
    }
  }
  return ids;
}
