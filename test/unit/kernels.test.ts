// Pure numeric kernels, on small hand-made label maps.
import { describe, expect, it } from 'vitest';
import { analyse, summarize } from '../../src/stages/analyse.js';
import { corridorSpan, defaultCorridor, drivableArea, drivableLut, parseCorridor } from '../../src/stages/drivable.js';
import { rowBoundaries, sobelEdges } from '../../src/stages/edges.js';
import { classHistogram, histogramFractions } from '../../src/stages/histogram.js';
import { inputSize, snapToRule } from '../../src/core/input-size.js';
import { labelMap } from '../../src/core/labelmap.js';
import { downsampleLabels } from '../../src/stages/labelmap.js';
import { ConfusionMatrix } from '../../src/eval/metrics.js';
import { bgrLut, colorize, paintMask } from '../../src/stages/palette.js';

/** A map from rows of characters: digits are class ids, '.' is void (255). */
function mapOf(rows: string[]) {
  const h = rows.length;
  const w = rows[0]!.length;
  const data = new Uint8Array(h * w);
  rows.forEach((r, y) => [...r].forEach((c, x) => (data[y * w + x] = c === '.' ? 255 : Number(c))));
  return labelMap(data, h, w);
}

describe('palette', () => {
  it('colours class ids in BGR order and void black', () => {
    const lut = bgrLut([[128, 64, 128], [244, 35, 232]]);
    const bgr = colorize(mapOf(['01.']), lut);
    expect([...bgr]).toEqual([128, 64, 128, 232, 35, 244, 0, 0, 0]);
    paintMask(bgr, new Uint8Array([0, 0, 1]), [255, 255, 0]);
    expect([...bgr.subarray(6)]).toEqual([0, 255, 255]);
  });
});

describe('drivable area', () => {
  it('is the road fraction of the frame and of the corridor', () => {
    const labels = mapOf(['2222', '2222', '0000', '0000']);
    const full = { centerX: 0.5, topY: 0.5, bottomY: 1, topWidth: 1, bottomWidth: 1 };
    expect(drivableArea(labels, full, drivableLut([0]))).toEqual({ drivableFraction: 0.5, egoFraction: 1 });
    const upper = { centerX: 0.5, topY: 0, bottomY: 0.5, topWidth: 1, bottomWidth: 1 };
    expect(drivableArea(labels, upper, drivableLut([0])).egoFraction).toBe(0);
  });

  it('counts only the trapezoid', () => {
    // 10 wide: corridor of full width 0.2 at the top row, 1.0 at the bottom row.
    const c = { centerX: 0.5, topY: 0, bottomY: 1, topWidth: 0.2, bottomWidth: 1 };
    expect(corridorSpan(c, 0, 10, 2)).toEqual([4, 6]);
    expect(corridorSpan(c, 1, 10, 2)).toEqual([0, 10]);
    const labels = mapOf(['1111001111', '0000000000']);
    expect(drivableArea(labels, c, drivableLut([0])).egoFraction).toBe(1);
    expect(drivableArea(labels, c, drivableLut([0])).drivableFraction).toBe(0.6);
  });

  it('parses a corridor and rejects bad ones', () => {
    expect(parseCorridor('0.5,0.6,1,0.1,0.7')).toEqual(defaultCorridor);
    expect(() => parseCorridor('0.5,0.6')).toThrow(/five fractions/);
    expect(() => parseCorridor('0.5,0.9,0.2,0.1,0.7')).toThrow(/above/);
  });
});

describe('road edges', () => {
  it('Sobel marks the two columns either side of a road border', () => {
    const mask = new Uint8Array([0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1]);
    const e = sobelEdges(mask, 5, 3);
    expect([...e.subarray(5, 10)]).toEqual([0, 1, 1, 0, 0]);
  });

  it('finds left and right boundaries of the road ahead, -1 at the image border', () => {
    const mask = new Uint8Array([
      0, 1, 1, 1, 0, 1, 1, 0, // run containing centre x=4? no: x=4 is 0 -> widest run 1..3
      0, 0, 1, 1, 1, 1, 0, 0, // centre run 2..5
      1, 1, 1, 1, 1, 1, 1, 1, // road to both borders: no visible edge
      0, 0, 0, 0, 0, 0, 0, 0, // no road
    ]);
    const { left, right } = rowBoundaries(mask, 8, 4, 0.5);
    expect([...left]).toEqual([1, 2, -1, -1]);
    expect([...right]).toEqual([3, 5, -1, -1]);
  });
});

