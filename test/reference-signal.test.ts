/**
 * The signal of one shipped clip (the shortest, whole) through the CLI equals its committed
 * reference line for line, the timing fields (captureTime, latencyMs) aside. Compared within
 * `machineTolerance` (another CPU's floating point may flip a boundary pixel), not as text:
 * `npm run reference-signals -- --check` compares exactly, on one machine, before and after a refactor.
 * A change that alters the signal on purpose re-baselines with `npm run reference-signals`.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clipsDir, firstDifference, readReference, signalOfClip } from '../scripts/reference-signals.js';

const clip = join(clipsDir, 'udacity_vehicledet_test_video.mp4');

describe('reference signal', () => {
  it('the shortest clip gives its committed signal line for line', () => {
    const d = firstDifference(signalOfClip(clip), readReference(clip), true);
    expect(d, d && `signal differs from test/fixtures/reference-signals at line ${d.line}; only if this change of the signal is intended, re-baseline with \`npm run build && npm run reference-signals\` and say so in the commit\n  reference: ${d.expected}\n  now:       ${d.actual}`).toBeUndefined();
  }, 60_000);
});
