/**
 * Websocket server and browser viewer (`ws://host:port`, `--serve`). Protocol: websocket-protocol.ts
 * and docs/signal.md. Parts: http-endpoint.ts (HTTP serving, token and origin checks), websocket-session.ts
 * (one client), websocket-images.ts (JPEG encoding and broadcast), live-metrics.ts (/metrics, /healthz).
 *
 * The sink's policy is `latest`, and its write() never waits: per frame it hands the signal (and
 * class map) to each subscribed client at once, or drops it for a client that lags by more than
 * `maxBufferedBytes`. Images are freshest-only: a slow or stalled client skips frames; it never
 * slows the graph, and what is held for it is bounded (its queued bytes, one image in flight and
 * one in its slot; one frame per image kind waiting to be encoded, held with `frame.retain()`).
 *
 * The server binds when the sink is created, so clients can connect while the model loads; they
 * get `hello` when the pipeline opens the sink.
 */
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import { signalJson, type SignalMessage } from '../core/signal.js';
import type { ServerSinkUri } from '../core/uri.js';
import { packageRoot } from '../util/package.js';
import { AccessRules, HttpEndpoint, refuseUpgrade, staticFiles, type Refusal } from './http-endpoint.js';
import { LiveMetrics } from './live-metrics.js';
import { ImageBroadcaster } from './websocket-images.js';
import { classMapMessage, helloMessage, type DeliveryCounters } from './websocket-protocol.js';
import { ClientSession, zeroCounters, type ClientStats, type SessionHost } from './websocket-session.js';
import { within } from '../util/deadline.js';

export type { ClientStats } from './websocket-session.js';

/** The server's limits and access rules (config key `serve`; defaults in src/app/config.ts). */
export interface ServeSettings {
  token?: string | undefined;
  origins: string[];
  maxMessageBytes: number;
  heartbeatMs: number;
  jpegQuality: number;
  classMapScale: number;
  /** Clients connected at once, at most; more are refused (HTTP 503). */
  maxClients: number;
  /** Bytes queued for one client above which its signal and class map messages are dropped. */
  maxBufferedBytes: number;
}

export interface WebSocketSinkOptions extends ServeSettings {
  /** The overlay's class opacity, offered to the viewer as its starting value. */
  opacity?: number;
  /** Where "serving on ..." and encoding failures go (default: standard error). */
  log?: (line: string) => void;
}

