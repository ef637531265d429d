/**
 * The factory at the top: opens the parts a config names (source URIs -> sources, sink URIs ->
 * sinks, model id -> engine and segmenter) and hands them to the graph. Everything is checked and
 * opened before anything runs, so bad input fails before the first frame, and bad outputs before
 * the model loads.
 */
import { extname } from 'node:path';
import type { Sink } from '../core/sink.js';
import type { FrameSource } from '../core/source.js';
import { modelInputSize } from '../core/input-size.js';
import { eachSourcePath, fileSafe, parseSinkUri, parseSourceUri, perSourcePath, type SinkUri, type SourceUri } from '../core/uri.js';
import { SegmentationEngine } from '../engine/engine.js';
import { getManifest, isManifestPath } from '../engine/registry.js';
import { createGraph, type PipelineHandle, type SinkBinding, type SourceBinding } from '../pipeline/graph.js';
import { Segmenter, type SignalOptions } from '../pipeline/segmenter.js';
import { sourcePolicy } from '../pipeline/policy.js';
import { hoodLine, hoodPolygon } from '../stages/hood.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { defaultInFlight, parseConfig, sourceEntries, type PipelineConfig, type PipelineConfigInput } from './config.js';
import { claimOutputs, type InputFile, type OutputClaim, type OutputFile } from './outputs.js';
import { openSink } from './sinks.js';
import { openSource } from './sources.js';

export interface PipelineOptions {
  /** An engine to use instead of creating one from the config (it is then not disposed). */
  engine?: SegmentationEngine;
  /** A source to use instead of opening the config's first source (benchmarks: frames held in memory). */
  source?: FrameSource;
  /** Other files the caller writes for this run (the run summary), checked and locked with the sinks' files; `{source}` in a path names one file per source, as in sink paths. */
  outputs?: readonly OutputFile[];
  /** Other files the run reads (its config file): no output may replace them. */
  inputs?: readonly InputFile[];
  log?: (line: string) => void;
  /** Sinks the caller made (in-process consumers, e.g. the run's road statistics), after those the config names. */
  sinks?: readonly Sink[];
}

export interface Pipeline extends PipelineHandle {
  readonly config: PipelineConfig;
}

/** Batches up to this many frames by default, however many sources there are. */
const defaultMaxBatch = 8;

export async function createPipeline(input: PipelineConfigInput | PipelineConfig, opts: PipelineOptions = {}): Promise<Pipeline> {
  const config = parseConfig(input);
  const log = opts.log ?? (() => {});
  const sources: SourceBinding[] = [];
  const sinks: SinkBinding[] = [];
  let engine: SegmentationEngine | undefined;
  let outputs: OutputClaim | undefined;
  // `stop` of the handle, for sinks that end the run (a window's q / Esc); set once it exists.
  let stop = () => {};
  // A reader of stdout that went away ends the run only when stdout was its one output
  // (the caller's own sinks, such as the CLI's run statistics, are not outputs of the run).
  const stdoutClosed = (lines: number) => {
    const outputs = sinks.length - (opts.sinks?.length ?? 0);
    log(`standard output was closed by its reader after ${lines} signal lines; the signal on stdout ends there${outputs > 1 ? ', the other sinks carry on' : ', stopping'}`);
    if (outputs === 1) stop();
  };
  const deps = { stop: () => stop(), stdoutClosed, serve: config.serve, videoQuality: config.videoQuality, opacity: config.opacity };
  try {
    const taken = new Set<string>();
    const entries = sourceEntries(config);
    // Each URI is parsed once, here: the opener and the output check read the same descriptor.
    const sourceUris: SourceUri[] = [];
    for (const [i, entry] of entries.entries()) {
      const uri = parseSourceUri(entry.uri);
      sourceUris.push(uri);
      const source = (i === 0 && opts.source) || openSource(uri, { ...entry, log });
      const id = uniqueId(entry.id ?? source.info.sourceId, taken);
      const policy = sourcePolicy(source.info, entry.live, (mode) => config.inFlight ?? defaultInFlight[mode]);
      sources.push({ source: id === source.info.sourceId ? source : renamed(source, id), policy });
    }
    const manifest = opts.engine?.manifest ?? getManifest(config.model);
    // Every --tta scale too, so that the message names the user's frame before the model loads.
    for (const { source } of sources) {
      for (const scale of [1, ...(config.tta ?? [])]) modelInputSize(manifest, source.info, config.inputHeight, scale, source.info.uri);
    }
    const ids = sources.map(({ source }) => source.info.sourceId);
    refuseCollisions(config.sinks, ids);
    const planned = plannedSinks(config.sinks, ids);
    const extra = (opts.outputs ?? []).flatMap((f) => eachSourcePath(f.path, ids).map((path) => ({ ...f, path })));
    // A model given as a manifest file is read too.
    const manifests = [config.model, config.drivableModel].filter((m): m is string => m !== undefined && isManifestPath(m)).map((path) => ({ path, what: 'model manifest' }));
    outputs = claimOutputs(sourceUris, planned.map((p) => p.uri), extra, [...(opts.inputs ?? []), ...manifests]);
    for (const { template, uri, sourceId } of planned) {
      const sink = openSink(uri, deps);
      if (sourceId !== undefined) {
        sinks.push({ sink, sourceId });
        continue;
      }
      sinks.push({ sink });
      if (sink.oneSource && sources.length > 1) {
        throw new RoadsegError(`${sink.name} takes the frames of one source, and this run has ${sources.length}`, {
          where: template,
          hint: 'put {source} in its path for one output per source, e.g. out/{source}.mp4',
          exitCode: ExitCode.usage,
        });
      }
    }
    for (const sink of opts.sinks ?? []) sinks.push({ sink });
    engine = opts.engine ?? (await SegmentationEngine.create({ ...config, log }));
  } catch (e) {
    for (const { source } of sources) source.close();
    for (const { sink } of sinks) await Promise.resolve(sink.close()).catch(() => {});
    outputs?.release();
    throw e;
  }
  const own = opts.engine ? undefined : engine;
  const claim = outputs!;
  const segmenter = new Segmenter(engine, {
    overlay: { opacity: config.opacity },
    hud: config.hud,
    analysis: { ...(config.corridor && { corridor: config.corridor }), ...(config.drivableClasses && { drivableClasses: config.drivableClasses }), freeSpaceColumns: config.freeSpaceColumns },
    signal: signalOptions(config, sources.filter(({ source }) => source.info.kind === 'images').map(({ source }) => source.info.sourceId)),
    log,
  });
  let maxBatch = config.maxBatch ?? Math.min(sources.length, defaultMaxBatch);
  if (maxBatch > 1 && !engine.batchable) {
    log(`batching: model "${engine.manifest.id}" has a fixed batch size of 1; inferring one frame per call`);
    maxBatch = 1;
  }
  const handle = createGraph({
    sources,
    processor: segmenter,
    sinks,
    inFlight: config.inFlight ?? defaultInFlight.lossless,
    maxBatch,
    batchTimeoutMs: config.batchTimeout,
    log,
    dispose: async () => {
      await own?.dispose();
      claim.release();
    },
  });
  stop = () => handle.stop();
  return Object.assign(handle, { config });
}

