// The run's counters: elapsed time is the run's wall time (a live source offline at the end still ran).
import { describe, expect, it } from 'vitest';
import { RunStats } from '../../src/pipeline/stats.js';

/** Waits until the clock has moved on by `ms` (a state, not a sleep of a guessed length). */
async function clockAdvances(ms: number): Promise<void> {
  const t = performance.now();
  while (performance.now() - t < ms) await new Promise((r) => setTimeout(r, 5));
}

describe('RunStats', () => {
  it('elapsed runs from start to finish, not to the last frame, and stops at finish', async () => {
    const run = new RunStats();
    const source = new RunStats(run);
    run.start();
    source.start();
    source.frameIn();
    source.frameDone();
    // No frame for a while (a live source offline), then the run ends.
    await clockAdvances(40);
    source.finish();
    run.finish();
    expect(run.elapsedS).toBeGreaterThanOrEqual(0.04);
    expect(source.elapsedS).toBeGreaterThanOrEqual(0.04);
    const frozen = run.elapsedS;
    await clockAdvances(10);
    expect(run.elapsedS).toBe(frozen);
    expect(run.snapshot()).toMatchObject({ framesIn: 1, framesOut: 1 });
    expect(run.fps).toBeCloseTo(1 / frozen, 6);
  });
});
