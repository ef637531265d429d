/** A progress bar for files on a terminal (frames, fps, ETA); nothing when stderr is not a TTY. */
import cliProgress from 'cli-progress';
import type { PipelineHandle } from '../pipeline/graph.js';

export function startProgress(p: PipelineHandle): { stop: () => void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  const total = p.context.stream.frameCount;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: total ? ' {bar} {value}/{total} frames | {fps} fps | ETA {eta_formatted}' : ' {value} frames | {fps} fps',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0, { fps: '0.0' });
  const sub = p.results.subscribe(() => bar.update(p.stats.framesOut, { fps: p.stats.fps.toFixed(1) }));
  return {
    stop: () => {
      sub.unsubscribe();
      bar.stop();
    },
  };
}