/** The static viewer is read at run time from the installed package (it is not compiled). */
const viewerDir = join(packageRoot, 'src', 'sinks', 'viewer');
const html = { file: 'index.html', type: 'text/html; charset=utf-8' };
const viewerFiles = { '/': html, '/index.html': html, '/viewer.js': { file: 'viewer.js', type: 'text/javascript; charset=utf-8' }, '/viewer.css': { file: 'viewer.css', type: 'text/css; charset=utf-8' } };
/** The viewer needs nothing from elsewhere; its URL may carry the token, so no referrer either. */
const viewerHeaders = {
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** How long close() waits for clients to acknowledge the closing handshake before cutting them off. */
const closeGraceMs = 1500;
const statsIntervalMs = 1000;

/** `ws://host:port` -> host and port; the host defaults to loopback, port 0 picks a free port. */
export class WebSocketSink implements Sink, SessionHost {
  readonly name: string;
  readonly policy = 'latest' as const;
  readonly host: string;
  readonly listening: Promise<{ host: string; port: number }>;
  readonly metrics = new LiveMetrics();
  framesWritten = 0;
  /** Frames written per source: each source's image sequence. */
  private readonly writtenBySource = new Map<string, number>();
  connections = 0;
  closing = false;
  /** Over all clients, those gone included. */
  readonly totals: DeliveryCounters = zeroCounters();
  readonly maxBufferedBytes: number;

  private readonly clients = new Set<ClientSession>();
  private readonly images: ImageBroadcaster;
  private readonly access: AccessRules;
  private readonly endpoint: HttpEndpoint;
  private readonly wss: WebSocketServer;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly log: (line: string) => void;
  private context: PipelineContext | undefined;
  private nextClientId = 1;
  /** The size of the latest class map sent (for `hello`). */
  private classMapGrid: { width: number; height: number } | undefined;

  readonly uri: string;

  /** `target`: the `ws://` URI as src/core/uri.ts parsed it (openSink's, or parseServerSinkUri). */
  constructor(target: ServerSinkUri<'websocket'>, private readonly opts: WebSocketSinkOptions) {
    const { uri, host, port } = target;
    this.uri = uri;
    this.host = host;
    this.name = `websocket ${uri}`;
    this.maxBufferedBytes = opts.maxBufferedBytes;
    this.access = new AccessRules(opts.token, opts.origins);
    this.log = opts.log ?? ((line: string) => process.stderr.write(`roadseg: ${line}\n`));
    this.images = new ImageBroadcaster(this.clients, opts.jpegQuality, this.log);
    this.metrics.gauge('roadseg_websocket_clients', 'Websocket clients connected.', () => this.clients.size);
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: opts.maxMessageBytes, perMessageDeflate: false });
    this.endpoint = new HttpEndpoint({
      host,
      port,
      // A peer that never completes its request gets one heartbeat interval (answered with 408).
      requestTimeoutMs: opts.heartbeatMs,
      routes: { ...staticFiles(viewerDir, viewerFiles, viewerHeaders), ...this.metrics.routes(this.access) },
      upgrade: (req, socket, head, url) => this.onUpgrade(req, socket, head, url),
    });
    this.listening = this.endpoint.listening;
    this.timers.push(setInterval(() => this.clients.forEach((c) => c.heartbeat()), opts.heartbeatMs).unref());
    this.timers.push(setInterval(() => this.clients.forEach((c) => c.sendStats(this.clients.size)), statsIntervalMs).unref());
  }

  /** The bound port (0 until listening). */
  get port(): number {
    return this.endpoint.port;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  clientStats(): ClientStats[] {
    return [...this.clients].map((c) => c.stats());
  }

  /** For the end-of-run summary. */
  stats(): Record<string, number> {
    let framesSkipped = this.totals.framesSkipped;
    for (const c of this.clients) framesSkipped += c.skipped() - c.counters.framesSkipped;
    const { framesEncoded, encodeFailures } = this.images;
    return { connections: this.connections, framesEncoded, ...this.totals, framesSkipped, ...(encodeFailures && { encodeFailures }) };
  }

  async open(ctx: PipelineContext): Promise<void> {
    const { shown } = await this.endpoint.bound(this.uri, '--serve');
    this.context = ctx;
    for (const s of ctx.streams) this.writtenBySource.set(s.sourceId, 0);
    this.metrics.open(ctx);
    this.log(`serving on ws://${shown} (viewer: http://${shown}/); metrics on http://${shown}/metrics, health on /healthz`);
    for (const c of this.clients) this.sendHello(c);
  }

  /** Never waits: every send is handed to the socket or dropped, images are encoded in the background. */
  write(frame: ProcessedFrame): void {
    this.framesWritten++;
    const source = frame.meta.sourceId;
    const seq = this.writtenBySource.get(source)! + 1;
    this.writtenBySource.set(source, seq);
    this.metrics.frame(frame);
    if (this.clients.size === 0) return;
    let classMap: Buffer | undefined;
    for (const c of this.clients) {
      if (!c.helloSent || !c.subscription.classMap || !c.takes(source)) continue;
      if (!classMap) ({ message: classMap, grid: this.classMapGrid } = classMapMessage(frame, this.opts.classMapScale));
      c.classMap(classMap, source);
    }
    this.images.offer(frame, seq);
  }

  /** A signal message to every client subscribed to its source (also a live source's stale ticks); never waits. */
  writeSignal(message: SignalMessage): void {
    this.metrics.signal(message);
    if (this.clients.size === 0) return;
    const signal = Buffer.from(signalJson(message), 'utf8');
    for (const c of this.clients) c.signal(signal, message.source);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.metrics.end();
    for (const t of this.timers) clearInterval(t);
    await this.images.close();
    const closed = [...this.clients].map((c) => new Promise<void>((resolve) => (c.ws.once('close', () => resolve()), c.ws.close(1000, 'end of stream'))));
    await within(Promise.all(closed), closeGraceMs);
    for (const c of this.clients) c.end(), c.ws.terminate();
    this.wss.close();
    await this.endpoint.close();
  }

  // SessionHost: what each client's session asks of the sink.
  countTotal(counter: keyof DeliveryCounters, n: number): void {
    this.totals[counter] += n;
  }
  readyForImage(kind: 'overlay' | 'source', source: string): void {
    this.images.pump(kind, source);
  }
  writtenOf(source: string): number {
    return this.writtenBySource.get(source) ?? 0;
  }
  get sourceIds(): readonly string[] {
    return [...this.writtenBySource.keys()];
  }
  forget(session: ClientSession): void {
    this.clients.delete(session);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL | undefined): void {
    const refusal = this.refusal(req, url);
    if (refusal) return refuseUpgrade(socket, refusal);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  /** Why a websocket request is refused, or undefined to accept it. */
  private refusal(req: IncomingMessage, url: URL | undefined): Refusal | undefined {
    if (url?.pathname !== '/') return { status: 404, reason: 'the websocket endpoint is /' };
    if (this.closing) return { status: 503, reason: 'the stream has ended' };
    if (this.clients.size >= this.opts.maxClients) return { status: 503, reason: `too many clients (at most ${this.opts.maxClients})` };
    if (!this.access.originAllowed(req)) return { status: 403, reason: 'origin not allowed (start the server with --allow-origin ORIGIN)' };
    return this.access.tokenRefusal(req, url);
  }

  private onConnection(ws: WebSocket): void {
    const client = new ClientSession(this.nextClientId++, ws, this);
    this.clients.add(client);
    this.connections++;
    if (this.context) this.sendHello(client);
  }

  private sendHello(client: ClientSession): void {
    client.hello(helloMessage(this.context!, { ...this.classMapGrid, scale: this.opts.classMapScale }, this.opts.maxMessageBytes, this.opts.opacity));
  }
}
