/**
 * The after-run report: one self-contained HTML file (inline CSS, SVG plots, JPEG thumbnails as
 * data: URIs; nothing fetched, no script) with the run's facts, plots of the signal over time, the
 * spans in which the ego corridor was blocked, and a contact sheet of overlay frames.
 */
import type { BlockedSpan, RoadSummary, SeriesPoint } from '../stages/road-stats.js';

export interface ContactFrame {
  frame: number;
  s: number;
  /** JPEG bytes. */
  jpeg: Buffer;
}

export interface SourceRoad {
  source: string;
  road: RoadSummary;
  series: readonly SeriesPoint[];
  spans: readonly BlockedSpan[];
}

export interface ReportData {
  title: string;
  /** Label and value, in order (source, model, device, frames, fps, drops, ...). */
  facts: [string, string][];
  /** One per source. */
  roads: readonly SourceRoad[];
  sheet: readonly ContactFrame[];
  /** Said instead of the contact sheet when there are no pictures. */
  sheetNote?: string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: number | null | undefined, digits = 1) => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));

interface Line {
  name: string;
  colour: string;
  value: (p: SeriesPoint) => number | null;
}

const plotWidth = 960;
const plotHeight = 220;
const pad = { left: 44, right: 12, top: 12, bottom: 28 };

