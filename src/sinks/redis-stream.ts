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
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { parseRedisUrl, within, type RedisServer } from '../util/broker.js';
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
  const usage = (what: string, hint = uriHint) => new RoadsegError(what, { where: uri, hint, exitCode: ExitCode.usage });
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

  open(_ctx: PipelineContext): void {
    const { host, port } = this.target.server;
    const client = new Redis({
      ...this.target.server,
      connectionName: 'roadseg-signal',
      enableOfflineQueue: false,
      // A command sent just before the connection drops fails (and is counted) instead of waiting.
      maxRetriesPerRequest: 0,
      connectTimeout: 5000,
      retryStrategy: (times: number) => Math.min(redisStreamDefaults.reconnectMinMs * 2 ** Math.min(times - 1, 6), redisStreamDefaults.reconnectMaxMs),
    });
    this.client = client;
    client.on('ready', () => this.queue.setReady(true));
    client.on('close', () => this.queue.setReady(false));
    client.on('reconnecting', () => this.reconnects++);
    client.on('error', (e: unknown) => this.warn(`redis ${host}:${port}: ${messageOf(e)} (retrying; signal messages are dropped meanwhile)`));
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    await this.queue.drain(redisStreamDefaults.closeGraceMs);
    this.client = undefined;
    if (client.status === 'ready') await within(client.quit(), 500);
    client.disconnect();
  }

  protected async send(payload: string): Promise<void> {
    if (!this.client) throw new Error('closed');
    await this.client.xadd(this.target.key, 'MAXLEN', '~', this.target.maxlen, '*', redisStreamDefaults.field, payload);
  }
}
