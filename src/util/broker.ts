/**
 * What the broker sinks (MQTT, Redis Streams) share.
 *
 * SendQueue: the never-blocking hand-over to a message broker that may be slow, down or restarting (the MQTT
 * and Redis Streams sinks). `push` never waits: messages wait in a bounded queue, in order, and are
 * sent while the connection is up, at most `window` at a time (sent and not yet acknowledged). When
 * the queue is full the OLDEST message is dropped and counted: a consumer that catches up after an
 * outage gets the freshest signal rather than a backlog, and the pipeline's memory stays bounded.
 */
import { ExitCode, RoadsegError } from './errors.js';

export interface SendQueueOptions {
  /** Messages held while the broker is down or slow; older ones are dropped beyond this. */
  capacity: number;
  /** Messages sent and not yet acknowledged, at most. */
  window: number;
}

export interface SendQueueCounters {
  sent: number;
  /** Dropped: the queue was full, or the send failed (the connection lost, the broker refused it). */
  dropped: number;
  /** Still queued when the close gave up waiting (never sent). */
  notSent: number;
  /** Sent and not yet acknowledged when the close gave up waiting: they may have arrived. */
  inFlight: number;
  /** Held at this moment. */
  queued: number;
}

export class SendQueue<T> {
  private readonly items: T[] = [];
  private inFlight = 0;
  private ready = false;
  private idle: (() => void) | undefined;
  private sent = 0;
  private dropped = 0;
  private notSent = 0;
  private unacknowledged = 0;

  constructor(
    private readonly send: (item: T) => Promise<void>,
    private readonly opts: SendQueueOptions,
  ) {}

  push(item: T): void {
    if (this.items.length >= this.opts.capacity) {
      this.items.shift();
      this.dropped++;
    }
    this.items.push(item);
    this.pump();
  }

  /** The connection is up (send) or down (hold). */
  setReady(ready: boolean): void {
    this.ready = ready;
    this.pump();
  }

  counters(): SendQueueCounters {
    return { sent: this.sent, dropped: this.dropped, notSent: this.notSent, inFlight: this.unacknowledged, queued: this.items.length + this.inFlight };
  }

  /**
   * Waits until everything queued is sent, for at most `timeoutMs` (the broker may be down); what
   * is still queued then is counted as `notSent`, what is sent and not acknowledged as `inFlight`
   * (left to the connection: they may still arrive).
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.items.length || this.inFlight) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.idle = undefined;
    }
    this.notSent += this.items.length;
    this.unacknowledged += this.inFlight;
    this.items.length = 0;
    this.inFlight = 0;
    this.ready = false;
  }

  private pump(): void {
    while (this.ready && this.inFlight < this.opts.window && this.items.length) {
      const item = this.items.shift()!;
      this.inFlight++;
      this.send(item).then(
        () => this.settled(true),
        () => this.settled(false),
      );
    }
    if (!this.items.length && !this.inFlight) this.idle?.();
  }

  private settled(ok: boolean): void {
    // After drain() gave up, late acknowledgements are already counted as in flight.
    if (this.inFlight === 0) return;
    this.inFlight--;
    if (ok) this.sent++;
    else this.dropped++;
    this.pump();
  }
}

/** A log that repeats the same line at most once per `everyMs` (a broker down: one line per retry). */
export function throttledLog(log: (line: string) => void, everyMs = 10_000): (line: string) => void {
  const last = new Map<string, number>();
  return (line) => {
    const now = Date.now();
    if (now - (last.get(line) ?? -Infinity) < everyMs) return;
    last.set(line, now);
    log(line);
  };
}

/** A Redis server as ioredis and BullMQ take it; credentials from the environment. */
export interface RedisServer {
  host: string;
  port: number;
  db: number;
  tls?: Record<string, never>;
  username?: string;
  password?: string;
}

/**
 * `redis[s]://HOST[:PORT][/DB][?query]` -> the server and the query (checked by the caller).
 * Credentials in the URI are refused: they would show in process lists and logs; they come from
 * ROADSEG_REDIS_USERNAME and ROADSEG_REDIS_PASSWORD.
 */
export function parseRedisUrl(uri: string, hint: string): { server: RedisServer; params: URLSearchParams } {
  const usage = (what: string, h = hint) => new RoadsegError(what, { where: uri, hint: h, exitCode: ExitCode.usage });
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw usage(`invalid Redis URL: ${uri}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw usage(`not a Redis URL: ${uri}`);
  if (!url.hostname) throw usage(`the Redis URL names no host: ${uri}`);
  if (url.username || url.password) throw usage('credentials in a Redis URL would show in process lists and logs', 'set ROADSEG_REDIS_USERNAME and ROADSEG_REDIS_PASSWORD in the environment instead');
  const dbText = url.pathname.replace(/^\//, '') || '0';
  if (!/^\d{1,5}$/.test(dbText)) throw usage(`the Redis database must be a number, got "${dbText}"`);
  const server: RedisServer = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 6379),
    db: Number(dbText),
    ...(url.protocol === 'rediss:' && { tls: {} }),
    ...(process.env.ROADSEG_REDIS_USERNAME && { username: process.env.ROADSEG_REDIS_USERNAME }),
    ...(process.env.ROADSEG_REDIS_PASSWORD && { password: process.env.ROADSEG_REDIS_PASSWORD }),
  };
  return { server, params: url.searchParams };
}
