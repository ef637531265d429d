// The signal's numeric kernels (smoothing, confidence, hood, free space, camera health, series
// statistics) on small hand-made arrays: no model, no OpenCV.
import { describe, expect, it } from 'vitest';
import { analyse } from '../../src/stages/analyse.js';
import { CameraMonitor, defaultCameraThresholds, greyStats, laplacianVariance } from '../../src/stages/camera.js';
import { defaultCorridor, drivableArea, drivableLut } from '../../src/stages/drivable.js';
import { freeSpace } from '../../src/stages/freespace.js';
import { HoodEstimator, hoodLine, hoodPolygon, hoodRows, noHood } from '../../src/stages/hood.js';
import { labelMap } from '../../src/core/labelmap.js';
import type { HeadScores } from '../../src/core/model.js';
import { ProbabilityEma, argmaxScores, cellPlacement, drivableConfidence, probabilityLabels, resizeScoresInto, softmax, softmaxStep, stepResponseFrames } from '../../src/stages/scores.js';
import { bestLag, meanAbsError, meanChange } from '../../src/eval/series.js';

/** A grid whose every cell has the same probabilities per channel. */
function uniformGrid(probs: number[], width = 4, height = 3): HeadScores {
  const plane = width * height;
  const data = new Float32Array(probs.length * plane);
  probs.forEach((p, c) => data.fill(p, c * plane, (c + 1) * plane));
  return { data, channels: probs.length, width, height };
}

