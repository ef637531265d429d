/**
 * `npm run soak`: a long run that shows whether memory stays flat. One pipeline loops a real clip
 * for `--minutes` (default 30) with every kind of output a deployment uses at once: the overlay
 * video file, the signal file, and the websocket server with reading clients (a viewer taking
 * images, class maps and the signal; one taking source images; one taking the signal only) and one
 * stalled client (subscribed to everything, never reading); and, when there is a display (run it
 * under `xvfb-run -a` on a server), the window sink too.
 *
 * Every 10 s it samples the process's memory (RSS, V8 heap, external/array buffers), the frames
 * done, and the output sizes, and prints a row. It passes (exit 0) when the largest RSS of the last
 * third of the run (the last 10 minutes of runs of 30 minutes or more) is at most 1.1 times the
 * largest RSS of the first third (first 10 minutes); 1 otherwise.
 *
 * The overlay video goes to one file in a temporary folder, as a real run of that length would
 * write it, and is deleted at the end. The video sink writes one file per run (its encoder holds
 * frames and the mp4 index until the file is finalised), so it is not rotated; instead the free
 * space is checked against the size the file is heading for, and the run stops early, failing,
 * if it would not fit. The video sink's own guard still stops a run that fills the disk anyway.
 *
 * With the server's default heartbeat the stalled client is disconnected after 10 to 20 s, as in
 * production; a new stalled client then takes its place, so stalled clients come and go all run.
 *
 * The clients run in this process, on the pipeline's event loop (as in bench/websocket.ts), so
 * their memory is in the figures; what they keep is bounded (counters only).
 *
 * Usage: npm run soak [-- --minutes N --clip PATH --json FILE --models-dir DIR]
 * Ctrl-C stops early and still prints the verdict on what was sampled.
 */
import { mkdtempSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket, type RawData } from 'ws';
import { packageRoot } from '../src/util/package.js';
import { createPipeline } from '../src/app/open.js';
import type { RunSummary } from '../src/pipeline/graph.js';
import { WebSocketSink } from '../src/sinks/websocket.js';
import { BinaryKind, type SubscribeMessage } from '../src/sinks/websocket-protocol.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    clip: { type: 'string', default: join(packageRoot, '..', 'shared', 'data', 'videos', 'udacity_vehicledet_pr2_test_small2.mp4') },
    json: { type: 'string' },
    'models-dir': { type: 'string' },
  },
});
const minutes = Number(args.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${args.minutes}`);
const clip = resolve(args.clip!);
const sampleIntervalS = 10;
/** The windows compared: thirds of the run, at most 10 minutes each. */
const windowS = Math.min(10 * 60, (minutes * 60) / 3);
const maxGrowth = 1.1;
/** Free space left on the disk after the projected video, so the machine stays usable. */
const diskReserveBytes = 512 * 2 ** 20;

interface SoakSample {
  /** Seconds since the run started. */
  t: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Memory of C++ objects bound to JS objects (OpenCV Mats, ...), array buffers included. */
  externalBytes: number;
  arrayBuffersBytes: number;
  framesOut: number;
  /** Frames per second over the interval before this sample. */
  fps: number;
  videoBytes: number;
  signalBytes: number;
  websocketClients: number;
  /** Taken after the run ended (shows what is released; left out of the verdict). */
  afterRun: boolean;
}

/** A client that reads everything it is sent and keeps counts only. */
interface Reader {
  name: string;
  ws: WebSocket;
  signals: number;
  images: number;
  classMaps: number;
  /** Signals missing from the sequence of frame numbers (there should be none). */
  missedSignals: number;
  lastFrame: number | undefined;
  /** Seconds into the run at which it was disconnected before the run was stopping (it should not be). */
  lostAt: number | undefined;
}

function openReader(url: string, name: string, subscription: Omit<SubscribeMessage, 'type'>, startedAt: number, stopping: () => boolean): Reader {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const reader: Reader = { name, ws, signals: 0, images: 0, classMaps: 0, missedSignals: 0, lastFrame: undefined, lostAt: undefined };
  ws.on('error', () => {});
  ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', ...subscription })));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const message = data as Buffer;
    if (isBinary) {
      if (message[0] === BinaryKind.frame) reader.images++;
      else reader.classMaps++;
      return;
    }
    const parsed = JSON.parse(message.toString('utf8')) as { type: string; frame?: number };
    if (parsed.type !== 'signal' || parsed.frame === undefined) return;
    reader.signals++;
    if (reader.lastFrame !== undefined) reader.missedSignals += parsed.frame - reader.lastFrame - 1;
    reader.lastFrame = parsed.frame;
  });
  ws.once('close', () => {
    if (!stopping()) reader.lostAt = (performance.now() - startedAt) / 1000;
  });
  return reader;
}

/**
 * Keeps one stalled client connected: it subscribes to everything, takes one image, then stops
 * reading until the server's heartbeat cuts it, and another takes its place. A client that does not
 * read does not see its connection close, so the server's list of clients tells when it is cut.
 * Resolves with the number cut once `stopped()` holds.
 */
async function keepOneStalled(url: string, server: WebSocketSink, stopped: () => boolean): Promise<number> {
  let cut = 0;
  const pollMs = 500;
  while (!stopped()) {
    const known = new Set(server.clientStats().map((c) => c.id));
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('error', () => {});
    let closed = false;
    ws.once('close', () => (closed = true));
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', frames: true, signal: true, classMap: true } satisfies SubscribeMessage)));
    const onMessage = (data: RawData, isBinary: boolean) => {
      if (!isBinary || (data as Buffer)[0] !== BinaryKind.frame) return;
      ws.off('message', onMessage);
      ws.pause();
    };
    ws.on('message', onMessage);
    let id: number | undefined;
    for (;;) {
      await new Promise((r) => setTimeout(r, pollMs));
      id ??= server.clientStats().find((c) => !known.has(c.id))?.id;
      const served = id !== undefined && server.clientStats().some((c) => c.id === id);
      if (closed || stopped() || (id !== undefined && !served)) break;
    }
    ws.terminate();
    if (!stopped()) cut++;
  }
  return cut;
}

const sizeOf = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const freeBytes = (dir: string) => {
  const fs = statfsSync(dir);
  return fs.bavail * fs.bsize;
};

const out = mkdtempSync(join(tmpdir(), 'roadseg-soak-'));
const videoPath = join(out, 'overlay.mp4');
const signalPath = join(out, 'signal.jsonl');
const withWindow = !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
const pipeline = await createPipeline({ source: clip, loop: true, sinks: [videoPath, `signal:${signalPath}`, 'ws://127.0.0.1:0', ...(withWindow ? ['window'] : [])], modelsDir: args['models-dir'] });
const server = pipeline.sinks.find((s): s is WebSocketSink => s instanceof WebSocketSink)!;
const { port } = await server.listening;
const url = `ws://127.0.0.1:${port}/`;

let stopping = false;
let stopReason = 'time up';
const stop = (reason: string) => {
  if (stopping) return;
  stopping = true;
  stopReason = reason;
  pipeline.stop();
};
process.once('SIGINT', () => stop('interrupted (Ctrl-C)'));

const startedAt = performance.now();
const readers = [
  openReader(url, 'viewer (overlay images, class maps, signal)', { frames: true, frameKind: 'overlay', classMap: true, signal: true }, startedAt, () => stopping),
  openReader(url, 'source images, signal', { frames: true, frameKind: 'source', signal: true }, startedAt, () => stopping),
  openReader(url, 'signal only', {}, startedAt, () => stopping),
];
// The readers first, so that the one new client keepOneStalled sees is its own.
await Promise.all(readers.map((r) => new Promise((opened) => r.ws.once('open', opened))));
const stalledCut = keepOneStalled(url, server, () => stopping);
const running = pipeline.run();
running.catch(() => stop('the run failed'));

const freeAtStart = freeBytes(out);
console.log(`soak: ${clip.split('/').pop()} looped for ${minutes} min, model ${pipeline.context.manifest.id} on ${pipeline.context.device}; sinks: ${pipeline.sinks.map((s) => s.name.split(' ')[0]).join(', ')}; outputs in ${out}`);
console.log(`memory sampled every ${sampleIntervalS} s; passes when max RSS of the last ${(windowS / 60).toFixed(1)} min <= ${maxGrowth} x max RSS of the first ${(windowS / 60).toFixed(1)} min`);
console.log('| t (s) | RSS MiB | heap MiB | external MiB | frames | fps | video MiB | ws clients |\n|---|---|---|---|---|---|---|---|');

const samples: SoakSample[] = [];
let diskProblem: string | undefined;
const sample = (afterRun = false) => {
  const t = (performance.now() - startedAt) / 1000;
  const m = process.memoryUsage();
  const framesOut = pipeline.stats.framesOut;
  const previous = samples.at(-1);
  const fps = previous && t > previous.t ? (framesOut - previous.framesOut) / (t - previous.t) : 0;
  const s: SoakSample = {
    t: Math.round(t * 10) / 10,
    rssBytes: m.rss,
    heapUsedBytes: m.heapUsed,
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
    framesOut,
    fps,
    videoBytes: sizeOf(videoPath),
    signalBytes: sizeOf(signalPath),
    websocketClients: server.clientCount,
    afterRun,
  };
  samples.push(s);
  console.log(`| ${s.t.toFixed(0)}${afterRun ? ' (after the run)' : ''} | ${mib(s.rssBytes)} | ${mib(s.heapUsedBytes)} | ${mib(s.externalBytes)} | ${s.framesOut} | ${s.fps.toFixed(2)} | ${mib(s.videoBytes)} | ${s.websocketClients} |`);
  // Outputs grow about linearly: stop early if the disk cannot hold what they are heading for.
  const written = s.videoBytes + s.signalBytes;
  if (!afterRun && t > 30 && written > 0) {
    const projected = (written / t) * minutes * 60;
    if (projected - written > freeBytes(out) - diskReserveBytes) {
      diskProblem = `the outputs are heading for ${mib(projected)} MiB, more than the free space of ${out} allows`;
      stop('disk');
    }
  }
};
sample();
const sampler = setInterval(() => sample(), sampleIntervalS * 1000);
const timer = setTimeout(() => stop('time up'), minutes * 60 * 1000);

let summary: RunSummary | undefined;
let runError: unknown;
try {
  summary = await running;
} catch (e) {
  runError = e;
}
clearInterval(sampler);
clearTimeout(timer);
stop('the run ended on its own');
sample(true);
const stalledClientsCut = await stalledCut;
for (const r of readers) r.ws.terminate();
const videoBytes = sizeOf(videoPath);
rmSync(out, { recursive: true, force: true });

// The verdict: the first and last windows of the run (thirds of what ran, at most windowS), as
// counts of samples so that timer drift cannot leave a sample out of one of them.
const during = samples.filter((s) => !s.afterRun);
const lastT = during.at(-1)!.t;
const comparedS = Math.min(windowS, lastT / 3);
const windowSamples = Math.floor(comparedS / sampleIntervalS) + 1;
const first = during.slice(0, windowSamples);
const last = during.slice(-windowSamples);
const maxOf = (xs: SoakSample[], key: 'rssBytes' | 'heapUsedBytes' | 'externalBytes') => Math.max(...xs.map((s) => s[key]));
const meanFps = (xs: SoakSample[]) => {
  const moving = xs.filter((s) => s.fps > 0);
  return moving.length ? moving.reduce((a, s) => a + s.fps, 0) / moving.length : 0;
};
const rssFirst = maxOf(first, 'rssBytes');
const rssLast = maxOf(last, 'rssBytes');
const ratio = rssLast / rssFirst;
const enoughSamples = first.length >= 2 && last.length >= 2;
const flat = enoughSamples && ratio <= maxGrowth;
const pass = flat && runError === undefined && diskProblem === undefined;
const websocket = server.stats();

console.log('');
console.log(`run: ${stopReason}${runError ? `: ${runError instanceof Error ? runError.message : String(runError)}` : ''}${diskProblem ? ` (${diskProblem})` : ''}`);
console.log(`frames: ${pipeline.stats.framesOut} in ${lastT.toFixed(0)} s (${(during.at(-1)!.framesOut / lastT).toFixed(2)} fps); overlay video ${mib(videoBytes)} MiB (${mib(freeAtStart)} MiB were free)`);
console.log('| window | samples | max RSS MiB | max heap MiB | max external MiB | mean fps |\n|---|---|---|---|---|---|');
for (const [name, xs] of [
  [`first ${(comparedS / 60).toFixed(1)} min`, first],
  [`last ${(comparedS / 60).toFixed(1)} min`, last],
] as const) {
  console.log(`| ${name} | ${xs.length} | ${mib(maxOf(xs, 'rssBytes'))} | ${mib(maxOf(xs, 'heapUsedBytes'))} | ${mib(maxOf(xs, 'externalBytes'))} | ${meanFps(xs).toFixed(2)} |`);
}
for (const r of readers) {
  console.log(`reader "${r.name}": ${r.signals} signals (${r.missedSignals} missed), ${r.images} images, ${r.classMaps} class maps${r.lostAt === undefined ? '' : `, DISCONNECTED at ${r.lostAt.toFixed(0)} s`}`);
}
console.log(`stalled clients cut by the heartbeat: ${stalledClientsCut}; websocket totals: ${JSON.stringify(websocket)}`);
console.log(
  `${pass ? 'PASS' : 'FAIL'}: max RSS last/first = ${mib(rssLast)} / ${mib(rssFirst)} MiB = ${ratio.toFixed(3)} (limit ${maxGrowth})` +
    (enoughSamples ? '' : '; too few samples to compare (run at least 1 minute)') +
    (runError === undefined && diskProblem === undefined ? '' : '; the run did not complete'),
);

if (args.json) {
  writeFileSync(
    args.json,
    JSON.stringify(
      {
        clip,
        minutes,
        model: pipeline.context.manifest.id,
        device: pipeline.context.device,
        stopReason,
        error: runError === undefined ? undefined : String(runError),
        windowS,
        rssFirstMaxBytes: rssFirst,
        rssLastMaxBytes: rssLast,
        ratio,
        pass,
        readers: readers.map(({ ws: _ws, ...counts }) => counts),
        stalledClientsCut,
        websocket,
        summary,
        samples,
      },
      null,
      2,
    ),
  );
}
process.exitCode = pass ? 0 : 1;
