/**
 * The evaluation behind `roadseg eval --sequence` (src/cli/eval-sequence.ts reads its flags and prints it): the signal of a clip or an image sequence frame by frame, as made now
 * (smoothing, hood) and as the plain per-frame model output gives it, against the labels' drivable
 * and ego-corridor shares when labels are given: the error, the frame-to-frame change, the lag.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseConfig, type PipelineConfigInput } from '../app/config.js';
import type { SegmentationEngine } from '../engine/engine.js';
import { openSource } from '../app/sources.js';
import { signalOptions } from '../app/open.js';
import { isStale } from '../core/frame.js';
import { heightOf, widthOf } from '../core/labelmap.js';
import type { DrivableSummary } from '../core/analysis.js';
import { Segmenter } from '../pipeline/segmenter.js';
import { analyse } from '../stages/analyse.js';
import { sampleLabels } from '../stages/labelmap.js';
import { bestLag, meanAbsError, meanChange } from './series.js';
import { readLabels } from '../sources/images.js';
import { ExitCode, RoadsegError } from '../util/errors.js';

/** What to evaluate: the sequence, its labels (frame i <-> the i-th file) and the signal's settings. */
export interface SequenceInput {
  sequence: string;
  labels?: string;
  labelSuffix: string;
  fps?: number;
  /** The signal's settings (smoothing, hood, ...) as the config takes them. */
  signal: Partial<PipelineConfigInput>;
  /** Called once the inputs are checked: a bad label folder is reported before the model loads. */
  openEngine: () => Promise<SegmentationEngine>;
}

/** One way of making the signal, over the whole sequence. */
export interface SeriesReport {
  frames: number;
  /** Mean absolute error against the labels, percentage points (when labels are given). */
  drivableError?: number;
  egoError?: number;
  /** Mean absolute frame-to-frame change, percentage points. */
  drivableChange: number;
  egoChange: number;
  /** egoChange over the labels' own (when labels are given). */
  egoChangeRatio?: number;
  /** Frames the ego-corridor share trails the labels' (best alignment, 0..5). */
  egoLagFrames?: number;
  meanConfidence: number;
  /** Frames with a hood. */
  hoodFrames: number;
  statuses: Record<string, number>;
}

export interface SequenceReport {
  sequence: string;
  model: string;
  device: string;
  frames: number;
  labels?: { egoChange: number; drivableChange: number };
  /** The signal as configured (smoothing, hood). */
  signal: SeriesReport;
  /** The per-frame model output alone: no smoothing, no hood. */
  plain: SeriesReport;
}

/** Label files in name order, frame i <-> the i-th. */
function labelFiles(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) throw new RoadsegError(`--labels folder not found: ${dir}`, { where: resolve(dir), exitCode: ExitCode.input });
  const files = readdirSync(dir).filter((f) => f.endsWith(suffix)).sort().map((f) => join(dir, f));
  if (!files.length) throw new RoadsegError(`no label files (*${suffix}) in ${dir}`, { where: resolve(dir), hint: 'set --label-suffix', exitCode: ExitCode.input });
  return files;
}

/** Frame i is compared with the i-th label file: a count that differs would compare a subset, or the wrong frames. */
function refuseCounts(frames: number, labels: readonly string[], flags: SequenceInput): void {
  if (frames === labels.length) return;
  throw new RoadsegError(`the sequence has ${frames} frames and ${labels.length} label files (*${flags.labelSuffix}): frame i is compared with the i-th label file, so they must be as many`, {
    where: `${resolve(flags.sequence)} and ${resolve(flags.labels!)}`,
    hint: 'give one label file per frame (names in frame order), or --label-suffix to select them',
    exitCode: ExitCode.input,
  });
}

