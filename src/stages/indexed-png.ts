/**
 * A label map as an indexed (palette) PNG: each pixel's index is its class id, and the palette
 * holds the class colours, so image viewers show the classes in colour while readers that keep
 * the indices (PIL's `Image.open`, libpng without palette expansion) read the ids back. OpenCV
 * expands palettes to colour on reading: read ids with such a reader, or the colours with OpenCV.
 */
import { crc32, deflateSync } from 'node:zlib';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import type { Rgb } from './palette.js';

const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
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
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('PLTE', plte), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
