/**
 * Websocket server and browser viewer (`ws://host:port`, `--serve`). Protocol: websocket-protocol.ts
 * and the README ("Websocket output").
 *
 * The sink is an `every` sink, because each client must get the signal of every frame, but its
 * write() never waits: per frame it hands the signal (and class map) to each subscribed client at
 * once, unless that client already has more than `maxBufferedBytes` queued, in which case the
 * message is dropped for that client and counted. Images are freshest-only: a frame is JPEG-encoded
 * (once per kind, on libuv's pool) only when some client wants images and has no image in flight;
 * a client still sending its previous image keeps just the newest one in a one-image slot. So a
 * slow or stalled client skips frames; it never slows the graph, and what is held for it is bounded
 * (its queued bytes, one image in flight and one in the slot).
 *
 * The server binds when the sink is created, so clients can connect while the model loads; they get
 * `hello` when the pipeline opens the sink. Its handles are unref'd: the running pipeline keeps the
 * process alive, and a pipeline that fails before opening the sink does not leave it hanging.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { packageRoot } from '../util/package.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import type { SignalMessage } from '../core/signal.js';
import { cv } from '../util/cv.js';
import { parseSinkUri } from '../core/uri.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import {
  BinaryKind,
  SubscribeMessageSchema,
  classMapEncoding,
  defaultSubscription,
  encodeClassMap,
  frameKinds,
  messageText,
  packBinary,
  protocolVersion,
  type ErrorMessage,
  type FrameKind,
  type HelloMessage,
  type DeliveryCounters,
  type StatsMessage,
  type SubscribeMessage,
  type Subscription,
} from './websocket-protocol.js';

export const serveDefaults = {
  /** Client messages are a few dozen bytes (subscribe). */
  maxMessageBytes: 16 * 1024,
  heartbeatMs: 10_000,
  jpegQuality: 80,
  classMapScale: 4,
  maxClients: 64,
  maxBufferedBytes: 1024 * 1024,
} as const;

/** The server's limits and access rules (config key `serve`; defaults in `serveDefaults`). */
export interface ServeOptions {
  token?: string;
  origins?: string[];
  maxMessageBytes?: number;
  heartbeatMs?: number;
  jpegQuality?: number;
  classMapScale?: number;
  /** Clients connected at once, at most; more are refused (HTTP 503). */
  maxClients?: number;
  /** Bytes queued for one client above which its signal and class map messages are dropped. */
  maxBufferedBytes?: number;
}

export interface WebSocketSinkOptions extends ServeOptions {
  /** Where "serving on ..." and encoding failures go (default: standard error). */
  log?: (line: string) => void;
}

/** The static viewer is read at run time from the source tree (it is not compiled). */
export const viewerDir = join(packageRoot, 'src', 'sinks', 'viewer');

const viewerFiles: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/viewer.js': { file: 'viewer.js', type: 'text/javascript; charset=utf-8' },
  '/viewer.css': { file: 'viewer.css', type: 'text/css; charset=utf-8' },
};

/** The viewer needs nothing from elsewhere; its URL may carry the token, so no referrer either. */
const viewerHeaders = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** How long close() waits for clients to acknowledge the closing handshake before cutting them off. */
const closeGraceMs = 1500;
const statsIntervalMs = 1000;

function normaliseOrigin(origin: string): string {
  if (origin === '*') return origin;
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    url = undefined;
  }
  if (!url || url.origin === 'null' || url.origin !== origin.replace(/\/$/, '')) {
    throw new RoadsegError(`invalid allowed origin "${origin}"`, {
      where: 'serve.origins (--allow-origin)',
      hint: 'an origin is scheme://host[:port] with no path, e.g. http://192.168.1.20:8080, or * for any',
      exitCode: ExitCode.usage,
    });
  }
  return url.origin;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The request's URL, or undefined when its target is not a valid path (`//[`). */
function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

interface EncodedFrame {
  /** The sink's sequence number of the frame (counts writes), for skip accounting. */
  seq: number;
  kind: FrameKind;
  message: Buffer;
}


const zeroCounters = (): DeliveryCounters => ({ framesSent: 0, framesSkipped: 0, signalsSent: 0, signalsDropped: 0, classMapsSent: 0, classMapsDropped: 0, badMessages: 0 });

interface Client {
  id: number;
  ws: WebSocket;
  subscription: Subscription;
  helloSent: boolean;
  /** Answered the last ping. */
  alive: boolean;
  frameInFlight: boolean;
  /** The newest image encoded while the previous one was still being sent. */
  frameSlot: EncodedFrame | undefined;
  /** Sequence number of the last image sent, or of the write before it subscribed. */
  lastFrameSeq: number;
  counters: DeliveryCounters;
}

