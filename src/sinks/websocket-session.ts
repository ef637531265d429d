/**
 * One websocket client: its subscription, what was delivered to it, and its image mailbox. Signals
 * and class maps go out at once unless the client lags by more than the buffer bound (then they
 * are dropped for it and counted). Images are freshest-only, per source: while one of a source is
 * being sent, the newest later one of that source waits in a one-image slot (LatestSlot), so a
 * slow client skips images and what is held for it stays bounded.
 */
import { WebSocket, type RawData } from 'ws';
import { LatestSlot } from '../core/latest.js';
import {
  SubscribeMessageSchema,
  defaultSubscription,
  messageText,
  protocolVersion,
  type DeliveryCounters,
  type ErrorMessage,
  type FrameKind,
  type HelloMessage,
  type StatsMessage,
  type SubscribeMessage,
  type Subscription,
} from './websocket-protocol.js';

/** An image encoded once and sent to every client that wants it. */
export interface EncodedImage {
  /** The sink's sequence number of the frame in its source (counts writes), for skip accounting. */
  seq: number;
  kind: FrameKind;
  source: string;
  message: Buffer;
}

/** One source's images for one client. */
interface SourceImages {
  inFlight: boolean;
  /** The newest image encoded while the previous one was still being sent. */
  slot: LatestSlot<EncodedImage>;
  /** Sequence number of the last image sent, or of the write before it subscribed. */
  lastSeq: number;
}

export const zeroCounters = (): DeliveryCounters => ({ framesSent: 0, framesSkipped: 0, signalsSent: 0, signalsDropped: 0, classMapsSent: 0, classMapsDropped: 0, badMessages: 0 });

/** One client's counters and backlog, as the server sees them. */
export interface ClientStats extends DeliveryCounters {
  id: number;
  subscription: Subscription;
  /** Bytes queued in user space for this client (ws.bufferedAmount). */
  bufferedAmount: number;
  frameInFlight: boolean;
}

/** What a session needs from the sink that owns it. */
export interface SessionHost {
  /** Frames written to the sink so far. */
  readonly framesWritten: number;
  /** Frames of one source written so far (its image sequence). */
  writtenOf(source: string): number;
  /** Every source of the run. */
  readonly sourceIds: readonly string[];
  readonly closing: boolean;
  readonly maxBufferedBytes: number;
  /** Adds to the counters over all clients, those gone included. */
  countTotal(counter: keyof DeliveryCounters, n: number): void;
  /** This client can take an image of `kind` from `source` now. */
  readyForImage(kind: FrameKind, source: string): void;
  /** The client is gone. */
  forget(session: ClientSession): void;
}

