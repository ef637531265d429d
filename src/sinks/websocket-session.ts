/**
 * One websocket client: its subscription, what was delivered to it, and its image mailbox. Signals
 * and class maps go out at once unless the client lags by more than the buffer bound (then they
 * are dropped for it and counted). Images are freshest-only: while one is being sent, the newest
 * later one waits in a one-image slot (LatestSlot), so a slow client skips images and what is held
 * for it stays bounded.
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
  /** The sink's sequence number of the frame (counts writes), for skip accounting. */
  seq: number;
  kind: FrameKind;
  message: Buffer;
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
  /** Frames written to the sink so far (the image sequence). */
  readonly framesWritten: number;
  readonly closing: boolean;
  readonly maxBufferedBytes: number;
  /** Adds to the counters over all clients, those gone included. */
  countTotal(counter: keyof DeliveryCounters, n: number): void;
  /** This client can take an image of `kind` now. */
  readyForImage(kind: FrameKind): void;
  /** The client is gone. */
  forget(session: ClientSession): void;
}

export class ClientSession {
  subscription: Subscription = { ...defaultSubscription };
  helloSent = false;
  readonly counters = zeroCounters();
  /** Answered the last ping. */
  private alive = true;
  private frameInFlight = false;
  /** The newest image encoded while the previous one was still being sent. */
  private readonly imageSlot = new LatestSlot<EncodedImage>();
  /** Sequence number of the last image sent, or of the write before it subscribed. */
  private lastFrameSeq: number;
  private gone = false;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    private readonly host: SessionHost,
  ) {
    this.lastFrameSeq = host.framesWritten;
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

  wantsImages(kind: FrameKind): boolean {
    return this.helloSent && this.subscription.frames && this.subscription.frameKind === kind && this.ws.readyState === WebSocket.OPEN;
  }

  /** Wants images of `kind` and has none in flight. */
  readyFor(kind: FrameKind): boolean {
    return this.wantsImages(kind) && !this.frameInFlight;
  }

  signal(data: Buffer): void {
    if (this.helloSent && this.subscription.signal) this.count(this.sendDroppable(data, false) ? 'signalsSent' : 'signalsDropped');
  }

  classMap(data: Buffer): void {
    if (this.helloSent && this.subscription.classMap) this.count(this.sendDroppable(data, true) ? 'classMapsSent' : 'classMapsDropped');
  }

  /** Sends the image now, or keeps it as the newest waiting one. */
  image(encoded: EncodedImage): void {
    if (!this.wantsImages(encoded.kind)) return;
    if (this.frameInFlight) this.imageSlot.put(encoded);
    else this.sendImage(encoded);
  }

  /**
   * Frames this client subscribed to images got no image of: those counted when a later image was
   * sent, and those written since its last image but the newest, which may still reach it.
   */
  skipped(): number {
    const outstanding = this.subscription.frames ? Math.max(0, this.host.framesWritten - this.lastFrameSeq - 1) : 0;
    return this.counters.framesSkipped + outstanding;
  }

  stats(): ClientStats {
    return { id: this.id, subscription: { ...this.subscription }, bufferedAmount: this.ws.bufferedAmount, frameInFlight: this.frameInFlight, ...this.counters, framesSkipped: this.skipped() };
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
    this.imageSlot.take();
    if (this.subscription.frames) this.count('framesSkipped', this.host.framesWritten - this.lastFrameSeq);
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

  private sendImage(encoded: EncodedImage): void {
    this.count('framesSkipped', Math.max(0, encoded.seq - this.lastFrameSeq - 1));
    this.lastFrameSeq = encoded.seq;
    this.frameInFlight = true;
    // Called once the image is handed to the kernel: a client that does not read stays busy.
    this.ws.send(encoded.message, { binary: true }, (err) => {
      this.frameInFlight = false;
      if (err) return;
      this.count('framesSent');
      const next = this.imageSlot.take();
      if (next && this.wantsImages(next.kind) && !this.host.closing) this.sendImage(next);
      else this.host.readyForImage(this.subscription.frameKind);
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
    const before = this.subscription;
    const after: Subscription = {
      frames: msg.frames ?? before.frames,
      frameKind: msg.frameKind ?? before.frameKind,
      signal: msg.signal ?? before.signal,
      classMap: msg.classMap ?? before.classMap,
    };
    this.subscription = after;
    if (after.frames !== before.frames || after.frameKind !== before.frameKind) {
      if (before.frames) this.count('framesSkipped', this.host.framesWritten - this.lastFrameSeq);
      this.imageSlot.take();
      this.lastFrameSeq = this.host.framesWritten;
    }
    if (after.frames) this.host.readyForImage(after.frameKind);
  }
}
