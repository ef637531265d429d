/**
 * What `run` shows while it runs. On a terminal: a bar whose total is the number of frames this
 * run will process (the sources' counts, start, duration and stride applied), or, when that is unknown (a
 * loop, a live source, the freshest-frame policy), a spinner with frames and fps and no ETA. When
 * standard error is not a terminal (a service, a log file): a one-line status every few seconds.
 */
import cliProgress from 'cli-progress';
import type { StreamInfo } from '../core/frame.js';
import type { PipelineHandle } from '../pipeline/graph.js';
import { stderrLog } from './args.js';
import { plural } from '../util/text.js';

/**
 * Frames the run will process, or undefined when unknown: the source's count (the frame window
 * has applied start, duration and stride; a loop has none), unless frames are dropped (the
 * freshest-frame policy of live sources and --realtime).
 */
export function plannedFrames(info: StreamInfo, freshest: boolean): number | undefined {
  return freshest || info.live || !info.frameCount ? undefined : info.frameCount;
}

/**
 * A file's count comes from its container's declared frame count, which can be a little high
 * (edit lists: one shipped clip declares 116 frames and FFmpeg decodes 100), so it is shown as
 * "about"; counting what decodes would cost a pass over the file. An image folder's is exact.
 */
export function isApproximate(info: StreamInfo): boolean {
  return info.kind !== 'images';
}

/** ", about 116 frames" / ", 7 frames" for the where-line, or nothing when the count is unknown. */
export function frameCountText(info: StreamInfo): string {
  if (!info.frameCount) return '';
  return `, ${isApproximate(info) ? 'about ' : ''}${plural(info.frameCount, 'frame')}`;
}

export interface Progress {
  /** A log line that does not tear the bar. */
  log(line: string): void;
  /** Leaves the bar on its own line, finished at 100 % when `complete`. Idempotent. */
  stop(complete: boolean): void;
}

const spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** The bar on a terminal; undefined when standard error is not one. */
export function startProgressBar(p: PipelineHandle, total: number | undefined, approximate = false): Progress | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: total ? ' {bar} {percentage}% | {value}/{about}{total} frames | {fps} fps | ETA {eta_formatted}' : ' {spin} {value} frames | {fps} fps | {duration_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      forceRedraw: true,
      etaBuffer: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let turn = 0;
  // "~" while the total is a container's declared count; a complete run's total is what it processed.
  let about = approximate ? '~' : '';
  const payload = () => ({ fps: p.stats.fps.toFixed(1), spin: spinner[turn++ % spinner.length], about });
  bar.start(total ?? 0, 0, payload());
  const sub = p.results.subscribe(() => bar.update(p.stats.framesOut, payload()));
  let stopped = false;
  return {
    log(line) {
      if (!stopped) process.stderr.write('\r\x1b[2K');
      stderrLog(line);
    },
    stop(complete) {
      if (stopped) return;
      stopped = true;
      sub.unsubscribe();
      // A file's declared frame count can be a little high (edit lists): a complete run ends at 100 %.
      if (complete && total) {
        bar.setTotal(p.stats.framesOut);
        about = '';
      }
      bar.update(p.stats.framesOut, payload());
      bar.stop();
    },
  };
}

/** Without a terminal: `status:` lines every `intervalS` seconds. `state` is a live source's (online, stale, offline). */
export function startStatusLines(p: PipelineHandle, intervalS: number, state?: () => string): { stop(): void } {
  let last = { frames: 0, at: performance.now() };
  const timer = setInterval(() => {
    const now = performance.now();
    const frames = p.stats.framesOut;
    const fps = (frames - last.frames) / ((now - last.at) / 1000);
    last = { frames, at: now };
    const drops = [...p.stats.drops.values()].reduce((a, b) => a + b, 0);
    const p95 = p.stats.latency.get('endToEnd')!.summary().p95;
    const source = p.context.stream.live && state ? `, source ${state()}` : '';
    stderrLog(`status: ${frames} frames, ${fps.toFixed(1)} fps, ${drops} dropped, latency p95 ${p95.toFixed(0)} ms${source}`);
  }, intervalS * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
