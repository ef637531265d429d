// The progress total: the frames the source will deliver, counted once by the frame window.
import { describe, expect, it } from 'vitest';
import type { StreamInfo } from '../../src/core/frame.js';
import type { SourceOptions } from '../../src/core/source.js';
import { windowed } from '../../src/sources/frame-window.js';
import { frameCountText, plannedFrames } from '../../src/cli/progress.js';

const file: StreamInfo = { sourceId: 'clip.mp4', uri: 'clip.mp4', kind: 'file', live: false, width: 960, height: 540, fps: 25, frameCount: 221 };

/** The window's count for a source of `info` (no frame is read). */
function delivers(opts: Partial<SourceOptions>, info: StreamInfo = file): number | undefined {
  const source = { info, read: async () => null, close: () => {}, rewind: () => {} };
  return windowed(source, opts as SourceOptions).info.frameCount;
}

describe('frame counts', () => {
  it('the window counts the frames of start..start+duration, then every stride-th; progress takes that count as it is', () => {
    const cases: [Partial<SourceOptions>, number][] = [
      [{}, 221],
      [{ duration: 2 }, 50],
      [{ duration: 2, stride: 2 }, 25],
      [{ duration: 1, stride: 3 }, 9],
      [{ stride: 2 }, 111],
      [{ start: 8 }, 21],
      [{ start: 8, duration: 100 }, 21],
      [{ start: 8, stride: 2 }, 11],
      [{ start: 0.01 }, 220],
    ];
    for (const [opts, n] of cases) {
      expect(delivers(opts), JSON.stringify(opts)).toBe(n);
      expect(plannedFrames({ ...file, frameCount: delivers(opts) }, false)).toBe(n);
    }
    expect(delivers({ stride: 2 }, { ...file, kind: 'images', frameCount: 7 })).toBe(4);
  });

  it('is unknown for a loop, a live source, the freshest-frame policy or a file without a count', () => {
    expect(delivers({ loop: true })).toBeUndefined();
    expect(plannedFrames(file, true)).toBeUndefined();
    expect(plannedFrames({ ...file, kind: 'stream', live: true, frameCount: undefined }, false)).toBeUndefined();
    expect(plannedFrames({ ...file, frameCount: undefined }, false)).toBeUndefined();
  });

  it("a file's count is its container's, shown as about; an image folder's is exact", () => {
    expect(frameCountText(file)).toBe(', about 221 frames');
    expect(frameCountText({ ...file, kind: 'images', frameCount: 1 })).toBe(', 1 frame');
    expect(frameCountText({ ...file, frameCount: undefined })).toBe('');
  });
});