/** A deterministic pseudo-random byte sequence. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    out[i] = s >> 23;
  }
  return out;
}

describe('class probabilities', () => {
  it('softmax sums to 1 per cell and keeps the order of the scores', () => {
    // Planes of 2 cells: cell 0 has scores 1, 2, 3; cell 1 has 5, 0, 3.
    const p = softmax({ data: Float32Array.of(1, 5, 2, 0, 3, 3), channels: 3, width: 2, height: 1 });
    expect(p.data[0]! + p.data[2]! + p.data[4]!).toBeCloseTo(1, 6);
    expect(p.data[4]! > p.data[0]!).toBe(true);
    expect(p.data[1]! > p.data[5]! && p.data[5]! > p.data[3]!).toBe(true); // cell 1: scores 5, 0, 3
  });

  it('samples grids wider than the limit every n-th cell', () => {
    const p = softmax(uniformGrid([0, 0], 400, 10), 160);
    expect([p.width, p.height]).toEqual([134, 4]);
  });

  it('the moving average follows a class that flips outright within stepResponseFrames', () => {
    const ema = new ProbabilityEma(0.6);
    const road = uniformGrid([1, 0]);
    const other = uniformGrid([0, 1]);
    for (let i = 0; i < 10; i++) ema.update(road);
    let frames = 0;
    let label = 0;
    while (label === 0) {
      frames++;
      const s = ema.update(other);
      label = s.data[0]! > s.data[12]! ? 0 : 1;
    }
    expect(frames).toBe(stepResponseFrames(0.6));
    expect(stepResponseFrames(0.6)).toBe(2);
    ema.reset();
    expect(ema.update(road).data[0]).toBe(1);
    expect(() => new ProbabilityEma(1)).toThrow(RangeError);
  });

  it('labels from probabilities fall where the model places its own: half-pixel centres or aligned corners', () => {
    // A row of 4 cells at stride 8 (a 32-pixel input): cell 0 class 0, cells 1-3 class 1; labels at half size.
    const logits: HeadScores = { data: Float32Array.of(10, 0, 0, 0, 0, 10, 10, 10), channels: 2, width: 4, height: 1 };
    const p = softmax(logits);
    const labelsWith = (mode: 'align-corners' | 'half-pixel') => {
      const x = cellPlacement(32, 4, softmaxStep(4), 2, mode);
      return [...probabilityLabels(p, 16, 1, x.scale, 0, 2, x.offset).data];
    };
    // The model's own scores, resized to the input with its head's mode, then every 2nd pixel.
    const modelLabels = (mode: 'align-corners' | 'half-pixel') => {
      const full: HeadScores = { data: new Float32Array(2 * 32), channels: 2, width: 32, height: 1 };
      resizeScoresInto(logits, full, mode, false);
      return [...argmaxScores(full, 2, 255)].filter((_, i) => i % 2 === 0);
    };
    // Half-pixel: the boundary sits at input pixel 7.5 (pixels 0, 2, 4, 6 are class 0); aligned corners: 5.17.
    expect(labelsWith('half-pixel')).toEqual([0, 0, 0, 0, ...Array(12).fill(1)]);
    expect(labelsWith('align-corners')).toEqual([0, 0, 0, ...Array(13).fill(1)]);
    for (const mode of ['half-pixel', 'align-corners'] as const) expect(labelsWith(mode)).toEqual(modelLabels(mode));
  });

  it('labels from interpolated probabilities match a per-class argmax everywhere; void channels give 255', () => {
    const w = 5, h = 4, channels = 4;
    const raw = noise(w * h * channels, 7);
    const p = softmax({ data: Float32Array.from(raw, (v) => v / 20), channels, width: w, height: h });
    const labels = probabilityLabels(p, 17, 13, (w - 1) / 16, (h - 1) / 12, 3);
    for (let y = 0; y < 13; y++) {
      for (let x = 0; x < 17; x++) {
        const sx = (x * (w - 1)) / 16, sy = (y * (h - 1)) / 12;
        const x0 = Math.floor(sx), y0 = Math.floor(sy), x1 = Math.min(w - 1, x0 + 1), y1 = Math.min(h - 1, y0 + 1);
        const fx = sx - x0, fy = sy - y0;
        let best = 0, bestValue = -1;
        for (let c = 0; c < channels; c++) {
          const at = (xx: number, yy: number) => p.data[c * w * h + yy * w + xx]!;
          const v = (1 - fx) * (1 - fy) * at(x0, y0) + fx * (1 - fy) * at(x1, y0) + (1 - fx) * fy * at(x0, y1) + fx * fy * at(x1, y1);
          if (v > bestValue) (bestValue = v), (best = c);
        }
        expect(labels.data[y * 17 + x]).toBe(best < 3 ? best : 255);
      }
    }
  });

  it('confidence is 1 where road or not-road is certain, 0 at a coin toss, and ignores the hood', () => {
    const lut = drivableLut([0]);
    const all = new Int32Array(4).fill(3);
    expect(drivableConfidence(uniformGrid([1, 0]), lut, defaultCorridor, all)).toBeCloseTo(1);
    expect(drivableConfidence(uniformGrid([0.5, 0.5]), lut, defaultCorridor, all)).toBeCloseTo(0);
    // Certain above the hood (row 0), a coin toss in the hood rows: only the certain row counts.
    const grid = uniformGrid([0.5, 0.5]);
    for (let x = 0; x < 4; x++) (grid.data[x] = 1), (grid.data[12 + x] = 0);
    expect(drivableConfidence(grid, lut, { ...defaultCorridor, topY: 0 }, new Int32Array(4).fill(1))).toBeCloseTo(1);
  });
});

describe('hood', () => {
  it('a line, a polygon and none, as first hood rows per column', () => {
    expect([...hoodRows(hoodLine(0.75), 4, 8)]).toEqual([6, 6, 6, 6]);
    expect([...hoodRows(noHood, 3, 8)]).toEqual([8, 8, 8]);
    // A bonnet higher in the middle than at the sides.
    const bonnet = hoodPolygon([[0, 1], [0, 0.9], [0.5, 0.7], [1, 0.9], [1, 1]]);
    expect(bonnet.y).toBeCloseTo(0.7, 2);
    const rows = hoodRows(bonnet, 5, 100);
    expect(rows[2]).toBeLessThan(rows[0]!);
    expect(rows[0]).toBe(86); // at x = 0.0996 (the edge is kept at 256 columns): 0.9 - 0.0996 * 0.4 = 0.8602, rounded down
  });

  it('the hood is excluded from drivable shares, the corridor and edges', () => {
    // Bottom row (the hood) labelled road; above it no road.
    const labels = labelMap(Uint8Array.from([2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0]), 3, 4);
    const lut = drivableLut([0]);
    const corridor = { ...defaultCorridor, topY: 0 };
    expect(drivableArea(labels, corridor, lut).egoFraction).toBeGreaterThan(0);
    const hoodTop = hoodRows(hoodLine(2 / 3), 4, 3);
    expect(drivableArea(labels, corridor, lut, hoodTop)).toEqual({ drivableFraction: 0, egoFraction: 0 });
    const a = analyse(labels, { corridor, drivableClasses: [0], edgeRows: [1], classNames: ['road', 'sidewalk', 'building'], freeSpaceColumns: 2 }, lut, {}, hoodLine(2 / 3));
    expect(a.hood.y).toBeCloseTo(2 / 3);
    expect([...a.edges.edgeMask].every((v) => v === 0)).toBe(true);
    expect(a.freeSpace).toEqual([0.6667, 0.6667]);
  });

  it('is estimated as the bottom rows that stay the same while the road ahead moves', () => {
    const w = 32, h = 40;
    const e = new HoodEstimator();
    let last;
    for (let i = 0; i < 25; i++) {
      const frame = noise(w * h, i + 1);
      frame.fill(20, 34 * w); // rows 34..39: a black hood
      last = e.update(frame, w, h);
    }
    expect(last).toMatchObject({ state: 'found', hood: { y: 34 / 40 } });
  });

  it('cannot settle on a still scene, and finds none when every row moves', () => {
    const w = 16, h = 20;
    const still = new HoodEstimator();
    const moving = new HoodEstimator();
    let s, m;
    for (let i = 0; i < 25; i++) {
      s = still.update(new Uint8Array(w * h).fill(90), w, h);
      m = moving.update(noise(w * h, i + 1), w, h);
    }
    expect(s?.state).toBe('unsettled');
    expect(m).toMatchObject({ state: 'none', hood: { y: 1 } });
  });
});

describe('free space', () => {
  it('per column band, the top of the drivable run above the hood', () => {
    // 4 columns x 5 rows; column 0: road up to row 1; column 1: no road above the hood; column 2:
    // a gap at row 2 stops the run; column 3: road to the top.
    const mask = Uint8Array.from([
      0, 0, 0, 1,
      1, 0, 1, 1,
      1, 0, 0, 1,
      1, 0, 1, 1,
      1, 1, 1, 1, // hood row
    ]);
    expect(freeSpace(mask, 4, 5, new Int32Array(4).fill(4), 4)).toEqual([0.2, 0.8, 0.6, 0]);
    expect(freeSpace(mask, 4, 5, new Int32Array(4).fill(5), 2)).toEqual([0.8, 0]); // columns 1 and 3
  });
});

describe('camera health', () => {
  const w = 64, h = 36;
  const sharp = (seed: number) => Uint8Array.from(noise(w * h, seed), (v) => 40 + v / 2);
  const road: [number, number] = [16, 36];

  it('a sharp, well-exposed picture is ok', () => {
    const r = new CameraMonitor().update(sharp(1), w, h, road);
    expect(r.health.condition).toBe('ok');
    expect(r.health.sharpness).toBeGreaterThan(defaultCameraThresholds.blurVariance);
  });

  it('the same picture for more than frozenFrames frames is frozen', () => {
    const m = new CameraMonitor();
    const frame = sharp(2);
    const conditions = Array.from({ length: 8 }, () => m.update(frame, w, h, road).health.condition);
    expect(conditions.indexOf('frozen')).toBe(defaultCameraThresholds.frozenFrames + 1);
    expect(m.update(sharp(3), w, h, road).health).toMatchObject({ condition: 'ok', stillFrames: 0 });
    // Still images never freeze.
    const still = new CameraMonitor(defaultCameraThresholds, false);
    for (let i = 0; i < 8; i++) expect(still.update(frame, w, h, road).health.condition).toBe('ok');
  });

  it('too dark, washed out and blurred', () => {
    expect(new CameraMonitor().update(Uint8Array.from(sharp(4), (v) => v / 8), w, h, road).health.condition).toBe('dark');
    expect(new CameraMonitor().update(Uint8Array.from(sharp(5), (v) => 235 + v / 20), w, h, road).health.condition).toBe('washed-out');
    const smooth = Uint8Array.from({ length: w * h }, (_, i) => 60 + (i % w));
    expect(laplacianVariance(smooth, w, 0, h)).toBe(0);
    expect(new CameraMonitor().update(smooth, w, h, road).health.condition).toBe('blurred');
  });

  it('grey statistics and scene cuts', () => {
    expect(greyStats(Uint8Array.from({ length: 100 }, (_, i) => i))).toEqual({ mean: 49.5, p99: 98 });
    const m = new CameraMonitor();
    m.update(new Uint8Array(w * h).fill(30), w, h, road);
    expect(m.update(new Uint8Array(w * h).fill(200), w, h, road).sceneCut).toBe(true);
    expect(m.update(new Uint8Array(w * h).fill(205), w, h, road).sceneCut).toBe(false);
  });
});

describe('series statistics', () => {
  it('error, frame-to-frame change and the lag of a delayed copy', () => {
    expect(meanAbsError([1, 2, 3], [1, 4, 0])).toBeCloseTo(5 / 3);
    expect(meanChange([0, 2, 1, 1])).toBeCloseTo(1);
    const truth = [0, 0, 0, 10, 10, 10, 10, 0, 0, 0, 0, 5, 5, 5];
    const delayed = [0, 0, ...truth.slice(0, -2)];
    expect(bestLag(delayed, truth)).toBe(2);
    expect(bestLag(truth, truth)).toBe(0);
  });
});

describe('free space above a gap', () => {
  it('starts the run up to 10 % of the height above the hood line, not further', async () => {
    const { freeSpace } = await import('../../src/stages/freespace.js');
    const width = 1;
    const height = 100;
    const mask = new Uint8Array(height);
    for (let y = 40; y < 97; y++) mask[y] = 1; // drivable from row 40 to 96; rows 97-99 not
    expect(freeSpace(mask, width, height, Int32Array.of(100), 1)).toEqual([0.4]);
    mask.fill(0, 80, 97); // now the run ends at 79: 20 rows above the hood, more than the gap
    expect(freeSpace(mask, width, height, Int32Array.of(100), 1)).toEqual([1]);
  });
});