/** One client's counters and backlog, as the server sees them. */
export interface ClientStats extends DeliveryCounters {
  id: number;
  subscription: Subscription;
  /** Bytes queued in user space for this client (ws.bufferedAmount). */
  bufferedAmount: number;
  frameInFlight: boolean;
}

interface Encoder {
  /** The newest frame not yet encoded, held (`retain`) until encoded or replaced. */
  pending: { frame: ProcessedFrame; seq: number; release: () => void } | undefined;
  busy: Promise<void> | undefined;
}

export class WebSocketSink implements Sink {
  readonly name: string;
  /** Every signal goes out through `writeSignal`; images are of the newest frame. */
  readonly policy = 'latest' as const;
  readonly host: string;
  /** Resolves with the bound address once listening; open() reports a failure to bind. */
  readonly listening: Promise<{ host: string; port: number }>;
  framesWritten = 0;
  framesEncoded = 0;
  encodeFailures = 0;
  connections = 0;
  /** Over all clients, those gone included. */
  readonly totals: DeliveryCounters = zeroCounters();

  private readonly options: Required<Omit<WebSocketSinkOptions, 'token' | 'origins'>>;
  private readonly tokenDigest: Buffer | undefined;
  private readonly allowedOrigins: ReadonlySet<string>;
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly encoders: Record<FrameKind, Encoder> = { overlay: { pending: undefined, busy: undefined }, source: { pending: undefined, busy: undefined } };
  private readonly timers: NodeJS.Timeout[] = [];
  private context: PipelineContext | undefined;
  private boundPort = 0;
  private nextClientId = 1;
  private classMapSize: { width: number; height: number } | undefined;
  private closing = false;

