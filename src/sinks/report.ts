/**
 * The run's road statistics, per source, and, with a path (`--report FILE.html`), its HTML report
 * written when the run ends (`{source}` in the path: one report per source). An `every` sink: it
 * sees every frame's signal in order, and the stale ticks of a live source. For the contact sheet
 * it keeps small JPEG thumbnails of evenly spaced overlay frames (every k-th frame, k doubling when
 * too many are kept), so memory stays bounded on any run.
 */
import { dirname, resolve } from 'node:path';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import { sourceStateOf, type SignalMessage } from '../core/signal.js';
import type { SourceState } from '../core/frame.js';
import { RoadStats, type RoadSummary } from '../stages/road-stats.js';
import { perSourcePath, redactUri } from '../core/uri.js';
import { cv } from '../util/cv.js';
import type { RoadsegError } from '../util/errors.js';
import { ensureWritableDir, writeOutputFile } from '../util/output.js';
import { plural } from '../util/text.js';
import { evenlySpaced, renderReport, type ContactFrame, type ReportData } from './report-html.js';

/** Pictures on the contact sheet. */
const contactSheetSize = 12;
const thumbnailWidth = 320;

/** One contact sheet's thumbnails: every k-th frame, k doubling when too many are kept. */
class ContactSheet {
  private kept: ContactFrame[] = [];
  private step = 1;
  private seen = 0;

  /** Counts a frame; true when it is one to keep. */
  due(): boolean {
    return this.seen++ % this.step === 0;
  }

  add(frame: ContactFrame): void {
    this.kept.push(frame);
    if (this.kept.length >= 2 * contactSheetSize) {
      this.kept = this.kept.filter((_, i) => i % 2 === 0);
      this.step *= 2;
    }
  }

  pictures(): ContactFrame[] {
    return evenlySpaced(this.kept, contactSheetSize);
  }
}

export class RoadReportSink implements Sink {
  readonly name: string;
  readonly policy = 'every' as const;
  /** Per source id, in the order of their first frames. */
  readonly road = new Map<string, RoadStats>();
  /** A live source's state as its last message gave it (core/frame.ts SourceState): stale, then offline, while it has no picture. */
  sourceState: SourceState = 'online';
  private context: PipelineContext | undefined;
  /** `{source}` in the path: one report per source, each with its own contact sheet. */
  private readonly perSource: boolean;
  /** Per source id with `{source}`, else one under ''. */
  private readonly sheets = new Map<string, ContactSheet>();
  private seen = 0;
  private openedAt = 0;
  private firstPtsMs: number | undefined;

  /** `path`: where to write the HTML report (`{source}` in it: one per source, as sink paths); none: statistics only. */
  constructor(
    readonly path: string | undefined,
    private readonly blockedBelowPct: number,
  ) {
    this.name = path ? `report ${path}` : 'road statistics';
    this.perSource = path?.includes('{source}') ?? false;
    // A path with {source} names its folders per source: the output check makes those.
    if (path && !this.perSource) ensureWritableDir(dirname(resolve(path)), path);
  }

  open(ctx: PipelineContext): void {
    this.context = ctx;
    this.openedAt = performance.now();
  }

  async write(frame: ProcessedFrame): Promise<void> {
    this.sourceState = 'online';
    this.statsOf(frame.signal.source).add(frame.signal);
    this.firstPtsMs ??= frame.meta.ptsMs;
    this.seen++;
    if (!this.path) return;
    const sheet = this.sheetOf(this.perSource ? frame.signal.source : '');
    if (!sheet.due()) return;
    const small = await frame.overlay.resizeAsync(Math.round((frame.overlay.rows * thumbnailWidth) / frame.overlay.cols), thumbnailWidth, 0, 0, cv.INTER_AREA);
    try {
      const jpeg = await cv.imencodeAsync('.jpg', small, [cv.IMWRITE_JPEG_QUALITY, 75]);
      sheet.add({ frame: frame.meta.index, s: (frame.meta.ptsMs - this.firstPtsMs) / 1000, jpeg });
    } finally {
      small.release();
    }
  }

  writeSignal(message: SignalMessage): void {
    const state = sourceStateOf(message);
    // The marker of a source that failed and ended says nothing of the live source's state.
    if (state !== 'ended') this.sourceState = state;
    this.statsOf(message.source).add(message);
  }

  /** Per source id. */
  summaries(): Record<string, RoadSummary> {
    return Object.fromEntries([...this.road].map(([id, r]) => [id, r.summary()]));
  }

  private statsOf(sourceId: string): RoadStats {
    let r = this.road.get(sourceId);
    if (!r) this.road.set(sourceId, (r = new RoadStats(this.blockedBelowPct)));
    return r;
  }

  private sheetOf(key: string): ContactSheet {
    let sheet = this.sheets.get(key);
    if (!sheet) this.sheets.set(key, (sheet = new ContactSheet()));
    return sheet;
  }

  close(): void {
    if (!this.path || !this.context) return;
    const { stream, streams, manifest, device, stats } = this.context;
    const elapsedS = (performance.now() - this.openedAt) / 1000;
    const drops = [...(stats?.drops ?? [])].map(([cause, n]) => `${n} ${cause}`).join(', ') || 'none';
    const common = (frames: number): [string, string][] => [
      ['model', `${manifest.id} (${manifest.name})`],
      ['device', device],
      ['frames', `${plural(frames, 'frame')} through the pipeline in ${elapsedS.toFixed(1)} s`],
      ['fps', elapsedS > 0 ? (frames / elapsedS).toFixed(2) : 'n/a'],
      [this.perSource && streams.length > 1 ? 'drops (every source)' : 'drops', drops],
      ['written', new Date().toISOString()],
    ];
    const fact = (s: typeof stream, several: boolean): [string, string] => [several ? `source ${s.sourceId}` : 'source', `${redactUri(s.uri)} (${s.kind}, ${s.width}x${s.height} @ ${s.fps.toFixed(2)} fps)`];
    const roadOf = (id: string, r: RoadStats) => ({ source: id, road: r.summary(), series: r.series, spans: r.spans });
    if (!this.perSource) {
      this.writeHtml(this.path, {
        title: `roadseg report: ${streams.map((s) => s.sourceId).join(', ') || stream.sourceId}`,
        facts: [...streams.map((s) => fact(s, streams.length > 1)), ...common(stats?.framesOut ?? this.seen)],
        roads: [...this.road].map(([id, r]) => roadOf(id, r)),
        sheet: this.sheetOf('').pictures(),
        sheetNote: 'No frame went through the pipeline.',
      });
      return;
    }
    // One report per source, each written even when another cannot be.
    const errors: RoadsegError[] = [];
    for (const s of streams.length ? streams : [stream]) {
      const road = this.road.get(s.sourceId);
      try {
        this.writeHtml(perSourcePath(this.path, s.sourceId), {
          title: `roadseg report: ${s.sourceId}`,
          facts: [fact(s, false), ...common(road?.summary().frames ?? 0)],
          roads: road ? [roadOf(s.sourceId, road)] : [],
          sheet: this.sheets.get(s.sourceId)?.pictures() ?? [],
          sheetNote: 'No frame of this source went through the pipeline.',
        });
      } catch (e) {
        errors.push(e as RoadsegError);
      }
    }
    if (errors.length) throw errors[0]!;
  }

  private writeHtml(path: string, data: ReportData): void {
    writeOutputFile(path, renderReport(data), 'report');
  }
}
