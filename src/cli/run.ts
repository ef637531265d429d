import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { eachSourcePath, parseSinkUri, perSourcePath, redactUri, serveSink } from '../core/uri.js';
import type { Pipeline } from '../app/open.js';
import type { RunSummary } from '../pipeline/graph.js';
import { defaultInFlight, defaults, maxInFlight, parseConfig, readConfigFile, withDefault, type PipelineConfig } from '../app/config.js';
import { formatRoadSummary, type RoadSummary } from '../stages/road-stats.js';
import type { RoadReportSink } from '../sinks/report.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { writeOutputFile } from '../util/output.js';
import { interruptExitCode, onInterrupt, type Interrupt } from '../util/interrupts.js';
import { addEngineOptions, addSignalOptions, signalConfig, type SignalFlags } from './common.js';
import { videoQualities } from '../sinks/ffmpeg-encoder.js';
import { corridorArg, intArg, numberArg, stderrLog } from './args.js';
import { frameCountText, isApproximate, plannedFrames, startProgressBar, startStatusLines, type Progress } from './progress.js';

/** Flag name -> config key, for flags that map one to one. */
const direct = ['realtime', 'loop', 'start', 'duration', 'stride', 'fps', 'live', 'model', 'drivableModel', 'precision', 'tta', 'modelsDir', 'device', 'threads', 'inputHeight', 'opacity', 'hud', 'inFlight', 'maxBatch', 'batchTimeout', 'videoQuality'] as const;

