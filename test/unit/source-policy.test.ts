import { describe, expect, it } from 'vitest';
import type { StreamInfo } from '../../src/core/frame.js';
import { sourcePolicy } from '../../src/pipeline/policy.js';
import { createGraph } from '../../src/pipeline/graph.js';
import { FakeProcessor, FakeSource, MatLedger } from './fakes/parts.js';

const file: StreamInfo = { sourceId: 'clip.mp4', uri: 'clip.mp4', kind: 'file', live: false, width: 960, height: 540, fps: 25, frameCount: 221 };
const camera: StreamInfo = { ...file, sourceId: 'camera0', uri: 'camera:0', kind: 'camera', live: true, frameCount: undefined };
const inFlight = (mode: 'lossless' | 'freshest') => (mode === 'lossless' ? 3 : 1);

describe('source policy', () => {
  it('follows the source unless asked, takes its in-flight limit by mode, and paces only files and folders', () => {
    expect(sourcePolicy(file, undefined, inFlight)).toEqual({ mode: 'lossless', inFlight: 3, paced: true });
    expect(sourcePolicy(file, true, inFlight)).toEqual({ mode: 'freshest', inFlight: 1, paced: true });
    expect(sourcePolicy(camera, undefined, inFlight)).toEqual({ mode: 'freshest', inFlight: 1, paced: false });
    expect(sourcePolicy(camera, false, inFlight)).toEqual({ mode: 'lossless', inFlight: 3, paced: false });
  });

  it('is on the pipeline handle, one per source, the graph’s in-flight limit by default', () => {
    const ledger = new MatLedger();
    const policy = { mode: 'freshest', inFlight: 2, paced: false } as const;
    const g = createGraph({
      sources: [new FakeSource(ledger, { frames: 1 }, 'a'), { source: new FakeSource(ledger, { frames: 1 }, 'b'), policy }],
      processor: new FakeProcessor(ledger),
      sinks: [],
      inFlight: 4,
    });
    expect(g.policies).toEqual([{ mode: 'lossless', inFlight: 4, paced: true }, policy]);
  });
});
