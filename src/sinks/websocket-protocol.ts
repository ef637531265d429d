/**
 * The websocket protocol, version 1 (docs/signal.md: "Websocket protocol"). Text messages are JSON objects with `v`
 * and `type`; binary messages (frames, class maps) start with a one-byte kind and a JSON header:
 *
 *   byte 0        kind: 1 = frame (JPEG), 2 = class map (run-length encoded class ids)
 *   bytes 1..4    header length H, uint32 little-endian
 *   bytes 5..5+H  header, UTF-8 JSON (FrameHeader | ClassMapHeader)
 *   the rest      payload
 *
 * Shared by the server (websocket sink), the reference consumer (`roadseg listen`) and the tests;
 * the browser viewer decodes the same layout in plain JavaScript.
 */
import type { RawData } from 'ws';
import { z } from 'zod';
import type { Rgb } from '../stages/palette.js';
import { heightOf, widthOf, type LabelMap } from '../core/labelmap.js';
import { downsampleLabels } from '../stages/labelmap.js';
import type { Provider } from '../core/model.js';
import type { StreamInfo } from '../core/frame.js';
import type { PipelineContext, ProcessedFrame } from '../core/sink.js';
import { stampOf, type FrameStamp } from '../core/signal.js';

export const protocolVersion = 1 as const;

export const BinaryKind = { frame: 1, classMap: 2 } as const;
export type BinaryKindCode = (typeof BinaryKind)[keyof typeof BinaryKind];

/** Which image a client's frames show: the overlay drawn by the server, or the decoded frame. */
export const frameKinds = ['overlay', 'source'] as const;
export type FrameKind = (typeof frameKinds)[number];

export interface Subscription {
  /** JPEG images, freshest only: a slow client skips frames. */
  frames: boolean;
  frameKind: FrameKind;
  /** The signal, every frame (dropped only when this client lags by more than the buffer bound). */
  signal: boolean;
  /** The compact class map, every frame, dropped like the signal. */
  classMap: boolean;
  /** Source ids whose signal, images and class maps this client takes; null: every source. */
  sources: string[] | null;
}

/** What a client gets until it subscribes: the signal only, so that nothing is encoded for it. */
export const defaultSubscription: Subscription = { frames: false, frameKind: 'overlay', signal: true, classMap: false, sources: null };

/** A source of the run, as the hello lists it. */
export interface SourceDescription {
  id: string;
  kind: string;
  width: number;
  height: number;
  fps: number;
}

export const classMapEncoding = 'rle8' as const;

export interface HelloMessage {
  v: typeof protocolVersion;
  type: 'hello';
  model: string;
  modelName: string;
  device: Provider;
  classes: string[];
  /** RGB per class id. */
  palette: Rgb[];
  /** The run's first source (a run with one source: its source). */
  source: SourceDescription;
  /** Every source of the run, in order; images and class maps name theirs (`source`). */
  sources: SourceDescription[];
  /**
   * Class map grid: width and height are those of the latest map sent (null before the first
   * frame); each class map message carries its own, which are authoritative.
   */
  classMap: { width: number | null; height: number | null; scale: number; encoding: typeof classMapEncoding };
  /** This client's subscription (the defaults, until it sends `subscribe`). */
  subscription: Subscription;
  /** Largest message the server accepts from a client, bytes. */
  maxMessageBytes: number;
  /** The server's overlay class opacity (0..1), a viewer's starting value; absent from older servers. */
  opacity?: number;
}

/** What the server delivered to a client, and what it dropped or ignored. */
export interface DeliveryCounters {
  framesSent: number;
  /** Frames a client subscribed to images got no image of (it was still busy with an earlier one). */
  framesSkipped: number;
  signalsSent: number;
  /** Signals not sent because the client lagged by more than maxBufferedBytes. */
  signalsDropped: number;
  classMapsSent: number;
  classMapsDropped: number;
  /** Client messages ignored (not JSON, unknown, binary). */
  badMessages: number;
}

/** Sent about once a second: this client's counters. */
export interface StatsMessage extends Omit<DeliveryCounters, 'badMessages'> {
  v: typeof protocolVersion;
  type: 'stats';
  /** Frames that reached the server since it started. */
  framesWritten: number;
  clients: number;
}

/** The server's answer to a message it ignored. */
export interface ErrorMessage {
  v: typeof protocolVersion;
  type: 'error';
  message: string;
}

export interface FrameHeader extends FrameStamp {
  v: typeof protocolVersion;
  type: 'frame';
  kind: FrameKind;
  width: number;
  height: number;
  mime: 'image/jpeg';
}

export interface ClassMapHeader extends FrameStamp {
  v: typeof protocolVersion;
  type: 'classMap';
  /** Grid size: the label map's size divided by `scale`, rounded up. */
  width: number;
  height: number;
  scale: number;
  encoding: typeof classMapEncoding;
}