type RunFlags = Partial<Record<(typeof direct)[number], unknown>> & SignalFlags & {
  config?: string;
  source?: string[];
  sink?: string[];
  out?: string[];
  signal?: string;
  window?: boolean;
  serve?: string;
  metricsPort?: string;
  token?: string;
  allowOrigin?: string[];
  corridor?: string;
  progress?: boolean;
  statusInterval: number;
  summary?: string;
  report?: string;
  blockedBelow: number;
};

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description('segment a video, camera or stream through the streaming graph and send the results to sinks')
    .argument('[source]', 'video file, image file/folder/glob, camera:N, /dev/videoN, rtsp://..., http://...')
    .argument('[sinks...]', 'sink URIs: out.mp4, signal.jsonl, signal:PATH, - (signal on stdout), window, ws://127.0.0.1:PORT (with --source, the first one too)')
    .option('-c, --config <file>', 'pipeline config JSON (flags given here override it)')
    .option('--source <uri>', 'another source in the same run (repeatable); sink paths with {source} get one output per source', collect)
    .option('--sink <uri>', 'a sink URI, as the positional ones (repeatable); never read as a source', collect)
    .option('--max-batch <n>', 'frames of different sources inferred in one call, at most (default: the number of sources, up to 8)', intArg('--max-batch'))
    .option('--batch-timeout <ms>', 'how long a frame waits for a batch to fill (default 20)', numberArg('--batch-timeout', 0, 10000))
    .option('-o, --out <file>', 'overlay video file (.mp4 .mkv .avi .mov); repeatable', collect)
    .option('-s, --signal <file>', 'drivable-area signal as JSON lines; - for stdout')
    .option('-w, --window', 'show the overlay in a window (q or Esc stops)')
    .option('--serve <[host:]port>', 'websocket server, browser viewer, /metrics and /healthz (host defaults to 127.0.0.1)')
    .option('--metrics-port <[host:]port>', '/metrics (Prometheus) and /healthz only, without the viewer (host defaults to 127.0.0.1)')
    .option('--token <token>', 'access token websocket clients, /metrics and /healthz require')
    .option('--allow-origin <origin>', 'browser origin allowed to connect; repeatable', collect)
    .option('--realtime', 'deliver a file at its native frame rate, as a camera would (frames may be dropped)')
    .option('--loop', 'start again at the end of a file or image folder')
    .option('--start <s>', 'seconds to skip at the start', numberArg('--start', 0, 1e9))
    .option('--duration <s>', 'seconds to process', numberArg('--duration', 0.001, 1e9))
    .option('--stride <n>', withDefault('keep every n-th frame', defaults.stride), intArg('--stride'))
    .option('--fps <n>', withDefault('frame rate of image folders', defaults.fps), numberArg('--fps', 0.001, 1000))
    .addOption(new Option('--live', 'keep only the freshest frame (the default for cameras and streams)'))
    .addOption(new Option('--no-live', 'process every frame, even of a live source'))
    .addOption(new Option('--video-quality <q>', 'video file encoding: fast (least CPU, larger files), balanced, small (smaller files, more CPU), sharp').choices(videoQualities))
    .option('--opacity <a>', withDefault('class colour opacity, 0..1', defaults.opacity), numberArg('--opacity', 0, 1))
    .option('--corridor <spec>', withDefault('ego corridor: centerX,topY,bottomY,topWidth,bottomWidth (fractions)', Object.values(defaults.corridor).join(',')))
    .option('--no-hud', 'no text line on the overlay')
    .option('--in-flight <n>', withDefault(`frames in the graph at once, at most (1 to ${maxInFlight})`, `${defaultInFlight.lossless} for files, ${defaultInFlight.freshest} for live sources`), intArg('--in-flight', 1, maxInFlight))
    .option('--no-progress', 'no progress bar and no status lines')
    .option('--status-interval <s>', withDefault('seconds between status lines when standard error is not a terminal; 0 for none', defaults.statusIntervalS), numberArg('--status-interval', 0, 86400), defaults.statusIntervalS)
    .option('--summary <file>', 'also write the end-of-run summary as JSON, also when the run fails; {source} in it: one per source')
    .option('--report <file.html>', 'write an HTML report of the run: facts, plots of the signal, blocked spans, a contact sheet; {source} in it: one per source')
    .option('--blocked-below <pct>', 'the ego corridor counts as blocked below this drivable %', numberArg('--blocked-below', 0, 100), defaults.blockedBelowPct);
  addSignalOptions(addEngineOptions(cmd)).action(async (source: string | undefined, sinkUris: string[], flags: RunFlags, command: Command) => {
    const config = buildConfig(source, sinkUris, flags, command);
    let progress: Progress | undefined;
    const log = (line: string) => (progress ? progress.log(line) : stderrLog(line));
    // Installed before the model loads: an interrupt then stops the run before its first frame.
    const interrupted = handleSignals(() => progress?.stop(false));
    // Loaded here, not at start-up: a usage error is then reported without loading OpenCV and onnxruntime.
    const { createPipeline } = await import('../app/open.js');
    const { RoadReportSink } = await import('../sinks/report.js');
    const road = new RoadReportSink(flags.report, flags.blockedBelow);
    const outputs = [...(flags.summary ? [{ path: flags.summary, what: '--summary file' }] : []), ...(flags.report ? [{ path: flags.report, what: '--report file' }] : [])];
    const inputs = flags.config ? [{ path: flags.config, what: 'config file' }] : [];
    const pipeline = await createPipeline(config, { log, sinks: [road], outputs, inputs }).catch((e: unknown) => {
      interrupted.dispose();
      throw e;
    });
    interrupted.attach(pipeline);
    const { stream, streams } = pipeline.context;
    const freshest = (i: number) => pipeline.policies[i]!.mode === 'freshest';
    streams.forEach((s, i) => {
      stderrLog(`${streams.length > 1 ? `source ${s.sourceId}: ` : ''}${s.kind} ${s.uri}: ${s.width}x${s.height} @ ${s.fps.toFixed(2)} fps${frameCountText(s)}; ${freshest(i) ? 'freshest-frame' : 'lossless'} policy`);
    });
    stderrLog(`sinks: ${pipeline.sinks.filter((s) => s !== road || flags.report).map((s) => s.name).join(', ') || 'none'}`);
    if (!config.sinks.length && !flags.report) stderrLog('no output: nothing is saved (only the summary is printed); add -o overlay.mp4, -s signal.jsonl, --report report.html, --serve 8080 or --window');
    const totals = streams.map((s, i) => plannedFrames(s, freshest(i)));
    const total = totals.every((t) => t !== undefined) ? totals.reduce((a, b) => a + b, 0) : undefined;
    progress = flags.progress !== false ? startProgressBar(pipeline, total, streams.some(isApproximate)) : undefined;
    const status = flags.progress !== false && !progress && flags.statusInterval > 0 ? startStatusLines(pipeline, flags.statusInterval, () => road.sourceState) : undefined;
    let failure: unknown;
    try {
      await pipeline.run();
      progress?.stop(!interrupted.signal);
    } catch (e) {
      // A failed source still leaves a summary (with its `failed` reason), as it leaves the report.
      failure = e;
    } finally {
      progress?.stop(false);
      progress = undefined;
      status?.stop();
      interrupted.dispose();
    }
    const result = pipeline.summary();
    // The road statistics per source: keyed by source id when the run has several.
    const roads = road.summaries();
    const roadSummary = streams.length > 1 ? roads : roads[stream.sourceId] ?? Object.values(roads)[0];
    printSummary(result, pipeline, roads, road, failure !== undefined);
    const ids = streams.map((s) => s.sourceId);
    if (flags.report) stderrLog(`report: ${eachSourcePath(flags.report, ids).join(', ')}`);
    if (flags.summary) {
      const sinks = Object.fromEntries(Object.entries(result.sinks).filter(([name]) => name !== road.name));
      const { manifest, device, precision } = pipeline.context;
      const failed = failure === undefined ? {} : { failed: messageOf(failure), exitCode: failure instanceof RoadsegError ? failure.exitCode : ExitCode.failure };
      const whole = { ...result, sinks, road: roadSummary, model: manifest.id, device, precision, source: stream, ...(streams.length > 1 && { streams }), ...failed };
      try {
        if (!flags.summary.includes('{source}') || streams.length === 1) {
          for (const path of eachSourcePath(flags.summary, ids)) writeSummary(path, whole);
        } else {
          // One per source: its own counters, `failed` reason and road; the sinks' and batches' are
          // run-wide. When the run failed (this source or another, a shared sink), each says so.
          const runFailed = failure === undefined ? {} : { runFailed: failed.failed, exitCode: failed.exitCode };
          for (const s of streams) writeSummary(perSourcePath(flags.summary, s.sourceId), { ...result.sources?.[s.sourceId], road: roads[s.sourceId], model: manifest.id, device, precision, source: s, ...runFailed });
        }
      } catch (e) {
        // The run's own failure is the one to report; the summary's is said beside it.
        if (failure === undefined) throw e;
        stderrLog(messageOf(e));
      }
    }
    if (failure !== undefined) throw failure;
    if (interrupted.signal) process.exitCode = interruptExitCode(interrupted.signal);
  });
}