describe('histogram and summary', () => {
  it('counts classes and void', () => {
    const h = classHistogram(mapOf(['00.1', '1122']), 19);
    expect(h.counts.slice(0, 3)).toEqual([2, 3, 2]);
    expect(h.voidCount).toBe(1);
    expect(histogramFractions(h, ['road', 'sidewalk', 'building'])).toEqual({ road: 0.25, sidewalk: 0.375, building: 0.25 });
  });

  it('summarises edges as fractions of the width at fixed rows', () => {
    const labels = mapOf(['22222', '20002', '20002', '00000']);
    const cfg = { corridor: defaultCorridor, drivableClasses: [0], edgeRows: [0, 0.5, 1], classNames: ['road', 'sidewalk', 'building'], freeSpaceColumns: 2 };
    const s = summarize(analyse(labels, cfg), cfg, { confidence: 1, camera: { condition: 'ok', luma: 100, sharpness: 50, stillFrames: 0 }, status: 'ok' });
    expect(s.drivablePct).toBe(55);
    expect(s.roadEdges).toEqual([
      { y: 0, left: null, right: null },
      { y: 0.5, left: 0.25, right: 0.75 },
      { y: 1, left: null, right: null },
    ]);
  });
});

describe('metrics', () => {
  it('computes pixel accuracy, IoU and Dice from a confusion matrix, ignoring 255', () => {
    const m = new ConfusionMatrix(['a', 'b', 'c']);
    m.update(new Uint8Array([0, 0, 1, 1, 2, 0]), new Uint8Array([0, 1, 1, 1, 255, 255]));
    const r = m.report();
    expect(r.pixels).toBe(4);
    expect(r.pixelAccuracy).toBe(0.75);
    expect(r.classes[0]!.iou).toBeCloseTo(0.5); // tp 1, fn 0, fp 1
    expect(r.classes[1]!.iou).toBeCloseTo(2 / 3); // tp 2, fn 1
    expect(r.classes[1]!.dice).toBeCloseTo(0.8);
    expect(r.classes[2]!.support).toBe(0);
    expect(r.meanIou).toBeCloseTo((0.5 + 2 / 3) / 2); // over present classes only
  });

  it('counts a void prediction as wrong', () => {
    const m = new ConfusionMatrix(['a']);
    m.update(new Uint8Array([255, 0]), new Uint8Array([0, 0]));
    expect(m.report().pixelAccuracy).toBe(0.5);
  });
});

describe('label map downsampling', () => {
  it('keeps every n-th pixel of every n-th row, rounding the size up', () => {
    const small = downsampleLabels(mapOf(['01234', '56789', '.0.0.']), 2);
    expect(small.shape).toEqual([2, 3]);
    expect([...small.data]).toEqual([0, 2, 4, 255, 255, 255]);
    const same = mapOf(['01']);
    expect(downsampleLabels(same, 1)).toBe(same);
  });
});

describe('input size', () => {
  const dynamic = { rule: 'dynamic' as const, stride: 16, offset: 1, defaultHeight: 513, preferred: [] };
  it('keeps the aspect ratio on the 16k+1 grid', () => {
    expect(snapToRule(513, 16, 1)).toBe(513);
    expect(inputSize(dynamic, 1280, 720)).toEqual({ width: 913, height: 513 });
    expect(inputSize(dynamic, 2048, 1024)).toEqual({ width: 1025, height: 513 });
    expect(inputSize(dynamic, 2048, 1024, 1025)).toEqual({ width: 2049, height: 1025 });
    expect(inputSize(dynamic, 16, 16)).toEqual({ width: 513, height: 513 });
  });
  it('uses the fixed size of fixed models', () => {
    expect(inputSize({ rule: 'fixed', width: 1024, height: 512 }, 1280, 720)).toEqual({ width: 1024, height: 512 });
  });
});
