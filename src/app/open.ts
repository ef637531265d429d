/**
 * The factory at the top: opens the parts a config names (source URI -> source, sink URIs ->
 * sinks, model id -> engine and segmenter) and hands them to the graph. Everything is opened before
 * anything runs, so bad input fails before the first frame.
 */
import type { Sink } from '../core/sink.js';
import { SegmentationEngine } from '../engine/engine.js';
import { createGraph, type PipelineHandle } from '../pipeline/graph.js';
import { Segmenter } from '../pipeline/segmenter.js';
import { parseConfig, type PipelineConfig, type PipelineConfigInput } from './config.js';
import { openSink } from './sinks.js';
import { openSource } from './sources.js';

export interface PipelineOptions {
  /** An engine to use instead of creating one from the config (it is then not disposed). */
  engine?: SegmentationEngine;
  log?: (line: string) => void;
}

export interface Pipeline extends PipelineHandle {
  readonly config: PipelineConfig;
}

export async function createPipeline(input: PipelineConfigInput | PipelineConfig, opts: PipelineOptions = {}): Promise<Pipeline> {
  const config = parseConfig(input);
  const log = opts.log ?? (() => {});
  const source = openSource(config.source, { ...config, log });
  const sinks: Sink[] = [];
  let engine: SegmentationEngine | undefined;
  // `stop` of the handle, for sinks that end the run (a window's q / Esc); set once it exists.
  let stop = () => {};
  try {
    for (const uri of config.sinks) sinks.push(openSink(uri, { stop: () => stop(), serve: config.serve }));
    engine = opts.engine ?? (await SegmentationEngine.create({ ...config, log }));
  } catch (e) {
    source.close();
    for (const s of sinks) await Promise.resolve(s.close()).catch(() => {});
    throw e;
  }
  const own = opts.engine ? undefined : engine;
  const segmenter = new Segmenter(engine, {
    overlay: { opacity: config.opacity },
    hud: config.hud,
    analysis: { ...(config.corridor && { corridor: config.corridor }), ...(config.drivableClasses && { drivableClasses: config.drivableClasses }) },
  });
  const handle = createGraph({
    source,
    processor: segmenter,
    sinks,
    inFlight: config.inFlight,
    ...(config.live !== undefined && { live: config.live }),
    log,
    dispose: async () => {
      await own?.dispose();
    },
  });
  stop = () => handle.stop();
  return Object.assign(handle, { config });
}
