/**
 * The drivable-area signal on a Redis Stream: `redis://HOST:PORT/DB?stream=KEY&maxlen=N`
 * (`rediss://` for TLS); `{source}` in KEY gives one stream per source (src/app expands it). One XADD per frame (stale ticks of a live
 * source included) with the message in the field `signal`, byte-identical to the signal file's line
 * (without the newline); the stream is trimmed with `MAXLEN ~ N`, so it holds about the last N
 * messages whatever consumers do. Consumers read it with XREAD or a consumer group.
 *
 * Never blocks the pipeline: the same bounded queue as the MQTT sink (util/broker.ts), sent while
 * the connection is ready; ioredis's own offline queue (unbounded) is off, reconnects back off from
 * 0.2 s to 10 s. Credentials come from the environment (ROADSEG_REDIS_USERNAME,
 * ROADSEG_REDIS_PASSWORD), never from the URI.
 */
import { Redis } from 'ioredis';
import type { PipelineContext } from '../core/sink.js';
import { redactUri } from '../core/uri.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { parseRedisUrl, type RedisServer } from '../util/broker.js';
import { within } from '../util/deadline.js';
import { QueuedSignalSink } from './queued-signal.js';

export const redisStreamDefaults = {
  maxlen: 10_000,
  capacity: 1000,
  /** XADDs sent and not yet answered, at most (ioredis pipelines them on one connection). */
  window: 64,
  reconnectMinMs: 200,
  reconnectMaxMs: 10_000,
  closeGraceMs: 2000,
  /** The stream field holding the signal message. */
  field: 'signal',
} as const;

export interface RedisStreamTarget {
  server: RedisServer;
  key: string;
  maxlen: number;
}

const uriHint = 'redis://HOST[:PORT][/DB]?stream=KEY[&maxlen=N], e.g. redis://127.0.0.1:6379/0?stream=roadseg:{source}&maxlen=10000';

export function parseRedisStreamUri(uri: string): RedisStreamTarget {
  const { server, params } = parseRedisUrl(uri, uriHint);
  const usage = (what: string, hint = uriHint) => new RoadsegError(redactUri(what), { where: redactUri(uri), hint, exitCode: ExitCode.usage });
  let key: string | undefined;
  let maxlen: number = redisStreamDefaults.maxlen;
  for (const [name, value] of params) {
    if (name === 'stream') key = value;
    else if (name === 'maxlen') {
      maxlen = Number(value);
      if (!Number.isInteger(maxlen) || maxlen < 1) throw usage(`maxlen must be an integer >= 1, got "${value}"`);
    } else throw usage(`unknown Redis sink option "${name}"`, 'the options are stream=KEY (required) and maxlen=N');
  }
  if (!key) throw usage(`the Redis sink URI names no stream: ${uri}`);
  return { server, key, maxlen };
}

/** Replies that retrying cannot mend: the server wants other credentials. */
const authError = /\b(NOAUTH|WRONGPASS)\b|invalid password|invalid username-password/i;
const credentialsHint = 'check the user and password: ROADSEG_REDIS_USERNAME and ROADSEG_REDIS_PASSWORD in the environment (never in the URL), as the server\'s requirepass or ACL user expects';

export class RedisStreamSink extends QueuedSignalSink {
  readonly name: string;
  readonly target: RedisStreamTarget;
  private client: Redis | undefined;

  constructor(readonly uri: string, log: (line: string) => void = (line) => process.stderr.write(`roadseg: ${line}\n`)) {
    super(redisStreamDefaults, log);
    this.target = parseRedisStreamUri(uri);
    const { host, port, db } = this.target.server;
    this.name = `redis ${host}:${port}/${db} stream ${this.target.key}`;
  }