/** `beforeFrame` is called before each frame with the number done (the CLI stops there when interrupted). */
export async function evaluateSequence(flags: SequenceInput, log: (line: string) => void, beforeFrame?: (done: number) => void): Promise<SequenceReport> {
  const config = parseConfig({ source: flags.sequence, ...(flags.fps && { fps: flags.fps }), ...flags.signal } satisfies PipelineConfigInput, 'command line');
  const labels = flags.labels ? labelFiles(flags.labels, flags.labelSuffix) : undefined;
  const source = openSource(flags.sequence, { fps: config.fps, log });
  // A folder's frames are known before anything runs; a video's once it is decoded (below).
  if (labels && source.info.kind === 'images' && source.info.frameCount !== undefined) refuseCounts(source.info.frameCount, labels, flags);
  const engine = await flags.openEngine();
  try {
    // A sequence is consecutive frames, also when it is a folder of images.
    const signal = new Segmenter(engine, { signal: signalOptions(config, []), analysis: { freeSpaceColumns: config.freeSpaceColumns }, log });
    const plain = new Segmenter(engine, { signal: { smooth: 0, hood: 'off' } });
    const runs = { signal: [] as DrivableSummary[], plain: [] as DrivableSummary[] };
    type Shares = Pick<DrivableSummary, 'drivablePct' | 'egoCorridorPct'>;
    const truth = { signal: [] as Shares[], plain: [] as Shares[] };
    for (let f = await source.read(); f; f = await source.read()) {
      if (isStale(f)) continue;
      try {
        beforeFrame?.(runs.signal.length);
      } catch (e) {
        f.image.release();
        throw e;
      }
      const { bgr, tensor } = signal.preprocess(f.image);
      const inference = await signal.infer(tensor);
      const file = labels?.[runs.signal.length];
      const frameLabels = file ? readLabels(file) : undefined;
      for (const [name, segmenter] of [['signal', signal], ['plain', plain]] as const) {
        const { analysis, summary } = segmenter.analyse(inference, bgr, f);
        runs[name].push(summary);
        if (!frameLabels) continue;
        // The labels' figures, computed the same way at the same size and with the same hood.
        const target = sampleLabels(frameLabels, widthOf(analysis.labels), heightOf(analysis.labels));
        const cfg = segmenter.analysisConfig;
        const t = analyse(target, cfg, undefined, {}, analysis.hood);
        truth[name].push({ drivablePct: t.drivableFraction * 100, egoCorridorPct: t.egoFraction * 100 });
      }
      bgr.release();
    }
    const frames = runs.signal.length;
    if (labels) refuseCounts(frames, labels, flags);
    const report = (name: 'signal' | 'plain'): SeriesReport => {
      const s = runs[name];
      const n = truth[name].length;
      const ego = s.map((x) => x.egoCorridorPct);
      const drivable = s.map((x) => x.drivablePct);
      const gtEgo = truth[name].map((x) => x.egoCorridorPct);
      const statuses: Record<string, number> = {};
      for (const x of s) statuses[x.status] = (statuses[x.status] ?? 0) + 1;
      return {
        frames: s.length,
        ...(n > 0 && {
          drivableError: meanAbsError(drivable.slice(0, n), truth[name].map((x) => x.drivablePct)),
          egoError: meanAbsError(ego.slice(0, n), gtEgo),
          egoChangeRatio: meanChange(ego.slice(0, n)) / meanChange(gtEgo),
          egoLagFrames: bestLag(ego.slice(0, n), gtEgo),
        }),
        drivableChange: meanChange(drivable),
        egoChange: meanChange(ego),
        meanConfidence: s.reduce((a, x) => a + (x.confidence ?? 0), 0) / Math.max(1, s.filter((x) => x.confidence !== null).length),
        hoodFrames: s.filter((x) => x.hoodY < 1).length,
        statuses,
      };
    };
    return {
      sequence: flags.sequence,
      model: engine.manifest.id,
      device: engine.provider,
      frames,
      ...(truth.plain.length > 0 && { labels: { egoChange: meanChange(truth.plain.map((x) => x.egoCorridorPct)), drivableChange: meanChange(truth.plain.map((x) => x.drivablePct)) } }),
      signal: report('signal'),
      plain: report('plain'),
    };
  } finally {
    source.close();
    await engine.dispose();
  }
}
