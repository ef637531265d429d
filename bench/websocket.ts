/**
 * Cost of serving websocket clients: pipeline fps with 20 reading clients (images, signal and class
 * map each) and one stalled client (subscribed to everything, never reading), over pipeline fps
 * with the server up and no clients. One pipeline on a looping clip; `frames` frames per condition,
 * in short phases alternated none-clients-clients-none-..., so that drift in machine load hits both
 * alike. The clients run in this process, on the pipeline's event loop: a pessimistic setting
 * (browsers would be elsewhere).
 */
import { WebSocket } from 'ws';
import { createPipeline } from '../src/app/open.js';
import { WebSocketSink } from '../src/sinks/websocket.js';

export interface WebsocketBenchResult {
  fpsNoClients: number;
  fpsWithClients: number;
  /** fpsWithClients / fpsNoClients; the goal is >= 0.9. */
  ratio: number;
  /**
   * CPU time of this process per frame (inference threads and the clients included): the cost of
   * serving, as other processes' load on a shared machine skews fps far more than it skews this.
   */
  cpuMsPerFrameNoClients: number;
  cpuMsPerFrameWithClients: number;
}

const readingClients = 20;
const warmupFrames = 3;

function openClient(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('message', () => {
      // The first message is hello: subscribe to everything.
      ws.send(JSON.stringify({ type: 'subscribe', frames: true, signal: true, classMap: true }));
      resolve(ws);
    });
  });
}

/** Resolves once the client has received an image (a binary message of kind 1). */
function firstImage(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer, isBinary: boolean) => {
      if (isBinary && data[0] === 1) {
        ws.off('message', onMessage);
        resolve();
      }
    };
    ws.on('message', onMessage);
  });
}

export async function benchWebsocket(opts: { clip: string; frames: number; modelsDir?: string }): Promise<WebsocketBenchResult> {
  const pipeline = await createPipeline({ source: opts.clip, loop: true, sinks: ['ws://127.0.0.1:0'], modelsDir: opts.modelsDir });
  const sink = pipeline.sinks.find((s): s is WebSocketSink => s instanceof WebSocketSink)!;
  const { port } = await sink.listening;
  const url = `ws://127.0.0.1:${port}/`;

  let waiter: { remaining: number; resolve: (atMs: number) => void } | undefined;
  pipeline.results.subscribe(() => {
    const now = performance.now();
    if (waiter && --waiter.remaining === 0) {
      const w = waiter;
      waiter = undefined;
      w.resolve(now);
    }
  });
  /** Time at which `n` more frames have left the graph. */
  const afterFrames = (n: number) => new Promise<number>((resolve) => (waiter = { remaining: n, resolve }));
  const running = pipeline.run();
  running.catch(() => {});

  const rounds = Math.max(2, Math.min(6, Math.floor(opts.frames / 5)));
  const phaseFrames = Math.max(2, Math.ceil(opts.frames / rounds));
  const totals = { none: { frames: 0, ms: 0, cpuMs: 0 }, clients: { frames: 0, ms: 0, cpuMs: 0 } };
  const measure = async (phase: keyof typeof totals) => {
    const t0 = await afterFrames(1);
    const cpu0 = process.cpuUsage();
    const t1 = await afterFrames(phaseFrames);
    const cpu = process.cpuUsage(cpu0);
    totals[phase].frames += phaseFrames;
    totals[phase].ms += t1 - t0;
    totals[phase].cpuMs += (cpu.user + cpu.system) / 1000;
  };
  const withClients = async () => {
    const readers = await Promise.all(Array.from({ length: readingClients }, () => openClient(url)));
    const stalled = await openClient(url);
    await Promise.all([...readers, stalled].map(firstImage));
    stalled.pause();
    await measure('clients');
    for (const ws of [...readers, stalled]) ws.terminate();
  };

  try {
    await afterFrames(warmupFrames);
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        await measure('none');
        await withClients();
      } else {
        await withClients();
        await measure('none');
      }
    }
  } finally {
    pipeline.stop();
    await running;
  }
  const fpsNoClients = totals.none.frames / (totals.none.ms / 1000);
  const fpsWithClients = totals.clients.frames / (totals.clients.ms / 1000);
  return {
    fpsNoClients,
    fpsWithClients,
    ratio: fpsWithClients / fpsNoClients,
    cpuMsPerFrameNoClients: totals.none.cpuMs / totals.none.frames,
    cpuMsPerFrameWithClients: totals.clients.cpuMs / totals.clients.frames,
  };
}
