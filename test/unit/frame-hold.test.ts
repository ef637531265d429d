import { describe, expect, it } from 'vitest';
import { holdFrame } from '../../src/pipeline/frame-hold.js';
import { releaseMats } from '../../src/util/mats.js';
import { recordStep } from '../../src/pipeline/step-timing.js';
import type { Mat } from '../../src/util/cv.js';

const fakeMat = () => {
  const m = { released: 0, release: () => void m.released++ };
  return m;
};

describe('frame hold', () => {
  it('releases each distinct Mat once, when the graph and every holder let go', () => {
    const a = fakeMat();
    const b = fakeMat();
    const hold = holdFrame([a, b, a] as unknown as Mat[]);
    const letGoA = hold.retain();
    const letGoB = hold.retain();
    hold.letGo();
    letGoA();
    letGoA(); // a second call of one holder's let-go does nothing
    expect(a.released).toBe(0);
    letGoB();
    expect([a.released, b.released]).toEqual([1, 1]);
  });

  it('releaseMats releases a Mat listed twice once', () => {
    const a = fakeMat();
    releaseMats([a, a] as unknown as Mat[]);
    expect(a.released).toBe(1);
  });
});

describe('step timing', () => {
  it('keeps the step time in the frame and samples it', () => {
    const timings = { queueMs: 0, preprocessMs: 0, inferMs: 0, analyseMs: 0, renderMs: 0, sinksMs: 0 };
    const samples: [string, number][] = [];
    const ms = recordStep(timings, 'render', performance.now(), (s, v) => samples.push([s, v]));
    expect(timings.renderMs).toBe(ms);
    expect(samples).toEqual([['render', ms]]);
  });
});