  /**
   * Waits for the first connection attempt's outcome: refused credentials or a database the server
   * does not have fail the run before its first frame; an outage does not.
   */
  async open(_ctx: PipelineContext): Promise<void> {
    const { host, port, db } = this.target.server;
    const client = new Redis({
      ...this.target.server,
      // Selected below, where a database the server lacks is an error: ioredis would only warn and use 0.
      db: 0,
      connectionName: 'roadseg-signal',
      enableOfflineQueue: false,
      // A command sent just before the connection drops fails (and is counted) instead of waiting.
      maxRetriesPerRequest: 0,
      connectTimeout: 5000,
      // A connection dropped before it was ready (refused credentials) is half-closed: ioredis
      // would keep the process alive 2 s waiting for the server's side.
      disconnectTimeout: 200,
      retryStrategy: (times: number) => Math.min(redisStreamDefaults.reconnectMinMs * 2 ** Math.min(times - 1, 6), redisStreamDefaults.reconnectMaxMs),
    });
    this.client = client;
    let attempted: () => void = () => {};
    const first = new Promise<void>((resolve) => (attempted = resolve));
    client.on('ready', () => {
      this.select(client, db).then(attempted, (e: unknown) => {
        this.warn(`redis ${host}:${port}: SELECT ${db} failed: ${messageOf(e)} (retrying at the next connection)`);
        attempted();
      });
    });
    client.on('close', () => {
      this.queue.setReady(false);
      attempted();
    });
    client.on('reconnecting', () => this.reconnects++);
    client.on('error', (e: unknown) => {
      if (authError.test(messageOf(e))) return this.refuseCredentials(client, e);
      this.warn(`redis ${host}:${port}: ${messageOf(e)} (retrying; signal messages are dropped meanwhile)`);
    });
    await first;
    if (this.refused) throw this.refused;
  }

  /** Selects the URI's database on each (re)connection, then sends; a database the server lacks stops the sink. */
  private async select(client: Redis, db: number): Promise<void> {
    try {
      if (db !== 0) await client.select(db);
    } catch (e) {
      if (authError.test(messageOf(e))) return this.refuseCredentials(client, e);
      if (!/DB index is out of range|invalid DB index/i.test(messageOf(e))) throw e;
      const databases = await client.config('GET', 'databases').then((r) => (r as string[])[1], () => undefined);
      this.refuse(
        new RoadsegError(`the Redis server has no database ${db}${databases ? `: it has ${databases} (0 to ${Number(databases) - 1})` : ''}`, {
          where: redactUri(this.uri),
          hint: `give a database the server has in the URL (redis://HOST:PORT/DB), or raise \`databases\` in redis.conf`,
          exitCode: ExitCode.usage,
        }),
      );
      client.disconnect();
      return;
    }
    if (this.client === client && !this.refused) this.queue.setReady(true);
  }

  private refuseCredentials(client: Redis, e: unknown): void {
    const user = this.target.server.username;
    this.refuse(new RoadsegError(`the Redis server refused the credentials (${user ? `user "${user}"` : this.target.server.password ? 'password only' : 'none set'}): ${messageOf(e)}`, { where: this.name, hint: credentialsHint, exitCode: ExitCode.output }));
    client.disconnect();
  }

  protected dropReason(e: unknown): string | undefined {
    const message = messageOf(e);
    if (/^WRONGTYPE\b/.test(message)) return `the key ${this.target.key} holds a value of another type, not a stream (WRONGTYPE); delete it or give another stream=KEY`;
    // Any other reply of the server (an error prefix in capitals); a lost connection is retried and reported as such.
    if (/^[A-Z]{3,}\b/.test(message)) return `the server refused XADD to ${this.target.key}: ${message}`;
    return undefined;
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    // Nothing more goes out after a refusal: no grace to wait for.
    await this.queue.drain(this.refused ? 0 : redisStreamDefaults.closeGraceMs);
    this.client = undefined;
    if (client.status === 'ready') await within(client.quit(), 500);
    client.disconnect();
  }

  protected async send(payload: string): Promise<void> {
    if (!this.client) throw new Error('closed');
    await this.client.xadd(this.target.key, 'MAXLEN', '~', this.target.maxlen, '*', redisStreamDefaults.field, payload);
  }
}
