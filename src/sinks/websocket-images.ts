/**
 * Image encoding and broadcast for the websocket sink. Per source and image kind (overlay, source)
 * the newest frame not yet encoded waits in a LatestSlot, holding its Mats (`frame.retain()`) until it is
 * encoded or replaced; it is JPEG-encoded once, on libuv's pool, only when some client can take an
 * image now, and the result goes to every client that wants it.
 */
import { LatestSlot } from '../core/latest.js';
import type { ProcessedFrame } from '../core/sink.js';
import { stampOf } from '../core/signal.js';
import { cv } from '../util/cv.js';
import { messageOf } from '../util/errors.js';
import { BinaryKind, frameKinds, packBinary, protocolVersion, type FrameKind } from './websocket-protocol.js';
import type { ClientSession, EncodedImage } from './websocket-session.js';

interface Pending {
  frame: ProcessedFrame;
  seq: number;
  release: () => void;
}

class KindEncoder {
  readonly slot = new LatestSlot<Pending>((dropped) => dropped.release());
  busy: Promise<void> | undefined;
}

export class ImageBroadcaster {
  framesEncoded = 0;
  encodeFailures = 0;
  /** Per source id and kind. */
  private readonly encoders = new Map<string, KindEncoder>();
  private closed = false;

  constructor(
    private readonly clients: ReadonlySet<ClientSession>,
    private readonly jpegQuality: number,
    private readonly log: (line: string) => void,
  ) {}

  /** Keeps the frame as the newest of its source to encode for each kind some client wants; never waits. */
  offer(frame: ProcessedFrame, seq: number): void {
    const source = frame.meta.sourceId;
    for (const kind of frameKinds) {
      if (![...this.clients].some((c) => c.wantsImages(kind, source))) continue;
      this.encoder(source, kind).slot.put({ frame, seq, release: frame.retain() });
      this.pump(kind, source);
    }
  }

  /** Encodes the pending image of a source and kind if no encode of it runs and some client can take it now. */
  pump(kind: FrameKind, source: string): void {
    const encoder = this.encoder(source, kind);
    if (encoder.busy || !encoder.slot.full || this.closed) return;
    if (![...this.clients].some((c) => c.readyFor(kind, source))) return;
    const { frame, seq, release } = encoder.slot.take()!;
    encoder.busy = this.encode(kind, frame, seq).finally(() => {
      release();
      encoder.busy = undefined;
      this.pump(kind, source);
    });
  }

  /** Waits for encodes in progress and lets go of the frames still waiting. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.encoders.values()].map((e) => e.busy));
    for (const e of this.encoders.values()) e.slot.take()?.release();
  }

  private encoder(source: string, kind: FrameKind): KindEncoder {
    const key = `${kind} ${source}`;
    let e = this.encoders.get(key);
    if (!e) this.encoders.set(key, (e = new KindEncoder()));
    return e;
  }

  private async encode(kind: FrameKind, frame: ProcessedFrame, seq: number): Promise<void> {
    const mat = kind === 'overlay' ? frame.overlay : frame.image;
    let jpeg: Buffer;
    try {
      jpeg = await cv.imencodeAsync('.jpg', mat, [cv.IMWRITE_JPEG_QUALITY, this.jpegQuality]);
    } catch (e) {
      if (this.encodeFailures++ === 0) this.log(`websocket: JPEG encoding failed on frame ${frame.meta.index}: ${messageOf(e)} (images are skipped while it fails)`);
      return;
    }
    this.framesEncoded++;
    const message = packBinary(BinaryKind.frame, { v: protocolVersion, type: 'frame', kind, ...stampOf(frame.meta), width: mat.cols, height: mat.rows, mime: 'image/jpeg' }, jpeg);
    const encoded: EncodedImage = { seq, kind, source: frame.meta.sourceId, message };
    for (const c of this.clients) c.image(encoded);
  }
}