  constructor(readonly uri: string, opts: WebSocketSinkOptions = {}) {
    const parsed = parseSinkUri(uri);
    if (parsed.kind !== 'websocket') throw new RoadsegError(`not a websocket sink URI: ${uri}`, { hint: 'use ws://HOST:PORT', exitCode: ExitCode.usage });
    const { host, port } = parsed;
    this.host = host;
    this.name = `websocket ${uri}`;
    if (opts.token !== undefined && opts.token.length === 0) {
      throw new RoadsegError('the websocket access token is empty', { where: 'serve.token (--token)', hint: 'give a non-empty token, or none to allow any client', exitCode: ExitCode.usage });
    }
    this.tokenDigest = opts.token === undefined ? undefined : digest(opts.token);
    this.allowedOrigins = new Set((opts.origins ?? []).map(normaliseOrigin));
    this.options = {
      maxMessageBytes: opts.maxMessageBytes ?? serveDefaults.maxMessageBytes,
      heartbeatMs: opts.heartbeatMs ?? serveDefaults.heartbeatMs,
      jpegQuality: opts.jpegQuality ?? serveDefaults.jpegQuality,
      classMapScale: opts.classMapScale ?? serveDefaults.classMapScale,
      maxClients: opts.maxClients ?? serveDefaults.maxClients,
      maxBufferedBytes: opts.maxBufferedBytes ?? serveDefaults.maxBufferedBytes,
      log: opts.log ?? ((line: string) => process.stderr.write(`roadseg: ${line}\n`)),
    };

    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: this.options.maxMessageBytes, perMessageDeflate: false });
    // A peer that connects and never completes its request (gone mid-handshake, or trickling bytes)
    // is not a client yet, so neither the heartbeat nor maxClients covers it, and Node's defaults
    // would hold its socket for up to 90 s. It gets one heartbeat interval (answered with 408),
    // checked twice per interval.
    const requestTimeout = this.options.heartbeatMs;
    this.server = createServer({ headersTimeout: requestTimeout, requestTimeout, connectionsCheckingInterval: Math.ceil(requestTimeout / 2) }, (req, res) => void this.serveViewer(req, res));
    this.server.on('connection', (socket) => socket.unref());
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.listening = new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve({ host, port: this.boundPort });
      });
    });
    // A failure to bind is reported by open(); until then it must not count as unhandled.
    this.listening.catch(() => {});
    this.server.unref();

    this.timers.push(setInterval(() => this.heartbeat(), this.options.heartbeatMs).unref());
    this.timers.push(setInterval(() => this.sendStats(), statsIntervalMs).unref());
  }

  /** The bound port (0 until listening). */
  get port(): number {
    return this.boundPort;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  clientStats(): ClientStats[] {
    return [...this.clients].map((c) => ({ id: c.id, subscription: { ...c.subscription }, bufferedAmount: c.ws.bufferedAmount, frameInFlight: c.frameInFlight, ...c.counters, framesSkipped: this.skippedBy(c) }));
  }

  /** For the end-of-run summary. */
  stats(): Record<string, number> {
    let framesSkipped = this.totals.framesSkipped;
    for (const c of this.clients) framesSkipped += this.skippedBy(c) - c.counters.framesSkipped;
    return { connections: this.connections, framesEncoded: this.framesEncoded, ...this.totals, framesSkipped, ...(this.encodeFailures && { encodeFailures: this.encodeFailures }) };
  }

  async open(ctx: PipelineContext): Promise<void> {
    let address: { host: string; port: number };
    try {
      address = await this.listening;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new RoadsegError(`cannot serve on ${this.uri}: ${messageOf(e)}`, {
        where: this.uri,
        hint: code === 'EADDRINUSE' ? 'the port is taken: choose another with --serve, or 0 for any free port' : 'check the host (an address of this machine, 0.0.0.0 for all) and the port',
        exitCode: ExitCode.output,
        cause: e,
      });
    }
    this.context = ctx;
    const shown = address.host.includes(':') ? `[${address.host}]` : address.host;
    this.options.log(`serving on ws://${shown}:${address.port} (viewer: http://${shown}:${address.port}/)`);
    for (const c of this.clients) this.sendHello(c);
  }

  /** Never waits: every send is handed to the socket or dropped, images are encoded in the background. */
  write(frame: ProcessedFrame): void {
    const seq = ++this.framesWritten;
    if (this.clients.size === 0) return;
    let classMap: Buffer | undefined;
    for (const c of this.clients) {
      if (!c.helloSent) continue;
      if (c.subscription.classMap) {
        classMap ??= this.classMapMessage(frame);
        this.count(c, this.sendDroppable(c, classMap, true) ? 'classMapsSent' : 'classMapsDropped');
      }
    }
    for (const kind of frameKinds) {
      if (![...this.clients].some((c) => this.wantsFrames(c, kind))) continue;
      const encoder = this.encoders[kind];
      encoder.pending?.release();
      encoder.pending = { frame, seq, release: frame.retain() };
      this.pump(kind);
    }
  }

  /** A signal message to every subscribed client (also a live source's stale ticks); never waits. */
  writeSignal(message: SignalMessage): void {
    const signal = Buffer.from(JSON.stringify(message), 'utf8');
    for (const c of this.clients) {
      if (c.helloSent && c.subscription.signal) this.count(c, this.sendDroppable(c, signal, false) ? 'signalsSent' : 'signalsDropped');
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled(frameKinds.map((k) => this.encoders[k].busy));
    for (const k of frameKinds) {
      this.encoders[k].pending?.release();
      this.encoders[k].pending = undefined;
    }
    const closed = [...this.clients].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.ws.once('close', () => resolve());
          c.ws.close(1000, 'end of stream');
        }),
    );
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, closeGraceMs)))]);
    clearTimeout(graceTimer);
    for (const c of this.clients) {
      this.forget(c);
      c.ws.terminate();
    }
    this.wss.close();
    const listening = await this.listening.then(
      () => true,
      () => false,
    );
    if (!listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // A client that resets mid-handshake must not take the server down.
    socket.on('error', () => socket.destroy());
    const refusal = this.refusal(req);
    if (refusal) {
      const body = `${refusal.reason}\n`;
      const extra = refusal.status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '';
      socket.once('finish', () => socket.destroy());
      socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  /** Why a websocket request is refused, or undefined to accept it. */
  private refusal(req: IncomingMessage): { status: number; reason: string } | undefined {
    const url = requestUrl(req);
    if (url?.pathname !== '/') return { status: 404, reason: 'the websocket endpoint is /' };
    if (this.closing) return { status: 503, reason: 'the stream has ended' };
    if (this.clients.size >= this.options.maxClients) return { status: 503, reason: `too many clients (at most ${this.options.maxClients})` };
    if (!this.originAllowed(req)) return { status: 403, reason: 'origin not allowed (start the server with --allow-origin ORIGIN)' };
    if (!this.tokenAccepted(req, url)) return { status: 401, reason: 'missing or wrong access token (?token=... or Authorization: Bearer ...)' };
    return undefined;
  }

  /**
   * Non-browser clients send no Origin and are allowed. Browsers are allowed from the listed
   * origins, and from this server's own pages when reached by IP address or localhost: a page
   * reached by a host name could be another site's whose name was rebound to this address (DNS
   * rebinding), so host names must be listed.
   */
  private originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (this.allowedOrigins.has('*') || this.allowedOrigins.has(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return url.host === req.headers.host && (isIP(hostname) !== 0 || hostname === 'localhost');
  }

  private tokenAccepted(req: IncomingMessage, url: URL): boolean {
    if (!this.tokenDigest) return true;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const given = bearer ?? url.searchParams.get('token');
    // Digests have equal lengths, so the comparison time says nothing about the token.
    return given !== null && timingSafeEqual(digest(given), this.tokenDigest);
  }

  private onConnection(ws: WebSocket): void {
    const client: Client = {
      id: this.nextClientId++,
      ws,
      subscription: { ...defaultSubscription },
      helloSent: false,
      alive: true,
      frameInFlight: false,
      frameSlot: undefined,
      lastFrameSeq: this.framesWritten,
      counters: zeroCounters(),
    };
    this.clients.add(client);
    this.connections++;
    ws.on('message', (data, isBinary) => this.onMessage(client, data, isBinary));
    ws.on('pong', () => (client.alive = true));
    // Protocol violations (an oversized message) close this client; ws reports them here.
    ws.on('error', () => {});
    ws.on('close', () => this.forget(client));
    if (this.context) this.sendHello(client);
  }

  /** Once per client, when it is gone: its images not sent count as skipped. */
  private forget(client: Client): void {
    if (!this.clients.delete(client)) return;
    client.frameSlot = undefined;
    if (client.subscription.frames) this.count(client, 'framesSkipped', this.framesWritten - client.lastFrameSeq);
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    if (isBinary) return this.ignore(client, 'binary messages are not accepted');
    let parsed: unknown;
    try {
      parsed = JSON.parse(messageText(data));
    } catch {
      return this.ignore(client, 'messages must be JSON');
    }
    const r = SubscribeMessageSchema.safeParse(parsed);
    if (!r.success) return this.ignore(client, 'unknown message: expected {"type":"subscribe","frames":bool,"frameKind":"overlay"|"source","signal":bool,"classMap":bool}');
    this.subscribe(client, r.data);
  }

  private ignore(client: Client, why: string): void {
    this.count(client, 'badMessages');
    const message: ErrorMessage = { v: protocolVersion, type: 'error', message: why };
    this.sendDroppable(client, Buffer.from(JSON.stringify(message)), false);
  }

  private subscribe(client: Client, msg: SubscribeMessage): void {
    const before = client.subscription;
    const after: Subscription = {
      frames: msg.frames ?? before.frames,
      frameKind: msg.frameKind ?? before.frameKind,
      signal: msg.signal ?? before.signal,
      classMap: msg.classMap ?? before.classMap,
    };
    client.subscription = after;
    if (after.frames !== before.frames || after.frameKind !== before.frameKind) {
      if (before.frames) this.count(client, 'framesSkipped', this.framesWritten - client.lastFrameSeq);
      client.frameSlot = undefined;
      client.lastFrameSeq = this.framesWritten;
    }
    if (after.frames) this.pump(after.frameKind);
  }

  private sendHello(client: Client): void {
    const ctx = this.context!;
    const m = ctx.manifest;
    const hello: HelloMessage = {
      v: protocolVersion,
      type: 'hello',
      model: m.id,
      modelName: m.name,
      device: ctx.device,
      classes: ctx.classes.names,
      palette: ctx.classes.palette,
      source: { id: ctx.stream.sourceId, kind: ctx.stream.kind, width: ctx.stream.width, height: ctx.stream.height, fps: ctx.stream.fps },
      classMap: { width: this.classMapSize?.width ?? null, height: this.classMapSize?.height ?? null, scale: this.options.classMapScale, encoding: classMapEncoding },
      subscription: { ...client.subscription },
      maxMessageBytes: this.options.maxMessageBytes,
    };
    client.ws.send(JSON.stringify(hello));
    client.helloSent = true;
  }

  /**
   * Frames a client subscribed to images got no image of: those counted when a later image was
   * sent, and those written since its last image but the newest, which may still reach it.
   */
  private skippedBy(client: Client): number {
    const outstanding = client.subscription.frames ? Math.max(0, this.framesWritten - client.lastFrameSeq - 1) : 0;
    return client.counters.framesSkipped + outstanding;
  }

  private count(client: Client, counter: keyof DeliveryCounters, n = 1): void {
    client.counters[counter] += n;
    this.totals[counter] += n;
  }

  /** Sends unless this client lags by more than the bound; says whether it sent. */
  private sendDroppable(client: Client, data: Buffer, binary: boolean): boolean {
    if (client.ws.readyState !== WebSocket.OPEN || client.ws.bufferedAmount > this.options.maxBufferedBytes) return false;
    client.ws.send(data, { binary });
    return true;
  }

  private classMapMessage(frame: ProcessedFrame): Buffer {
    const scale = this.options.classMapScale;
    const { width, height, rle } = encodeClassMap(frame.labels, scale);
    this.classMapSize = { width, height };
    const { index, ptsMs, captureTimeMs } = frame.meta;
    return packBinary(BinaryKind.classMap, { v: protocolVersion, type: 'classMap', frame: index, ptsMs, captureTime: captureTimeMs, width, height, scale, encoding: classMapEncoding }, rle);
  }

  private wantsFrames(c: Client, kind: FrameKind): boolean {
    return c.helloSent && c.subscription.frames && c.subscription.frameKind === kind && c.ws.readyState === WebSocket.OPEN;
  }

  /** Encodes the pending image of a kind if no encode runs and some client can take it now. */
  private pump(kind: FrameKind): void {
    const encoder = this.encoders[kind];
    if (encoder.busy || !encoder.pending || this.closing) return;
    if (![...this.clients].some((c) => this.wantsFrames(c, kind) && !c.frameInFlight)) return;
    const { frame, seq, release } = encoder.pending;
    encoder.pending = undefined;
    encoder.busy = this.encode(kind, frame, seq).finally(() => {
      release();
      encoder.busy = undefined;
      this.pump(kind);
    });
  }

  private async encode(kind: FrameKind, frame: ProcessedFrame, seq: number): Promise<void> {
    const mat = kind === 'overlay' ? frame.overlay : frame.image;
    let jpeg: Buffer;
    try {
      jpeg = await cv.imencodeAsync('.jpg', mat, [cv.IMWRITE_JPEG_QUALITY, this.options.jpegQuality]);
    } catch (e) {
      if (this.encodeFailures++ === 0) this.options.log(`websocket: JPEG encoding failed on frame ${frame.meta.index}: ${messageOf(e)} (images are skipped while it fails)`);
      return;
    }
    this.framesEncoded++;
    const { index, ptsMs, captureTimeMs } = frame.meta;
    const message = packBinary(BinaryKind.frame, { v: protocolVersion, type: 'frame', kind, frame: index, ptsMs, captureTime: captureTimeMs, width: mat.cols, height: mat.rows, mime: 'image/jpeg' }, jpeg);
    const encoded: EncodedFrame = { seq, kind, message };
    for (const c of this.clients) {
      if (!this.wantsFrames(c, kind)) continue;
      if (c.frameInFlight) c.frameSlot = encoded;
      else this.sendFrame(c, encoded);
    }
  }

  private sendFrame(client: Client, encoded: EncodedFrame): void {
    this.count(client, 'framesSkipped', Math.max(0, encoded.seq - client.lastFrameSeq - 1));
    client.lastFrameSeq = encoded.seq;
    client.frameInFlight = true;
    // Called once the image is handed to the kernel: a client that does not read stays busy.
    client.ws.send(encoded.message, { binary: true }, (err) => {
      client.frameInFlight = false;
      if (err) return;
      this.count(client, 'framesSent');
      const next = client.frameSlot;
      client.frameSlot = undefined;
      if (next && this.wantsFrames(client, next.kind) && !this.closing) this.sendFrame(client, next);
      else this.pump(client.subscription.frameKind);
    });
  }

  /** Terminates clients that did not answer the previous ping, pings the others. */
  private heartbeat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  private sendStats(): void {
    for (const c of this.clients) {
      if (!c.helloSent) continue;
      const stats: StatsMessage = {
        v: protocolVersion,
        type: 'stats',
        framesWritten: this.framesWritten,
        framesSent: c.counters.framesSent,
        framesSkipped: this.skippedBy(c),
        signalsSent: c.counters.signalsSent,
        signalsDropped: c.counters.signalsDropped,
        classMapsSent: c.counters.classMapsSent,
        classMapsDropped: c.counters.classMapsDropped,
        clients: this.clients.size,
      };
      this.sendDroppable(c, Buffer.from(JSON.stringify(stats)), false);
    }
  }

  private async serveViewer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const path = requestUrl(req)?.pathname;
    const entry = path === undefined ? undefined : viewerFiles[path];
    if (!entry) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(join(viewerDir, entry.file));
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`the viewer files are missing (${messageOf(e)}); the websocket at / still works\n`);
      return;
    }
    res.writeHead(200, { ...viewerHeaders, 'Content-Type': entry.type, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