function buildConfig(source: string | undefined, sinkUris: string[], flags: RunFlags, command: Command): PipelineConfig {
  const base: Record<string, unknown> = flags.config ? readConfigFile(flags.config) : {};
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  for (const key of direct) if (given(key)) base[key] = flags[key];
  Object.assign(base, signalConfig(flags));
  const moreSources = !!flags.source?.length || Array.isArray(base.sources);
  const positional = moreSources ? sortPositionals(source, sinkUris) : { source, sinks: sinkUris };
  if (positional.source) base.source = positional.source;
  if (flags.source) base.sources = [...((base.sources as unknown[] | undefined) ?? []), ...flags.source];
  const sinks = [...((base.sinks as string[] | undefined) ?? []), ...positional.sinks, ...(flags.sink ?? []), ...(flags.out ?? [])];
  if (flags.signal) sinks.push(flags.signal === '-' ? '-' : `signal:${flags.signal}`);
  if (flags.window) sinks.push('window');
  if (flags.serve) sinks.push(serveSink(flags.serve).uri);
  if (flags.metricsPort) sinks.push(serveSink(flags.metricsPort, 'metrics').uri);
  base.sinks = sinks;
  if (flags.corridor) base.corridor = corridorArg(flags.corridor);
  const serve = { ...((base.serve as object | undefined) ?? {}) } as Record<string, unknown>;
  if (flags.token) serve.token = flags.token;
  if (flags.allowOrigin) serve.origins = flags.allowOrigin;
  base.serve = serve;
  return parseConfig(base, flags.config ?? 'command line');
}

/**
 * With --source (or a config's "sources"), the first positional argument may be meant as a sink
 * (`roadseg run --source a.mp4 out.mp4`). Written before every --source (`roadseg run a.mp4
 * --source b.mp4`) it is the source, as `run SOURCE [SINKS...]` reads; after one, one that names a
 * sink and no existing file is a sink, and one that could be either (an existing out.mp4) is
 * refused rather than guessed. Said either way.
 */