export class ClientSession {
  subscription: Subscription = { ...defaultSubscription };
  helloSent = false;
  readonly counters = zeroCounters();
  /** Answered the last ping. */
  private alive = true;
  /** Per source id. */
  private images = new Map<string, SourceImages>();
  private gone = false;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    private readonly host: SessionHost,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => (this.alive = true));
    // Protocol violations (an oversized message) close this client; ws reports them here.
    ws.on('error', () => {});
    ws.on('close', () => this.end());
  }

  /** Hello with this client's subscription. Several sources will be listed here when the graph has them. */
  hello(message: Omit<HelloMessage, 'subscription'>): void {
    this.ws.send(JSON.stringify({ ...message, subscription: { ...this.subscription } } satisfies HelloMessage));
    this.helloSent = true;
  }

  /** This client takes the signal, images and class maps of `source`. */
  takes(source: string): boolean {
    return this.subscription.sources === null || this.subscription.sources.includes(source);
  }

  wantsImages(kind: FrameKind, source: string): boolean {
    return this.helloSent && this.subscription.frames && this.subscription.frameKind === kind && this.takes(source) && this.ws.readyState === WebSocket.OPEN;
  }

  /** Wants images of `kind` from `source` and has none of it in flight. */
  readyFor(kind: FrameKind, source: string): boolean {
    return this.wantsImages(kind, source) && !this.imagesOf(source).inFlight;
  }

  signal(data: Buffer, source: string): void {
    if (this.helloSent && this.subscription.signal && this.takes(source)) this.count(this.sendDroppable(data, false) ? 'signalsSent' : 'signalsDropped');
  }

  classMap(data: Buffer, source: string): void {
    if (this.helloSent && this.subscription.classMap && this.takes(source)) this.count(this.sendDroppable(data, true) ? 'classMapsSent' : 'classMapsDropped');
  }

  /** Sends the image now, or keeps it as the newest waiting one of its source. */
  image(encoded: EncodedImage): void {
    if (!this.wantsImages(encoded.kind, encoded.source)) return;
    const mine = this.imagesOf(encoded.source);
    if (mine.inFlight) mine.slot.put(encoded);
    else this.sendImage(encoded);
  }

  /**
   * Frames this client subscribed to images got no image of: those counted when a later image was
   * sent, and those written since its last image but the newest, which may still reach it.
   */
  skipped(): number {
    return this.counters.framesSkipped + (this.subscription.frames ? this.outstanding(1) : 0);
  }

  stats(): ClientStats {
    const frameInFlight = [...this.images.values()].some((s) => s.inFlight);
    return { id: this.id, subscription: { ...this.subscription }, bufferedAmount: this.ws.bufferedAmount, frameInFlight, ...this.counters, framesSkipped: this.skipped() };
  }

  sendStats(clients: number): void {
    if (!this.helloSent) return;
    const c = this.counters;
    const stats: StatsMessage = {
      v: protocolVersion,
      type: 'stats',
      framesWritten: this.host.framesWritten,
      framesSent: c.framesSent,
      framesSkipped: this.skipped(),
      signalsSent: c.signalsSent,
      signalsDropped: c.signalsDropped,
      classMapsSent: c.classMapsSent,
      classMapsDropped: c.classMapsDropped,
      clients,
    };
    this.sendDroppable(Buffer.from(JSON.stringify(stats)), false);
  }

  /** Terminates a client that did not answer the previous ping, pings it otherwise. */
  heartbeat(): void {
    if (!this.alive) return void this.ws.terminate();
    this.alive = false;
    this.ws.ping();
  }

  /** Once, when it is gone: its images not sent count as skipped. */
  end(): void {
    if (this.gone) return;
    this.gone = true;
    if (this.subscription.frames) this.count('framesSkipped', this.outstanding(0));
    this.images.clear();
    this.host.forget(this);
  }

  private count(counter: keyof DeliveryCounters, n = 1): void {
    this.counters[counter] += n;
    this.host.countTotal(counter, n);
  }

  /** Sends unless this client lags by more than the bound; says whether it sent. */
  private sendDroppable(data: Buffer, binary: boolean): boolean {
    if (this.ws.readyState !== WebSocket.OPEN || this.ws.bufferedAmount > this.host.maxBufferedBytes) return false;
    this.ws.send(data, { binary });
    return true;
  }

  /** The images of a source this client is due, from when it subscribed. */
  private imagesOf(source: string): SourceImages {
    let s = this.images.get(source);
    if (!s) this.images.set(source, (s = { inFlight: false, slot: new LatestSlot<EncodedImage>(), lastSeq: this.host.writtenOf(source) }));
    return s;
  }

  /** Frames of the sources it takes written since their last image sent, less `keep` per source (the newest, which may still reach it). */
  private outstanding(keep: number): number {
    let n = 0;
    for (const source of this.host.sourceIds) if (this.takes(source)) n += Math.max(0, this.host.writtenOf(source) - this.imagesOf(source).lastSeq - keep);
    return n;
  }

  private sendImage(encoded: EncodedImage): void {
    const mine = this.imagesOf(encoded.source);
    this.count('framesSkipped', Math.max(0, encoded.seq - mine.lastSeq - 1));
    mine.lastSeq = encoded.seq;
    mine.inFlight = true;
    // Called once the image is handed to the kernel: a client that does not read stays busy.
    this.ws.send(encoded.message, { binary: true }, (err) => {
      mine.inFlight = false;
      if (err) return;
      this.count('framesSent');
      const next = mine.slot.take();
      if (next && this.wantsImages(next.kind, next.source) && !this.host.closing) this.sendImage(next);
      else this.host.readyForImage(this.subscription.frameKind, encoded.source);
    });
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) return this.ignore('binary messages are not accepted');
    let parsed: unknown;
    try {
      parsed = JSON.parse(messageText(data));
    } catch {
      return this.ignore('messages must be JSON');
    }
    const r = SubscribeMessageSchema.safeParse(parsed);
    if (!r.success) return this.ignore('unknown message: expected {"type":"subscribe","frames":bool,"frameKind":"overlay"|"source","signal":bool,"classMap":bool}');
    this.subscribe(r.data);
  }

  private ignore(why: string): void {
    this.count('badMessages');
    const message: ErrorMessage = { v: protocolVersion, type: 'error', message: why };
    this.sendDroppable(Buffer.from(JSON.stringify(message)), false);
  }

  private subscribe(msg: SubscribeMessage): void {
    // A source id that is not in the run would leave the client waiting in silence: refused, the subscription unchanged.
    const unknown = (msg.sources ?? []).filter((id) => !this.host.sourceIds.includes(id));
    if (unknown.length) return this.ignore(`unknown source${unknown.length > 1 ? 's' : ''} ${unknown.map((id) => JSON.stringify(id)).join(', ')}: the sources of this run are ${this.host.sourceIds.map((id) => JSON.stringify(id)).join(', ')}; the subscription is unchanged`);
    const before = this.subscription;
    const after: Subscription = {
      frames: msg.frames ?? before.frames,
      frameKind: msg.frameKind ?? before.frameKind,
      signal: msg.signal ?? before.signal,
      classMap: msg.classMap ?? before.classMap,
      sources: msg.sources === undefined ? before.sources : msg.sources,
    };
    if (after.frames !== before.frames || after.frameKind !== before.frameKind || String(after.sources) !== String(before.sources)) {
      if (before.frames) this.count('framesSkipped', this.outstanding(0));
      this.images = new Map();
      this.subscription = after;
      // From now on: the images due start at the sources' current writes.
      for (const source of this.host.sourceIds) if (this.takes(source)) this.imagesOf(source);
    }
    this.subscription = after;
    if (after.frames) for (const source of this.host.sourceIds) if (this.takes(source)) this.host.readyForImage(after.frameKind, source);
  }
}
