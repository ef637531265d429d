/**
 * The HTTP side of `--serve` and `--metrics-port`: one loopback-by-default server with a table of
 * GET routes, the access rules (token, browser origin) and a hook for websocket upgrades. The
 * websocket sink adds the viewer's files and the socket; the metrics sink only /metrics and /healthz.
 *
 * Its handles are unref'd: the running pipeline keeps the process alive, and a pipeline that fails
 * before opening its sinks does not leave it hanging.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';

/** Answers one GET (or HEAD) request; `url` is already parsed. */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface Refusal {
  status: number;
  reason: string;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

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

/** Who may use the server: an optional token, and the browser origins allowed to open a socket. */
export class AccessRules {
  private readonly tokenDigest: Buffer | undefined;
  private readonly allowedOrigins: ReadonlySet<string>;

  constructor(token: string | undefined, origins: readonly string[] = []) {
    if (token !== undefined && token.length === 0) {
      throw new RoadsegError('the access token is empty', { where: 'serve.token (--token)', hint: 'give a non-empty token, or none to allow any client', exitCode: ExitCode.usage });
    }
    this.tokenDigest = token === undefined ? undefined : digest(token);
    this.allowedOrigins = new Set(origins.map(normaliseOrigin));
  }

  /** Why a request without a valid token is refused, or undefined when the token rule lets it in. */
  tokenRefusal(req: IncomingMessage, url: URL): Refusal | undefined {
    if (!this.tokenDigest) return undefined;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const given = bearer ?? url.searchParams.get('token');
    // Digests have equal lengths, so the comparison time says nothing about the token.
    if (given !== null && timingSafeEqual(digest(given), this.tokenDigest)) return undefined;
    return { status: 401, reason: 'missing or wrong access token (?token=... or Authorization: Bearer ...)' };
  }

  /**
   * Non-browser clients send no Origin and are allowed. Browsers are allowed from the listed
   * origins, and from this server's own pages when reached by IP address or localhost: a page
   * reached by a host name could be another site's whose name was rebound to this address (DNS
   * rebinding), so host names must be listed.
   */
  originAllowed(req: IncomingMessage): boolean {
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
}

/** The request's URL, or undefined when its target is not a valid path (`//[`). */
function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

/** Answers a refused websocket upgrade on the raw socket, then closes it. */
export function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  const body = `${refusal.reason}\n`;
  const extra = refusal.status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '';
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
}

export interface HttpEndpointOptions {
  host: string;
  port: number;
  /** A peer that does not complete its request within this time gets 408. */
  requestTimeoutMs: number;
  routes: Readonly<Record<string, Route>>;
  /** Websocket upgrades; refused with 404 when absent. */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL | undefined) => void;
}

export class HttpEndpoint {
  /** Resolves with the bound address once listening; `bound()` reports a failure to bind. */
  readonly listening: Promise<{ host: string; port: number }>;
  private readonly server: Server;
  private boundPort = 0;

  constructor(private readonly opts: HttpEndpointOptions) {
    // A peer that connects and never completes its request (gone mid-handshake, or trickling bytes)
    // is not a client yet, and Node's defaults would hold its socket for up to 90 s.
    const t = opts.requestTimeoutMs;
    this.server = createServer({ headersTimeout: t, requestTimeout: t, connectionsCheckingInterval: Math.ceil(t / 2) }, (req, res) => void this.serve(req, res));
    this.server.on('connection', (socket) => socket.unref());
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // A client that resets mid-handshake must not take the server down.
      socket.on('error', () => socket.destroy());
      if (opts.upgrade) opts.upgrade(req, socket, head, requestUrl(req));
      else refuseUpgrade(socket, { status: 404, reason: 'no websocket here' });
    });
    this.listening = new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: opts.host, port: opts.port }, () => {
        this.server.off('error', reject);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve({ host: opts.host, port: this.boundPort });
      });
    });
    // A failure to bind is reported by bound(); until then it must not count as unhandled.
    this.listening.catch(() => {});
    this.server.unref();
  }

  /** The bound port (0 until listening). */
  get port(): number {
    return this.boundPort;
  }

  /** The bound address, or the failure to bind as a RoadsegError naming `what` (a URI) and the `flag` that sets it. */
  async bound(what: string, flag: string): Promise<{ host: string; port: number; shown: string }> {
    try {
      const a = await this.listening;
      return { ...a, shown: `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new RoadsegError(`cannot serve on ${what}: ${messageOf(e)}`, {
        where: what,
        hint: code === 'EADDRINUSE' ? `the port is taken: choose another with ${flag}, or 0 for any free port` : 'check the host (an address of this machine, 0.0.0.0 for all) and the port',
        exitCode: ExitCode.output,
        cause: e,
      });
    }
  }

  async close(): Promise<void> {
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

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const url = requestUrl(req);
    const route = url && Object.hasOwn(this.opts.routes, url.pathname) ? this.opts.routes[url.pathname] : undefined;
    if (!url || !route) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    await route(req, res, url);
  }
}

/** Sends a text body (nothing for HEAD). */
export function sendText(req: IncomingMessage, res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string | number>): void {
  const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers, 'Content-Length': data.length });
  res.end(req.method === 'HEAD' ? undefined : data);
}

/** Pages served from a folder, read at request time; `files` maps a path to a file name and type. */
export function staticFiles(dir: string, files: Readonly<Record<string, { file: string; type: string }>>, headers: Record<string, string>): Record<string, Route> {
  return Object.fromEntries(
    Object.entries(files).map(([path, entry]): [string, Route] => [
      path,
      async (req, res) => {
        let body: Buffer;
        try {
          body = await readFile(join(dir, entry.file));
        } catch (e) {
          sendText(req, res, 500, `the page's files are missing (${messageOf(e)})\n`, { 'Content-Type': 'text/plain' });
          return;
        }
        sendText(req, res, 200, body, { ...headers, 'Content-Type': entry.type });
      },
    ]),
  );
}