function sortPositionals(first: string | undefined, rest: string[]): { source: string | undefined; sinks: string[] } {
  if (first === undefined) return { source: undefined, sinks: rest };
  const args = process.argv.slice(2);
  const sourceFlag = args.findIndex((a) => a === '--source' || a.startsWith('--source='));
  const at = args.indexOf(first);
  if (sourceFlag >= 0 && at >= 0 && at < sourceFlag) return { source: first, sinks: rest };
  let sink = true;
  try {
    parseSinkUri(first);
  } catch {
    sink = false;
  }
  if (!sink) {
    stderrLog(`"${first}": taken as a source (the first argument; --source gives the others)`);
    return { source: first, sinks: rest };
  }
  if (existsSync(first)) {
    throw new RoadsegError(`"${first}" could be a source (the file exists) or a sink: with --source, the first argument is ambiguous`, {
      where: 'the command line',
      hint: `give it as --source ${first} to read it, or as --sink ${first} (or -o) to write it`,
      exitCode: ExitCode.usage,
    });
  }
  stderrLog(`"${first}": taken as a sink (no such file to read, and --source gives the sources)`);
  return { source: undefined, sinks: [first, ...rest] };
}

/** The summary file was checked before the run; a failure now (the disk filled up) is still said clearly. */
function writeSummary(path: string, summary: object): void {
  // The source's URI may hold credentials (rtsp://user:password@camera): masked like every URI printed.
  writeOutputFile(path, redactUri(JSON.stringify(summary, null, 2)) + '\n', '--summary file', 'the run itself completed and its outputs are finalised');
}

/**
 * First SIGINT/SIGTERM: graceful stop (sinks finalised). Second: immediate stop, still finalising.
 * A signal while the model loads stops the run as soon as it exists, before its first frame.
 * `before` runs first (it leaves the progress bar on its own line). After `dispose` (the run has
 * ended, its summary is being written) a signal is only noted: src/util/interrupts.ts.
 */
function handleSignals(before: () => void) {
  let pipeline: Pipeline | undefined;
  const state: { signal?: Interrupt; dispose: () => void; attach: (p: Pipeline) => void } = {
    dispose: () => {},
    attach: (p) => {
      pipeline = p;
      if (state.signal) p.stop();
    },
  };
  state.dispose = onInterrupt((sig) => {
    before();
    if (!state.signal) {
      state.signal = sig;
      stderrLog(pipeline ? `${sig}: stopping after the frames in flight (press Ctrl-C again to stop at once)` : `${sig}: stopping once the model has loaded, before the first frame`);
      pipeline?.stop();
    } else {
      stderrLog(`${sig} again: stopping now`);
      pipeline?.abort();
    }
  });
  return state;
}

function printSummary(s: RunSummary, p: Pipeline, roads: Record<string, RoadSummary>, roadSink: RoadReportSink, failed: boolean): void {
  const several = Object.keys(roads).length > 1;
  const drops = Object.entries(s.drops).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
  const lines = [
    `${failed ? 'failed after' : 'done'}: ${s.framesIn} frames in, ${s.framesOut} out in ${s.elapsedS.toFixed(1)} s (${s.fps.toFixed(2)} fps) on ${p.context.device}, model ${p.context.manifest.id} (${p.context.precision})`,
    `drops: ${drops}`,
    ...Object.entries(s.sources ?? {}).map(
      ([id, src]) => `source ${id}: ${src.framesIn} in, ${src.framesOut} out (${src.fps.toFixed(2)} fps)${Object.keys(src.drops).length ? `, drops: ${Object.entries(src.drops).map(([k, v]) => `${v} ${k}`).join(', ')}` : ''}${src.failed ? `; failed: ${src.failed}` : ''}`,
    ),
    ...(s.batches ? [`batches: ${s.batches.calls} inference calls, sizes ${Object.entries(s.batches.sizes).map(([k, v]) => `${k}x${v}`).join(' ')}, wait p50 ${s.batches.waitMs.p50} ms, p95 ${s.batches.waitMs.p95} ms`] : []),
    ...Object.entries(roads).flatMap(([id, r]) => formatRoadSummary(r).map((l) => (several ? l.replace(/^road:/, `road ${id}:`) : l))),
    ...Object.entries(s.sinks)
      .filter(([name]) => name !== roadSink.name)
      .map(([name, c]) => `sink ${name}: ${Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ')}`),
    `latency ms      p50     p95     max`,
    ...Object.entries(s.latencyMs)
      .filter(([, v]) => v.n > 0)
      .map(([k, v]) => `  ${k.padEnd(11)} ${v.p50.toFixed(1).padStart(7)} ${v.p95.toFixed(1).padStart(7)} ${v.max.toFixed(1).padStart(7)}`),
  ];
  process.stderr.write(lines.join('\n') + '\n');
}
