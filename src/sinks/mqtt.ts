/**
 * The drivable-area signal on an MQTT broker: `mqtt://HOST:PORT/TOPIC` (`mqtts://` for TLS) and
 * `?qos=0|1`; `{source}` in the topic gives one topic per source (src/app expands it). One message
 * per frame (stale ticks of a live source included), its payload byte-identical to the signal
 * file's line (without the newline).
 *
 * Presence: `<topic without its last level>/status` holds a retained `online` while connected; the
 * connection's Last Will sets it to `offline`, so the broker itself reports a process that died,
 * and a graceful close publishes `offline` before disconnecting.
 *
 * Never blocks the pipeline: writes go to a bounded queue (util/broker.ts) that is sent while
 * connected; the broker being slow, down or restarted costs dropped (counted) messages, never
 * time. mqtt.js's own offline queue is off (it is unbounded); reconnects back off from 0.5 s to 10 s.
 * Credentials come from the environment (ROADSEG_MQTT_USERNAME, ROADSEG_MQTT_PASSWORD), never
 * from the URI, so they do not show in process lists or logs.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { PipelineContext } from '../core/sink.js';
import { redactUri } from '../core/uri.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { within } from '../util/deadline.js';
import { QueuedSignalSink } from './queued-signal.js';

export const mqttDefaults = {
  /** Messages held while the broker is down or slow (about 33 s of one 30 fps source). */
  capacity: 1000,
  /** Published and not yet acknowledged (QoS 1) or written to the socket (QoS 0), at most. */
  window: 64,
  reconnectMinMs: 500,
  reconnectMaxMs: 10_000,
  /** close() waits this long for queued messages and the offline status to go out. */
  closeGraceMs: 2000,
} as const;

export interface MqttTarget {
  url: string;
  topic: string;
  qos: 0 | 1;
}

const usage = (what: string, uri: string, hint = 'mqtt://HOST[:PORT]/TOPIC[?qos=0|1], e.g. mqtt://127.0.0.1:1883/roadseg/{source}/signal; mqtts:// for TLS') =>
  new RoadsegError(redactUri(what), { where: redactUri(uri), hint, exitCode: ExitCode.usage });

/** CONNACK codes of a refused login (MQTT 3.1.1: 4, 5; MQTT 5: 134, 135, 138 banned, 140): retrying cannot mend them. */
const authRefusals = new Set([4, 5, 134, 135, 138, 140]);
const credentialsHint = 'check the user and password: ROADSEG_MQTT_USERNAME and ROADSEG_MQTT_PASSWORD in the environment (never in the URI), and the broker\'s access rules for them';

