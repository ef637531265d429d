import { Command, Option } from 'commander';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { serveSink } from '../core/uri.js';
import type { Pipeline } from '../app/open.js';
import type { RunSummary } from '../pipeline/graph.js';
import { maxInFlight, parseConfig, readConfigFile, type PipelineConfig } from '../app/config.js';
import { parseCorridor } from '../stages/drivable.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { addEngineOptions, addSignalOptions, signalConfig, type SignalFlags } from './common.js';
import { videoQualities } from '../sinks/ffmpeg-encoder.js';
import { intArg, numberArg, stderrLog } from './args.js';
import { startProgress } from './progress.js';

/** Flag name -> config key, for flags that map one to one. */
const direct = ['realtime', 'loop', 'start', 'duration', 'stride', 'fps', 'live', 'model', 'drivableModel', 'precision', 'tta', 'modelsDir', 'device', 'threads', 'inputHeight', 'opacity', 'hud', 'inFlight', 'maxBatch', 'batchTimeout', 'videoQuality'] as const;

type RunFlags = Partial<Record<(typeof direct)[number], unknown>> & SignalFlags & {
  config?: string;
  source?: string[];
  out?: string[];
  signal?: string;
  window?: boolean;
  serve?: string;
  token?: string;
  allowOrigin?: string[];
  corridor?: string;
  progress?: boolean;
  summary?: string;
};

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description('segment a video, camera or stream through the streaming graph and send the results to sinks')
    .argument('[source]', 'video file, image file/folder/glob, camera:N, /dev/videoN, rtsp://..., http://...')
    .argument('[sinks...]', 'sink URIs: out.mp4, signal.jsonl, signal:PATH, - (signal on stdout), window, ws://127.0.0.1:PORT')
    .option('-c, --config <file>', 'pipeline config JSON (flags given here override it)')
    .option('--source <uri>', 'another source in the same run (repeatable); sink paths with {source} get one output per source', collect)
    .option('--max-batch <n>', 'frames of different sources inferred in one call, at most (default: the number of sources, up to 8)', intArg('--max-batch'))
    .option('--batch-timeout <ms>', 'how long a frame waits for a batch to fill (default 20)', numberArg('--batch-timeout', 0, 10000))
    .option('-o, --out <file>', 'overlay video file (.mp4 .mkv .avi .mov); repeatable', collect)
    .option('-s, --signal <file>', 'drivable-area signal as JSON lines; - for stdout')
    .option('-w, --window', 'show the overlay in a window (q or Esc stops)')
    .option('--serve <[host:]port>', 'websocket server and browser viewer (host defaults to 127.0.0.1)')
    .option('--token <token>', 'access token websocket clients must present')
    .option('--allow-origin <origin>', 'browser origin allowed to connect; repeatable', collect)
    .option('--realtime', 'deliver a file at its native frame rate, as a camera would (frames may be dropped)')
    .option('--loop', 'start again at the end of a file or image folder')
    .option('--start <s>', 'seconds to skip at the start', numberArg('--start', 0, 1e9))
    .option('--duration <s>', 'seconds to process', numberArg('--duration', 0.001, 1e9))
    .option('--stride <n>', 'keep every n-th frame', intArg('--stride'))
    .option('--fps <n>', 'frame rate of image folders', numberArg('--fps', 0.001, 1000))
    .addOption(new Option('--live', 'keep only the freshest frame (the default for cameras and streams)'))
    .addOption(new Option('--no-live', 'process every frame, even of a live source'))
    .addOption(new Option('--video-quality <q>', 'video file encoding: fast (least CPU, larger files), balanced, small (smaller files, more CPU), sharp').choices(videoQualities))
    .option('--opacity <a>', 'class colour opacity, 0..1', numberArg('--opacity', 0, 1))
    .option('--corridor <spec>', 'ego corridor: centerX,topY,bottomY,topWidth,bottomWidth (fractions)')
    .option('--no-hud', 'no text line on the overlay')
    .option('--in-flight <n>', `frames in the graph at once, at most (1 to ${maxInFlight}; default: 3 for files, 1 for live sources)`, intArg('--in-flight', 1, maxInFlight))
    .option('--no-progress', 'no progress bar')
    .option('--summary <file>', 'also write the end-of-run summary as JSON');
  addSignalOptions(addEngineOptions(cmd)).action(async (source: string | undefined, sinkUris: string[], flags: RunFlags, command: Command) => {
    const config = buildConfig(source, sinkUris, flags, command);
    // Installed before the model loads: an interrupt then stops the run before its first frame.
    const interrupted = handleSignals();
    // Loaded here, not at start-up: a usage error is then reported without loading OpenCV and onnxruntime.
    const { createPipeline } = await import('../app/open.js');
    const pipeline = await createPipeline(config, { log: stderrLog, outputs: flags.summary ? [{ path: flags.summary, what: '--summary file' }] : [] }).catch((e: unknown) => {
      interrupted.dispose();
      throw e;
    });
    interrupted.attach(pipeline);
    const { stream, streams } = pipeline.context;
    for (const s of streams) {
      stderrLog(`${streams.length > 1 ? `source ${s.sourceId}: ` : ''}${s.kind} ${s.uri}: ${s.width}x${s.height} @ ${s.fps.toFixed(2)} fps${s.frameCount ? `, ${s.frameCount} frames` : ''}; ${(config.live ?? s.live) ? 'freshest-frame' : 'lossless'} policy`);
    }
    stderrLog(`sinks: ${pipeline.sinks.map((s) => s.name).join(', ') || 'none'}`);
    const progress = flags.progress !== false ? startProgress(pipeline) : undefined;
    let summary: RunSummary;
    try {
      summary = await pipeline.run();
    } finally {
      progress?.stop();
      interrupted.dispose();
    }
    printSummary(summary, pipeline);
    if (flags.summary) writeSummary(flags.summary, { ...summary, model: pipeline.context.manifest.id, device: pipeline.context.device, precision: pipeline.context.precision, source: stream, ...(streams.length > 1 && { streams }) });
    if (interrupted.signal) process.exitCode = interrupted.signal === 'SIGTERM' ? 143 : ExitCode.interrupted;
  });
}

