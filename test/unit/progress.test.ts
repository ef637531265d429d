// The progress total: frames this run will process, or unknown.
import { describe, expect, it } from 'vitest';
import type { StreamInfo } from '../../src/core/frame.js';
import { plannedFrames } from '../../src/cli/progress.js';

const file: StreamInfo = { sourceId: 'clip.mp4', uri: 'clip.mp4', kind: 'file', live: false, width: 960, height: 540, fps: 25, frameCount: 221 };
const plan = { stride: 1, loop: false, freshest: false };

describe('plannedFrames', () => {
  it('counts the frames of the start..start+duration window, then every stride-th', () => {
    expect(plannedFrames(file, plan)).toBe(221);
    expect(plannedFrames(file, { ...plan, duration: 2 })).toBe(50);
    expect(plannedFrames(file, { ...plan, duration: 2, stride: 2 })).toBe(25);
    expect(plannedFrames(file, { ...plan, duration: 1, stride: 3 })).toBe(9);
    expect(plannedFrames(file, { ...plan, start: 8 })).toBe(21);
    expect(plannedFrames(file, { ...plan, start: 8, duration: 100 })).toBe(21);
    expect(plannedFrames(file, { ...plan, start: 100 })).toBe(0);
  });

  it('is unknown for a loop, a live source, the freshest-frame policy or a file without a count', () => {
    expect(plannedFrames(file, { ...plan, loop: true })).toBeUndefined();
    expect(plannedFrames(file, { ...plan, freshest: true })).toBeUndefined();
    expect(plannedFrames({ ...file, kind: 'stream', live: true, frameCount: undefined }, plan)).toBeUndefined();
    expect(plannedFrames({ ...file, frameCount: undefined }, plan)).toBeUndefined();
  });

  it("takes an image folder's count as it is (the folder applies start, duration and stride)", () => {
    expect(plannedFrames({ ...file, kind: 'images', frameCount: 7 }, { ...plan, stride: 2 })).toBe(7);
  });
});
