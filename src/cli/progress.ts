/**
 * What `run` shows while it runs. On a terminal: a bar whose total is the number of frames this
 * run will process (start, duration and stride taken into account), or, when that is unknown (a
 * loop, a live source, the freshest-frame policy), a spinner with frames and fps and no ETA. When
 * standard error is not a terminal (a service, a log file): a one-line status every few seconds.
 */
import cliProgress from 'cli-progress';
import type { StreamInfo } from '../core/frame.js';
import type { PipelineHandle } from '../pipeline/graph.js';
import { stderrLog } from './args.js';

export interface PlanOptions {
  start?: number | undefined;
  duration?: number | undefined;
  stride: number;
  loop: boolean;
  /** The freshest-frame policy (live sources, --realtime): frames are dropped, the count is unknown. */
  freshest: boolean;
}

/**
 * Frames the run will process, or undefined when unknown. A video file's frame count is its
 * container's; frames from `start` to `start + duration` are kept (as the source does: pts in
 * [start, end)), then every `stride`-th. An image folder's count already applies them.
 */
export function plannedFrames(info: StreamInfo, o: PlanOptions): number | undefined {
  if (o.loop || o.freshest || info.live || !info.frameCount) return undefined;
  if (info.kind === 'images') return info.frameCount;
  // The source compares pts with the bounds less half a millisecond.
  const first = (s: number) => Math.max(0, Math.ceil(((s * 1000 - 0.5) * info.fps) / 1000));
  const from = Math.min(info.frameCount, first(o.start ?? 0));
  const to = o.duration === undefined ? info.frameCount : Math.min(info.frameCount, first((o.start ?? 0) + o.duration));
  return Math.ceil(Math.max(0, to - from) / o.stride);
}

export interface Progress {
  /** A log line that does not tear the bar. */
  log(line: string): void;
  /** Leaves the bar on its own line, finished at 100 % when `complete`. Idempotent. */
  stop(complete: boolean): void;
}

const spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** The bar on a terminal; undefined when standard error is not one. */
export function startProgressBar(p: PipelineHandle, total: number | undefined): Progress | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: total ? ' {bar} {percentage}% | {value}/{total} frames | {fps} fps | ETA {eta_formatted}' : ' {spin} {value} frames | {fps} fps | {duration_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      forceRedraw: true,
      etaBuffer: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let turn = 0;
  const payload = () => ({ fps: p.stats.fps.toFixed(1), spin: spinner[turn++ % spinner.length] });
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
      if (complete && total) bar.setTotal(p.stats.framesOut);
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