function buildConfig(source: string | undefined, sinkUris: string[], flags: RunFlags, command: Command): PipelineConfig {
  const base: Record<string, unknown> = flags.config ? readConfigFile(flags.config) : {};
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  for (const key of direct) if (given(key)) base[key] = flags[key];
  Object.assign(base, signalConfig(flags));
  if (source) base.source = source;
  if (flags.source) base.sources = [...((base.sources as unknown[] | undefined) ?? []), ...flags.source];
  const sinks = [...((base.sinks as string[] | undefined) ?? []), ...sinkUris, ...(flags.out ?? [])];
  if (flags.signal) sinks.push(flags.signal === '-' ? '-' : `signal:${flags.signal}`);
  if (flags.window) sinks.push('window');
  if (flags.serve) sinks.push(serveSink(flags.serve).uri);
  base.sinks = sinks;
  if (flags.corridor) {
    try {
      base.corridor = parseCorridor(flags.corridor);
    } catch (e) {
      throw new RoadsegError(messageOf(e), { exitCode: ExitCode.usage });
    }
  }
  const serve = { ...((base.serve as object | undefined) ?? {}) } as Record<string, unknown>;
  if (flags.token) serve.token = flags.token;
  if (flags.allowOrigin) serve.origins = flags.allowOrigin;
  base.serve = serve;
  return parseConfig(base, flags.config ?? 'command line');
}

/** The summary file was checked before the run; a failure now (the disk filled up) is still said clearly. */
function writeSummary(path: string, summary: object): void {
  try {
    writeFileSync(path, JSON.stringify(summary, null, 2) + '\n');
  } catch (e) {
    throw new RoadsegError(`cannot write the --summary file ${path}: ${messageOf(e)}`, { where: resolve(path), hint: 'the run itself completed and its outputs are finalised', exitCode: ExitCode.output });
  }
}

/**
 * First SIGINT/SIGTERM: graceful stop (sinks finalised). Second: immediate stop, still finalising.
 * A signal while the model loads stops the run as soon as it exists, before its first frame.
 */
function handleSignals() {
  let pipeline: Pipeline | undefined;
  const state: { signal?: NodeJS.Signals; dispose: () => void; attach: (p: Pipeline) => void } = {
    dispose: () => {},
    attach: (p) => {
      pipeline = p;
      if (state.signal) p.stop();
    },
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (!state.signal) {
      state.signal = sig;
      stderrLog(pipeline ? `${sig}: stopping after the frames in flight (press Ctrl-C again to stop at once)` : `${sig}: stopping once the model has loaded, before the first frame`);
      pipeline?.stop();
    } else {
      stderrLog(`${sig} again: stopping now`);
      pipeline?.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  state.dispose = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return state;
}

function printSummary(s: RunSummary, p: Pipeline): void {
  const drops = Object.entries(s.drops).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
  const lines = [
    `done: ${s.framesIn} frames in, ${s.framesOut} out in ${s.elapsedS.toFixed(1)} s (${s.fps.toFixed(2)} fps) on ${p.context.device}, model ${p.context.manifest.id} (${p.context.precision})`,
    `drops: ${drops}`,
    ...Object.entries(s.sources ?? {}).map(
      ([id, src]) => `source ${id}: ${src.framesIn} in, ${src.framesOut} out (${src.fps.toFixed(2)} fps)${Object.keys(src.drops).length ? `, drops: ${Object.entries(src.drops).map(([k, v]) => `${v} ${k}`).join(', ')}` : ''}${src.failed ? `; failed: ${src.failed}` : ''}`,
    ),
    ...(s.batches ? [`batches: ${s.batches.calls} inference calls, sizes ${Object.entries(s.batches.sizes).map(([k, v]) => `${k}x${v}`).join(' ')}, wait p50 ${s.batches.waitMs.p50} ms, p95 ${s.batches.waitMs.p95} ms`] : []),
    ...Object.entries(s.sinks).map(([name, c]) => `sink ${name}: ${Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ')}`),
    `latency ms      p50     p95     max`,
    ...Object.entries(s.latencyMs)
      .filter(([, v]) => v.n > 0)
      .map(([k, v]) => `  ${k.padEnd(11)} ${v.p50.toFixed(1).padStart(7)} ${v.p95.toFixed(1).padStart(7)} ${v.max.toFixed(1).padStart(7)}`),
  ];
  process.stderr.write(lines.join('\n') + '\n');
}
