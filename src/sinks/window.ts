/**
 * An OpenCV window (Qt backend): the freshest frame. A missing display is detected before anything
 * starts, because OpenCV aborts the whole process (uncatchable) when it cannot open one. `q` or Esc
 * in the window asks the pipeline to stop. Several sources are tiled in one window, each tile
 * showing its source's latest overlay.
 */
import { cv, type Mat } from '../util/cv.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';

export function checkDisplay(env: NodeJS.ProcessEnv = process.env): void {
  if (env.DISPLAY || env.WAYLAND_DISPLAY || env.QT_QPA_PLATFORM === 'offscreen') return;
  throw new RoadsegError('no display for --window: DISPLAY is not set', {
    hint: 'run on a desktop session, under a virtual display (`xvfb-run -a roadseg run ...`), or use --out / --serve instead',
    exitCode: ExitCode.usage,
  });
}

/** Tiles of several sources are scaled down to fit this width. */
const maxWindowWidth = 1920;

export class WindowSink implements Sink {
  readonly name = 'window';
  readonly policy = 'latest' as const;
  shown = 0;
  private title = 'roadseg';
  private opened = false;
  /** With several sources: the window's picture, a grid with one tile per source. */
  private grid: { canvas: Mat; tile: { width: number; height: number }; columns: number; slots: Map<string, number> } | undefined;

  constructor(private readonly onQuit: () => void) {
    checkDisplay();
  }

  open(ctx: PipelineContext): void {
    const ids = ctx.streams.map((s) => s.sourceId);
    this.title = `roadseg - ${ids.length > 1 ? ids.join(', ') : ctx.stream.sourceId} (${ctx.manifest.id} on ${ctx.device})`;
    if (ctx.streams.length < 2) return;
    const columns = Math.ceil(Math.sqrt(ctx.streams.length));
    const rows = Math.ceil(ctx.streams.length / columns);
    const first = ctx.streams[0]!;
    const width = Math.floor(Math.min(maxWindowWidth, columns * first.width) / columns);
    const tile = { width, height: Math.round((width * first.height) / first.width) };
    const canvas = new cv.Mat(rows * tile.height, columns * tile.width, cv.CV_8UC3, [0, 0, 0]);
    this.grid = { canvas, tile, columns, slots: new Map(ids.map((id, i) => [id, i])) };
  }

  write(frame: ProcessedFrame): void {
    cv.imshow(this.title, this.grid ? this.tiled(frame) : frame.overlay);
    this.opened = true;
    this.shown++;
    const key = cv.waitKey(1) & 0xff;
    if (key === 'q'.charCodeAt(0) || key === 27) this.onQuit();
  }

  /** The grid with this frame's overlay in its source's tile. */
  private tiled(frame: ProcessedFrame): Mat {
    const { canvas, tile, columns, slots } = this.grid!;
    const slot = slots.get(frame.meta.sourceId) ?? 0;
    const resized = frame.overlay.resize(tile.height, tile.width, 0, 0, cv.INTER_AREA);
    const region = canvas.getRegion(new cv.Rect((slot % columns) * tile.width, Math.floor(slot / columns) * tile.height, tile.width, tile.height));
    resized.copyTo(region);
    region.putText(frame.meta.sourceId, new cv.Point2(8, tile.height - 10), cv.FONT_HERSHEY_SIMPLEX, 0.6, new cv.Vec3(255, 255, 255), 1, cv.LINE_AA);
    resized.release();
    region.release();
    return canvas;
  }

  stats(): Record<string, number> {
    return { shown: this.shown };
  }

  close(): void {
    if (this.opened) cv.destroyAllWindows();
    this.opened = false;
    this.grid?.canvas.release();
    this.grid = undefined;
  }
}
