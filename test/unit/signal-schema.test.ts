// The published JSON Schema of the signal (docs/signal.schema.json) against the messages the code
// makes. The CLI and websocket tests validate every line they read through the same helper.
import { describe, expect, it } from 'vitest';
import { signalOf, stampOf, staleSignal } from '../../src/core/signal.js';
import type { DrivableSummary } from '../../src/core/analysis.js';
import { precisions } from '../../src/core/model.js';
import { signalProblems, signalSchema } from '../helpers/signal-schema.js';

const meta = { sourceId: 'clip.mp4', index: 3, ptsMs: 120, captureTimeMs: 1_700_000_000_000 };
const origin = { model: 'deeplabv3-mnedgetpu-slim', device: 'cpu' as const, precision: 'fp32' as const, drivableSource: 'deeplabv3-mnedgetpu-slim' };
const summary: DrivableSummary = {
  drivablePct: 41.2,
  egoCorridorPct: 97.5,
  roadEdges: [{ y: 0.6, left: 0.41, right: null }],
  histogram: { road: 0.412, sky: 0.2 },
  hoodY: 0.84,
  freeSpace: [0.84, 0.61, 0.55],
  confidence: 0.71,
  camera: { condition: 'ok', luma: 14.7, sharpness: 444.4, stillFrames: 0 },
  status: 'ok',
};

describe('signal schema', () => {
  it('accepts the messages the code makes, values and stale', () => {
    expect(signalProblems(signalOf(meta, summary, origin))).toEqual([]);
    expect(signalProblems(signalOf(meta, { ...summary, status: 'camera-fault', camera: { ...summary.camera, condition: 'frozen', stillFrames: 9 } }, origin))).toEqual([]);
    expect(signalProblems(staleSignal(meta, origin))).toEqual([]);
    for (const state of ['stale', 'offline'] as const) expect(signalProblems(staleSignal(meta, origin, Date.now(), 'stale', state))).toEqual([]);
  });

  it('describes every field the code writes, and requires those every message has', () => {
    const fields = Object.keys(signalOf(meta, summary, origin)).sort();
    const lanes = [{ y: 0.6, left: 0.4, right: null }];
    const optional = new Set([...Object.keys(signalOf(meta, { ...summary, lanes }, origin)), ...Object.keys(staleSignal(meta, origin, Date.now(), 'stale', 'offline'))]);
    expect(Object.keys(signalSchema.properties).sort()).toEqual([...optional].sort());
    expect([...(signalSchema as unknown as { required: string[] }).required].sort()).toEqual(fields);
    expect(signalProblems(signalOf(meta, { ...summary, lanes }, origin))).toEqual([]);
  });

  it('stamps every message of a frame with the same provenance, pts to the microsecond', () => {
    const stamp = stampOf({ ...meta, ptsMs: 1000 / 3 });
    expect(stamp).toEqual({ source: 'clip.mp4', frame: 3, ptsMs: 333.333, captureTime: 1_700_000_000_000 });
    expect(signalOf({ ...meta, ptsMs: 1000 / 3 }, summary, origin)).toMatchObject(stamp);
  });

  it('lists every weight precision a model may run in', () => {
    expect((signalSchema.properties as unknown as Record<string, { enum?: string[] }>).precision!.enum).toEqual([...precisions]);
  });

  it('rejects out-of-range values, unknown statuses and missing fields', () => {
    const good = signalOf(meta, summary, origin);
    expect(signalProblems({ ...good, hoodY: 1.5 })).not.toEqual([]);
    expect(signalProblems({ ...good, freeSpace: [0.5, -0.1] })).not.toEqual([]);
    expect(signalProblems({ ...good, status: 'fine' })).not.toEqual([]);
    expect(signalProblems({ ...good, camera: { ...summary.camera, condition: 'foggy' } })).not.toEqual([]);
    const { confidence: _c, ...missing } = good;
    expect(signalProblems(missing)).not.toEqual([]);
    expect(signalProblems({ ...good, surprise: 1 })).toEqual([expect.stringContaining('surprise')]);
  });
});