/** A sink the run opens: its URI parsed (once), and for a `{source}` template the one source it is for. */
interface PlannedSink {
  template: string;
  uri: SinkUri;
  sourceId?: string;
}

/** The config's sinks in order, a `{source}` template as one sink per source (in the sources' order). */
function plannedSinks(templates: readonly string[], sourceIds: readonly string[]): PlannedSink[] {
  return templates.flatMap((template) => {
    const perSource = template.includes('{source}');
    return eachSourcePath(template, sourceIds).map((path, i) => ({ template, uri: parseSinkUri(path), ...(perSource && { sourceId: sourceIds[i]! }) }));
  });
}

/**
 * Two sources whose ids give one `{source}` name (`drive.mp4` and `drive.avi` are both `drive`)
 * would share what should be theirs alone: one file, one MQTT topic, one Redis stream. Refused
 * for every kind of sink alike, naming both sources and what they would share.
 */
function refuseCollisions(sinks: readonly string[], sourceIds: readonly string[]): void {
  for (const uri of sinks.filter((u) => u.includes('{source}'))) {
    const owner = new Map<string, string>();
    for (const id of sourceIds) {
      const expanded = perSourcePath(uri, id);
      const other = owner.get(expanded);
      if (other !== undefined) {
        throw new RoadsegError(`the sources "${other}" and "${id}" both give {source} = "${fileSafe(id)}": they would share ${expanded}`, {
          where: `the sink ${uri}`,
          hint: 'give one of them an id of its own ({"uri": ..., "id": "rear"} in the config\'s "sources"), or rename one of the files',
          exitCode: ExitCode.usage,
        });
      }
      owner.set(expanded, id);
    }
  }
}

/** The id itself, or with -2, -3, ... (before its extension) when another source of the run has it. */
function uniqueId(id: string, taken: Set<string>): string {
  const ext = extname(id);
  let unique = id;
  for (let n = 2; taken.has(unique); n++) unique = `${id.slice(0, id.length - ext.length)}-${n}${ext}`;
  taken.add(unique);
  return unique;
}

/** The same source under another id (its frames carry the new one). */
function renamed(source: FrameSource, sourceId: string): FrameSource {
  return {
    info: { ...source.info, sourceId },
    get endedEarly() {
      return source.endedEarly;
    },
    async read() {
      const f = await source.read();
      if (f) f.sourceId = sourceId;
      return f;
    },
    close: () => source.close(),
  };
}

/** Smoothing and an estimated hood for videos, cameras and streams; neither for still images unless asked. */
export function signalOptions(config: PipelineConfig, stillSources: readonly string[]): Partial<SignalOptions> {
  const { hood } = config;
  return {
    stillSources: new Set(stillSources),
    ...(config.smooth !== undefined && { smooth: config.smooth }),
    ...(hood !== undefined && { hood: typeof hood === 'string' ? hood : typeof hood === 'number' ? hoodLine(hood) : hoodPolygon(hood.polygon) }),
    lowConfidence: config.lowConfidence,
  };
}
