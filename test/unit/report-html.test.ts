// The report page: self-contained, one section per source, text escaped.
import { describe, expect, it } from 'vitest';
import type { SignalMessage } from '../../src/core/signal.js';
import { evenlySpaced, renderReport } from '../../src/sinks/report-html.js';
import { RoadStats } from '../../src/stages/road-stats.js';

const signal = (source: string, frame: number, corridor: number) =>
  ({ v: 1, type: 'signal', source, frame, ptsMs: frame * 40, captureTime: 0, latencyMs: 1, status: 'ok', model: 'm', device: 'cpu', drivablePct: 30, egoCorridorPct: corridor, roadEdges: [], histogram: {} }) as unknown as SignalMessage;

describe('renderReport', () => {
  it('has a section and plots per source, the facts escaped, nothing to fetch', () => {
    const roads = ['front<cam>', 'rear'].map((source) => {
      const r = new RoadStats(50);
      for (let i = 0; i < 10; i++) r.add(signal(source, i, i < 5 ? 20 : 90));
      return { source, road: r.summary(), series: r.series, spans: r.spans };
    });
    const html = renderReport({ title: 'roadseg report: <two>', facts: [['source', 'a & b']], roads, sheet: [], sheetNote: 'no pictures' });
    expect(html).toContain('<title>roadseg report: &#60;two&#62;</title>');
    expect(html).toContain('a &#38; b');
    expect(html).toContain('<h2>Road: front&#60;cam&#62;</h2>');
    expect(html).toContain('id="plot-road"');
    expect(html).toContain('id="plot-road-2"');
    expect(html.match(/<tr><td>0\.00 s<\/td><td>0\.20 s<\/td><td>0-4<\/td><td>20\.0<\/td><\/tr>/g)).toHaveLength(2);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toContain('<script');
  });

  it('spreads the contact sheet evenly, first and last included', () => {
    expect(evenlySpaced([...Array(23).keys()], 12)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22]);
    expect(evenlySpaced([1, 2], 12)).toEqual([1, 2]);
  });
});