/** Client -> server. Fields left out keep their current value. */
export const SubscribeMessageSchema = z
  .object({
    type: z.literal('subscribe'),
    frames: z.boolean().optional(),
    frameKind: z.enum(frameKinds).optional(),
    signal: z.boolean().optional(),
    classMap: z.boolean().optional(),
    sources: z.array(z.string()).nullable().optional(),
  })
  .strict();
export type SubscribeMessage = z.infer<typeof SubscribeMessageSchema>;

/** A text message's content (ws hands them over as one Buffer, or as fragments). */
export function messageText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** One binary message: kind byte, length-prefixed JSON header, payload. */
export function packBinary(kind: BinaryKindCode, header: FrameHeader | ClassMapHeader, payload: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(5 + json.length + payload.length);
  out[0] = kind;
  out.writeUInt32LE(json.length, 1);
  json.copy(out, 5);
  out.set(payload, 5 + json.length);
  return out;
}

export type UnpackedBinary =
  | { kind: typeof BinaryKind.frame; header: FrameHeader; payload: Buffer }
  | { kind: typeof BinaryKind.classMap; header: ClassMapHeader; payload: Buffer };

export function unpackBinary(message: Buffer): UnpackedBinary {
  if (message.length < 5) throw new RangeError(`binary message of ${message.length} bytes is shorter than its prefix`);
  const kind = message[0];
  if (kind !== BinaryKind.frame && kind !== BinaryKind.classMap) throw new RangeError(`unknown binary message kind ${kind}`);
  const headerLength = message.readUInt32LE(1);
  if (5 + headerLength > message.length) throw new RangeError(`binary header of ${headerLength} bytes overruns a ${message.length}-byte message`);
  const header: unknown = JSON.parse(message.subarray(5, 5 + headerLength).toString('utf8'));
  const payload = message.subarray(5 + headerLength);
  return kind === BinaryKind.frame ? { kind, header: header as FrameHeader, payload } : { kind, header: header as ClassMapHeader, payload };
}

/**
 * Downsamples a label map by `scale` with the analysis' own sampler (so the browser draws the
 * pixels the signal was computed on) and run-length encodes it row-major as (run length 1..255,
 * class id) byte pairs; runs cross rows.
 */
export function encodeClassMap(labels: LabelMap, scale: number): { width: number; height: number; rle: Buffer } {
  const map = downsampleLabels(labels, scale);
  const width = widthOf(map);
  const height = heightOf(map);
  const src = map.data;
  const out = Buffer.allocUnsafe(src.length * 2);
  let o = 0;
  let value = -1;
  let run = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (v === value && run < 255) {
      run++;
    } else {
      if (run > 0) {
        out[o++] = run;
        out[o++] = value;
      }
      value = v;
      run = 1;
    }
  }
  if (run > 0) {
    out[o++] = run;
    out[o++] = value;
  }
  return { width, height, rle: out.subarray(0, o) };
}

export function decodeClassMap(rle: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  let o = 0;
  for (let i = 0; i + 1 < rle.length; i += 2) {
    const run = rle[i]!;
    if (o + run > out.length) throw new RangeError(`class map runs exceed ${width}x${height}`);
    out.fill(rle[i + 1]!, o, o + run);
    o += run;
  }
  if (o !== out.length) throw new RangeError(`class map runs cover ${o} of ${width}x${height} cells`);
  return out;
}

/** The hello of a server for a pipeline, less the client's own subscription. */
export function helloMessage(ctx: PipelineContext, grid: { width?: number; height?: number; scale: number }, maxMessageBytes: number, opacity?: number): Omit<HelloMessage, 'subscription'> {
  const { manifest: m, device, stream } = ctx;
  return {
    v: protocolVersion,
    type: 'hello',
    model: m.id,
    modelName: m.name,
    device,
    classes: ctx.classes.names,
    palette: ctx.classes.palette,
    source: describe(stream),
    sources: ctx.streams.map(describe),
    classMap: { width: grid.width ?? null, height: grid.height ?? null, scale: grid.scale, encoding: classMapEncoding },
    maxMessageBytes,
    ...(opacity !== undefined && { opacity }),
  };
}

/** A frame's class map message, and its grid size. */
export function classMapMessage(frame: ProcessedFrame, scale: number): { message: Buffer; grid: { width: number; height: number } } {
  const { width, height, rle } = encodeClassMap(frame.labels, scale);
  const message = packBinary(BinaryKind.classMap, { v: protocolVersion, type: 'classMap', ...stampOf(frame.meta), width, height, scale, encoding: classMapEncoding }, rle);
  return { message, grid: { width, height } };
}

function describe(s: StreamInfo): SourceDescription {
  return { id: s.sourceId, kind: s.kind, width: s.width, height: s.height, fps: s.fps };
}
