/**
 * The run's road statistics, per source, and, with a path (`--report FILE.html`), its HTML report
 * written when the run ends. An `every` sink: it sees every frame's signal in order, and the stale ticks of a
 * live source. For the contact sheet it keeps small JPEG thumbnails of evenly spaced overlay frames
 * (every k-th frame, k doubling when too many are kept), so memory stays bounded on any run.
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import type { SignalMessage } from '../core/signal.js';
import type { SourceState } from '../core/frame.js';
import { RoadStats, type RoadSummary } from '../stages/road-stats.js';
import { cv } from '../util/cv.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { ensureWritableDir } from '../util/output.js';
import { plural } from '../util/text.js';
import { evenlySpaced, renderReport, type ContactFrame } from './report-html.js';

/** Pictures on the contact sheet. */
const contactSheetSize = 12;
const thumbnailWidth = 320;

export class RoadReportSink implements Sink {
  readonly name: string;
  readonly policy = 'every' as const;
  /** Per source id, in the order of their first frames. */
  readonly road = new Map<string, RoadStats>();
  /** A live source's state as its last message gave it (core/frame.ts SourceState): stale, then offline, while it has no picture. */
  sourceState: SourceState = 'online';
  private context: PipelineContext | undefined;
  private kept: ContactFrame[] = [];
  private step = 1;
  private seen = 0;
  private openedAt = 0;
  private firstPtsMs: number | undefined;

  /** `path`: where to write the HTML report; none: statistics only. */
  constructor(
    readonly path: string | undefined,
    private readonly blockedBelowPct: number,
  ) {
    this.name = path ? `report ${path}` : 'road statistics';
    if (path) ensureWritableDir(dirname(resolve(path)), path);
  }

  open(ctx: PipelineContext): void {
    this.context = ctx;
    this.openedAt = performance.now();
  }

  async write(frame: ProcessedFrame): Promise<void> {
    this.sourceState = 'online';
    this.statsOf(frame.signal.source).add(frame.signal);
    this.firstPtsMs ??= frame.meta.ptsMs;
    if (!this.path || this.seen++ % this.step !== 0) return;
    const small = await frame.overlay.resizeAsync(Math.round((frame.overlay.rows * thumbnailWidth) / frame.overlay.cols), thumbnailWidth, 0, 0, cv.INTER_AREA);
    try {
      const jpeg = await cv.imencodeAsync('.jpg', small, [cv.IMWRITE_JPEG_QUALITY, 75]);
      this.kept.push({ frame: frame.meta.index, s: (frame.meta.ptsMs - this.firstPtsMs) / 1000, jpeg });
    } finally {
      small.release();
    }
    if (this.kept.length >= 2 * contactSheetSize) {
      this.kept = this.kept.filter((_, i) => i % 2 === 0);
      this.step *= 2;
    }
  }

  writeSignal(message: SignalMessage): void {
    this.sourceState = message.status === 'stale' ? message.sourceState ?? 'offline' : 'online';
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

  close(): void {
    if (!this.path || !this.context) return;
    const { stream, streams, manifest, device, stats } = this.context;
    const elapsedS = (performance.now() - this.openedAt) / 1000;
    const frames = stats?.framesOut ?? this.seen;
    const drops = [...(stats?.drops ?? [])].map(([cause, n]) => `${n} ${cause}`).join(', ') || 'none';
    const html = renderReport({
      title: `roadseg report: ${streams.map((s) => s.sourceId).join(', ') || stream.sourceId}`,
      facts: [
        ...streams.map((s): [string, string] => [streams.length > 1 ? `source ${s.sourceId}` : 'source', `${s.uri} (${s.kind}, ${s.width}x${s.height} @ ${s.fps.toFixed(2)} fps)`]),
        ['model', `${manifest.id} (${manifest.name})`],
        ['device', device],
        ['frames', `${plural(frames, 'frame')} through the pipeline in ${elapsedS.toFixed(1)} s`],
        ['fps', elapsedS > 0 ? (frames / elapsedS).toFixed(2) : 'n/a'],
        ['drops', drops],
        ['written', new Date().toISOString()],
      ],
      roads: [...this.road].map(([id, r]) => ({ source: id, road: r.summary(), series: r.series, spans: r.spans })),
      sheet: evenlySpaced(this.kept, contactSheetSize),
      sheetNote: 'No frame went through the pipeline.',
    });
    try {
      writeFileSync(this.path, html);
    } catch (e) {
      throw new RoadsegError(`cannot write the report: ${messageOf(e)}`, { where: this.path, exitCode: ExitCode.output, cause: e });
    }
  }
}
