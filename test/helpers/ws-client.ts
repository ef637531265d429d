/** A websocket test client that records what the roadseg server sends, and a served pipeline. */
import { join } from 'node:path';
import { WebSocket, type RawData } from 'ws';
import { createPipeline, type Pipeline } from '../../src/app/open.js';
import type { PipelineConfigInput } from '../../src/app/config.js';
import type { SignalMessage } from '../../src/core/signal.js';
import { WebSocketSink } from '../../src/sinks/websocket.js';
import {
  BinaryKind,
  unpackBinary,
  type ClassMapHeader,
  type ErrorMessage,
  type FrameHeader,
  type HelloMessage,
  type StatsMessage,
  type SubscribeMessage,
} from '../../src/sinks/websocket-protocol.js';
import { modelsDir, videos } from './paths.js';
import { assertValidSignal } from './signal-schema.js';

export const shortClip = join(videos, 'udacity_vehicledet_test_video.mp4');

export interface TestClient {
  ws: WebSocket;
  hello: Promise<HelloMessage>;
  closed: Promise<{ code: number; reason: string }>;
  /** Signal messages as sent (the text), in arrival order. */
  signalTexts: string[];
  frames: FrameHeader[];
  /** The newest image's JPEG bytes (older ones are not kept). */
  lastJpeg: Buffer | undefined;
  classMaps: ClassMapHeader[];
  lastClassMap: Buffer | undefined;
  errors: ErrorMessage[];
  stats: StatsMessage | undefined;
  subscribe(message: Omit<SubscribeMessage, 'type'>): void;
  /**
   * Resolves once the server has handled every message this client sent before it: a message
   * that is not JSON is answered with an error, and a connection's messages are handled in order.
   */
  settled(): Promise<void>;
  signals(): SignalMessage[];
}

export function connectClient(url: string, opts: { headers?: Record<string, string> } = {}): TestClient {
  const ws = new WebSocket(url, { headers: opts.headers, perMessageDeflate: false });
  let gotHello: (h: HelloMessage) => void = () => {};
  const hello = new Promise<HelloMessage>((resolve, reject) => {
    gotHello = resolve;
    ws.once('error', reject);
    ws.once('close', () => reject(new Error('closed before hello')));
  });
  hello.catch(() => {});
  const client: TestClient = {
    ws,
    hello,
    closed: new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    signalTexts: [],
    frames: [],
    lastJpeg: undefined,
    classMaps: [],
    lastClassMap: undefined,
    errors: [],
    stats: undefined,
    subscribe: (message) => ws.send(JSON.stringify({ type: 'subscribe', ...message })),
    settled: async () => {
      const answered = client.errors.length;
      ws.send('round trip');
      await until('the server to answer a round trip', () => client.errors.length > answered);
      client.errors.splice(answered, 1);
    },
    signals: () => client.signalTexts.map((t) => JSON.parse(t) as SignalMessage),
  };
  ws.on('error', () => {});
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = data as Buffer;
    if (isBinary) {
      const m = unpackBinary(buf);
      if (m.kind === BinaryKind.frame) {
        client.frames.push(m.header);
        client.lastJpeg = m.payload;
      } else {
        client.classMaps.push(m.header);
        client.lastClassMap = m.payload;
      }
      return;
    }
    const text = buf.toString('utf8');
    const message = JSON.parse(text) as { type: string };
    if (message.type === 'hello') gotHello(message as HelloMessage);
    else if (message.type === 'signal') {
      assertValidSignal(message, `from ${url}`);
      client.signalTexts.push(text);
    }
    else if (message.type === 'error') client.errors.push(message as ErrorMessage);
    else if (message.type === 'stats') client.stats = message as StatsMessage;
  });
  return client;
}

/** The HTTP status a handshake gets: 101 when it opens (it is then closed), else the refusal's. */
export function handshakeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', reject);
  });
}

export const until = async (what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> => {
  const t0 = Date.now();
  while (!condition()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

export interface Served {
  handle: Pipeline;
  sink: WebSocketSink;
  port: number;
  url: string;
  running: ReturnType<Pipeline['run']>;
}

/**
 * A pipeline serving on a free loopback port, already running. A small model input keeps it fast
 * (these tests are about delivery, not accuracy); `loop` keeps it going until stop().
 */
export async function servePipeline(config: Partial<PipelineConfigInput> = {}): Promise<Served> {
  const handle = await createPipeline({ source: shortClip, loop: true, inputHeight: 129, modelsDir, sinks: ['ws://127.0.0.1:0'], ...config });
  const sink = handle.sinks.find((s): s is WebSocketSink => s instanceof WebSocketSink)!;
  const { port } = await sink.listening;
  const running = handle.run();
  running.catch(() => {});
  return { handle, sink, port, url: `ws://127.0.0.1:${port}/`, running };
}