export function parseMqttUri(uri: string): MqttTarget {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw usage(`invalid MQTT sink URI: ${uri}`, uri);
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw usage(`not an MQTT URI: ${uri}`, uri);
  if (!url.hostname) throw usage(`the MQTT sink URI names no host: ${uri}`, uri);
  if (url.username || url.password) throw usage('credentials in an MQTT sink URI would show in process lists and logs', uri, 'set ROADSEG_MQTT_USERNAME and ROADSEG_MQTT_PASSWORD in the environment instead');
  const topic = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!topic) throw usage(`the MQTT sink URI names no topic: ${uri}`, uri);
  // `#` starts the URL's fragment.
  if (/[+#]/.test(topic) || uri.includes('#')) throw usage(`an MQTT topic to publish to cannot hold the wildcards + or #: ${topic}`, uri);
  // A broker disconnects a client that publishes to an invalid topic: every reconnect would fail alike.
  if (topic.includes('\0')) throw usage('an MQTT topic cannot hold a NUL character (%00)', uri);
  if (Buffer.byteLength(topic) > 65535) throw usage(`the MQTT topic is ${Buffer.byteLength(topic)} bytes long; at most 65535`, uri);
  if (topic.startsWith('$')) throw usage(`MQTT topics starting with $ are the broker's own ($SYS, ...): ${topic}`, uri, 'publish to a topic without the leading $');
  let qos: 0 | 1 = 0;
  for (const [key, value] of url.searchParams) {
    if (key !== 'qos') throw usage(`unknown MQTT sink option "${key}"`, uri, 'the one option is qos=0|1');
    if (value !== '0' && value !== '1') throw usage(`qos must be 0 or 1, got "${value}"`, uri, 'qos=0: at most once (fastest); qos=1: at least once while connected');
    qos = value === '1' ? 1 : 0;
  }
  const port = url.port || (url.protocol === 'mqtts:' ? '8883' : '1883');
  return { url: `${url.protocol}//${url.hostname}:${port}`, topic, qos };
}

/** `a/b/signal` -> `a/b/status`; a one-level topic `signal` -> `signal/status`. */
export function statusTopicOf(topic: string): string {
  const cut = topic.lastIndexOf('/');
  return cut > 0 ? `${topic.slice(0, cut)}/status` : `${topic}/status`;
}

export class MqttSink extends QueuedSignalSink {
  readonly name: string;
  readonly target: MqttTarget;
  private client: MqttClient | undefined;
  private readonly statusTopic: string;
  private retryMs: number = mqttDefaults.reconnectMinMs;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(readonly uri: string, log: (line: string) => void = (line) => process.stderr.write(`roadseg: ${line}\n`)) {
    super(mqttDefaults, log);
    this.target = parseMqttUri(uri);
    this.name = `mqtt ${this.target.url}/${this.target.topic}`;
    this.statusTopic = statusTopicOf(this.target.topic);
  }

  protected send(payload: string): Promise<void> {
    return this.publish(this.target.topic, payload, { qos: this.target.qos });
  }

  /** Waits for the first connection attempt's outcome: a refused login fails the run before its first frame; an outage does not. */
  async open(_ctx: PipelineContext): Promise<void> {
    const offline = { topic: this.statusTopic, payload: 'offline', qos: 1 as const, retain: true };
    const client = mqtt.connect(this.target.url, {
      clientId: `roadseg-${randomBytes(6).toString('hex')}`,
      username: process.env.ROADSEG_MQTT_USERNAME,
      password: process.env.ROADSEG_MQTT_PASSWORD,
      will: offline,
      clean: true,
      keepalive: 10,
      connectTimeout: 5000,
      reconnectPeriod: 0,
      queueQoSZero: false,
    });
    this.client = client;
    client.on('connect', () => {
      this.retryMs = mqttDefaults.reconnectMinMs;
      // Before the queued signal, so a subscriber sees the source online first.
      void this.publish(this.statusTopic, 'online', { qos: 1, retain: true }).catch(() => {});
      this.queue.setReady(true);
    });
    const attempted = new Promise<void>((resolve) => {
      client.once('connect', () => resolve());
      client.once('close', () => resolve());
    });
    client.on('close', () => {
      this.queue.setReady(false);
      if (this.client !== client || this.retryTimer || this.refused) return;
      // mqtt.js retries at a fixed period; this backs off while the broker stays away. The stores
      // are kept, so QoS 1 messages not yet acknowledged are sent again after reconnecting.
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.client !== client) return;
        this.reconnects++;
        client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, mqttDefaults.reconnectMaxMs);
    });
    client.on('error', (e) => {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'number' && authRefusals.has(code)) {
        const user = process.env.ROADSEG_MQTT_USERNAME;
        this.refuse(new RoadsegError(`the MQTT broker refused the login (${user ? `user "${user}"` : 'no user set'}): ${messageOf(e)}`, { where: this.name, hint: credentialsHint, exitCode: ExitCode.output }));
        return;
      }
      this.warn(`mqtt ${this.target.url}: ${messageOf(e)} (retrying; signal messages are dropped meanwhile)`);
    });
    await attempted;
    if (this.refused) throw this.refused;
  }

  /** MQTT 3.1.1 acknowledges every publish it accepts: a failed one is a lost connection, which `warn` reports. */
  protected dropReason(): string | undefined {
    return undefined;
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const deadline = Date.now() + mqttDefaults.closeGraceMs;
    // Nothing more goes out after a refusal: no grace to wait for.
    await this.queue.drain(this.refused ? 0 : mqttDefaults.closeGraceMs);
    this.client = undefined;
    clearTimeout(this.retryTimer);
    if (client.connected) {
      const left = Math.max(100, deadline - Date.now());
      await within(this.publishOn(client, this.statusTopic, 'offline', { qos: 1, retain: true }), left);
    }
    // A clean disconnect: the broker discards the Last Will (the status is already `offline`).
    await within(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), 500);
    if (!client.disconnected) client.end(true);
  }

  private publish(topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    if (!this.client) return Promise.reject(new Error('closed'));
    return this.publishOn(this.client, topic, payload, opts);
  }

  private publishOn(client: MqttClient, topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    return new Promise((resolve, reject) => client.publish(topic, payload, opts, (e) => (e ? reject(e) : resolve())));
  }
}