/** An SVG line plot over time; lines break where values are null (stale frames). */
function plot(id: string, caption: string, series: readonly SeriesPoint[], lines: Line[], yMax: number, opts: { threshold?: number; spans?: readonly BlockedSpan[] } = {}): string {
  const tMax = Math.max(series.at(-1)?.s ?? 0, 1e-3);
  const w = plotWidth - pad.left - pad.right;
  const h = plotHeight - pad.top - pad.bottom;
  const x = (s: number) => (pad.left + (s / tMax) * w).toFixed(1);
  const y = (v: number) => (pad.top + (1 - Math.min(v, yMax) / yMax) * h).toFixed(1);
  const parts: string[] = [];
  for (const span of opts.spans ?? []) parts.push(`<rect class="blocked" x="${x(span.fromS)}" y="${pad.top}" width="${Math.max(1, Number(x(span.toS)) - Number(x(span.fromS))).toFixed(1)}" height="${h}"><title>blocked, frames ${span.fromFrame}-${span.toFrame}</title></rect>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<line class="grid" x1="${pad.left}" x2="${plotWidth - pad.right}" y1="${y(v)}" y2="${y(v)}"/><text class="axis" x="${pad.left - 6}" y="${Number(y(v)) + 4}" text-anchor="end">${+v.toFixed(2)}</text>`);
  }
  for (let i = 0; i <= 5; i++) parts.push(`<text class="axis" x="${x((tMax * i) / 5)}" y="${plotHeight - 8}" text-anchor="middle">${((tMax * i) / 5).toFixed(1)} s</text>`);
  if (opts.threshold !== undefined) parts.push(`<line class="threshold" x1="${pad.left}" x2="${plotWidth - pad.right}" y1="${y(opts.threshold)}" y2="${y(opts.threshold)}"/>`);
  for (const line of lines) {
    let d = '';
    let pen = false;
    for (const p of series) {
      const v = line.value(p);
      if (v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(p.s)} ${y(v)}`;
      pen = true;
    }
    parts.push(`<path class="series" data-series="${esc(line.name)}" stroke="${line.colour}" d="${d}"/>`);
  }
  const legend = lines.map((l) => `<span class="key" style="background:${l.colour}"></span>${esc(l.name)}`).join(' ');
  return `<figure class="plot" id="${id}"><svg viewBox="0 0 ${plotWidth} ${plotHeight}" role="img" aria-label="${esc(caption)}">${parts.join('')}</svg><figcaption>${esc(caption)}: ${legend}</figcaption></figure>`;
}

/** The road statistics, plots and blocked spans of one source; `n` tells the plots' ids apart. */
function roadSection(r: SourceRoad, n: number, titled: boolean): string {
  const road = r.road;
  const distRow = (name: string, d: RoadSummary['drivablePct']) => `<tr><th>${name}</th><td>${fmt(d?.mean)}</td><td>${fmt(d?.min)}</td><td>${fmt(d?.p5)}</td><td>${fmt(d?.p50)}</td><td>${fmt(d?.p95)}</td><td>${fmt(d?.max)}</td></tr>`;
  const id = (name: string) => (n === 0 ? `plot-${name}` : `plot-${name}-${n + 1}`);
  const plots = [
    plot(id('road'), 'drivable % and ego corridor % over time (shaded: ego corridor blocked)', r.series, [
      { name: 'drivable %', colour: '#2f9e44', value: (p) => p.drivablePct },
      { name: 'ego corridor %', colour: '#e8590c', value: (p) => p.egoCorridorPct },
    ], 100, { threshold: road.blockedBelowPct, spans: r.spans }),
  ];
  if (r.series.some((p) => p.confidence !== null)) plots.push(plot(id('confidence'), 'confidence over time', r.series, [{ name: 'confidence', colour: '#1971c2', value: (p) => p.confidence }], 1));
  if (r.series.some((p) => p.lanes !== null)) plots.push(plot(id('lanes'), 'lanes found over time', r.series, [{ name: 'lanes', colour: '#9c36b5', value: (p) => p.lanes }], Math.max(2, ...r.series.map((p) => p.lanes ?? 0))));
  const spans = r.spans.length
    ? `<table class="spans"><tr><th>from</th><th>to</th><th>frames</th><th>lowest ego corridor %</th></tr>${r.spans
        .slice(0, 200)
        .map((s) => `<tr><td>${s.fromS.toFixed(2)} s</td><td>${s.toS.toFixed(2)} s</td><td>${s.fromFrame}-${s.toFrame}</td><td>${s.minPct.toFixed(1)}</td></tr>`)
        .join('')}</table>${r.spans.length > 200 ? `<p>(the first 200 of ${road.blockedSpans} spans)</p>` : ''}`
    : '<p>The ego corridor was never below the threshold.</p>';
  return `<section class="source">
<h2>Road${titled ? `: ${esc(r.source)}` : ''}</h2>
<table class="road"><tr><th></th><th>mean</th><th>min</th><th>p5</th><th>median</th><th>p95</th><th>max</th></tr>${distRow('drivable %', road.drivablePct)}${distRow('ego corridor %', road.egoCorridorPct)}</table>
<p>Ego corridor below ${road.blockedBelowPct} % for ${road.blockedS.toFixed(1)} s (${road.blockedFrames} of ${road.frames} frames, ${road.blockedSpans} spans); ${road.lowConfidence} low-confidence and ${road.stale} stale frames.</p>
${plots.join('\n')}
<h3>Spans with the ego corridor blocked</h3>
${spans}
</section>`;
}

export function renderReport(r: ReportData): string {
  const roads = r.roads.length ? r.roads.map((x, n) => roadSection(x, n, r.roads.length > 1)).join('\n') : `<p>No signal: no frame went through the pipeline.</p>`;
  const sheet = r.sheet.length
    ? `<div class="sheet">${r.sheet.map((f) => `<figure><img alt="overlay of frame ${f.frame}" src="data:image/jpeg;base64,${f.jpeg.toString('base64')}"><figcaption>frame ${f.frame} · ${f.s.toFixed(2)} s</figcaption></figure>`).join('')}</div>`
    : `<p>${esc(r.sheetNote ?? 'No frames.')}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(r.title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1000px;padding:0 1em;color:#1d2329;background:#fff}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}h3{font-size:1em}
table{border-collapse:collapse}th,td{padding:.2em .8em;text-align:right;border-bottom:1px solid #e3e7eb}th:first-child{text-align:left}
.facts th{text-align:left;color:#5b6570;font-weight:normal}.facts td{text-align:left}
.plot{margin:0}.plot svg{width:100%;height:auto;background:#f8f9fa}
.grid{stroke:#dee2e6}.axis{font-size:11px;fill:#5b6570}.series{fill:none;stroke-width:1.6}
.threshold{stroke:#c92a2a;stroke-dasharray:5 4}.blocked{fill:#ffc9c9;opacity:.6}
.key{display:inline-block;width:1.2em;height:.35em;margin:0 .3em .15em .8em;vertical-align:middle}
.sheet{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:.6em}.sheet figure{margin:0}.sheet img{width:100%;display:block}
figcaption{color:#5b6570;font-size:.9em}
</style></head><body>
<h1>${esc(r.title)}</h1>
<h2>Run</h2>
<table class="facts">${r.facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
${roads}
<h2>Contact sheet</h2>
${sheet}
</body></html>
`;
}

/** `n` items spread evenly over the list, first and last included. */
export function evenlySpaced<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.round((i * (items.length - 1)) / (n - 1))]!);
}
