/**
 * An OpenCV window (Qt backend): the freshest frame. A missing display is detected before anything
 * starts, because OpenCV aborts the whole process (uncatchable) when it cannot open one. `q` or Esc
 * in the window asks the pipeline to stop.
 */
import { cv } from '../util/cv.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';

export function checkDisplay(env: NodeJS.ProcessEnv = process.env): void {
  if (env.DISPLAY || env.WAYLAND_DISPLAY || env.QT_QPA_PLATFORM === 'offscreen') return;
  throw new RoadsegError('no display for --window: DISPLAY is not set', {
    hint: 'run on a desktop session, under a virtual display (`xvfb-run -a roadseg run ...`), or use --out / --serve instead',
    exitCode: ExitCode.usage,
  });
}

export class WindowSink implements Sink {
  readonly name = 'window';
  readonly policy = 'latest' as const;
  shown = 0;
  private title = 'roadseg';
  private opened = false;

  constructor(private readonly onQuit: () => void) {
    checkDisplay();
  }

  open(ctx: PipelineContext): void {
    this.title = `roadseg - ${ctx.stream.sourceId} (${ctx.manifest.id} on ${ctx.device})`;
  }

  write(frame: ProcessedFrame): void {
    cv.imshow(this.title, frame.overlay);
    this.opened = true;
    this.shown++;
    const key = cv.waitKey(1) & 0xff;
    if (key === 'q'.charCodeAt(0) || key === 27) this.onQuit();
  }

  stats(): Record<string, number> {
    return { shown: this.shown };
  }

  close(): void {
    if (this.opened) cv.destroyAllWindows();
    this.opened = false;
  }
}
