/** `roadseg eval --sequence`: its flags and its table (the evaluation is src/eval/sequence.ts). */
import { evaluateSequence, type SequenceReport, type SeriesReport } from '../eval/sequence.js';
import { createEngine, signalConfig, type EngineFlags, type SignalFlags } from './common.js';

export interface SequenceFlags extends EngineFlags, SignalFlags {
  sequence: string;
  labels?: string;
  labelSuffix: string;
  fps?: number;
  json?: boolean;
}

/** `beforeFrame` is called before each frame with the number done (the CLI stops there when interrupted). */
export function evalSequence(flags: SequenceFlags, log: (line: string) => void, beforeFrame?: (done: number) => void): Promise<SequenceReport> {
  const { sequence, labels, labelSuffix, fps } = flags;
  return evaluateSequence({ sequence, ...(labels !== undefined && { labels }), labelSuffix, ...(fps !== undefined && { fps }), signal: signalConfig(flags), openEngine: () => createEngine(flags, log) }, log, beforeFrame);
}

export function formatSequenceReport(r: SequenceReport): string {
  const f = (x: number | undefined, d = 2) => (x === undefined ? '-' : x.toFixed(d)).padStart(9);
  const row = (name: string, s: SeriesReport) =>
    `${name.padEnd(8)}${f(s.drivableError)}${f(s.egoError)}${f(s.drivableChange)}${f(s.egoChange)}${f(s.egoChangeRatio)}${f(s.egoLagFrames, 0)}${f(s.meanConfidence, 3)}${String(s.hoodFrames).padStart(7)}  ${Object.entries(s.statuses).map(([k, v]) => `${k} ${v}`).join(', ')}`;
  return [
    `${r.frames} frames of ${r.sequence}, model ${r.model} on ${r.device}${r.labels ? `; labels: ego change ${r.labels.egoChange.toFixed(2)}, drivable change ${r.labels.drivableChange.toFixed(2)} points/frame` : ''}`,
    `${''.padEnd(8)}${'drv err'.padStart(9)}${'ego err'.padStart(9)}${'drv chg'.padStart(9)}${'ego chg'.padStart(9)}${'chg/gt'.padStart(9)}${'lag'.padStart(9)}${'conf'.padStart(9)}${'hood'.padStart(7)}  status`,
    row('signal', r.signal),
    row('plain', r.plain),
    '(err: mean absolute error against the labels, chg: mean frame-to-frame change, both in percentage points; lag in frames)',
  ].join('\n');
}
