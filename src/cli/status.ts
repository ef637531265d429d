/** `roadseg status REDIS_URL --queue NAME`: job counts, pace, ETA and failures of a fleet queue. */
import type { Command } from 'commander';
import { fleetStatus, openQueue, type FleetStatus } from '../fleet/jobs.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('counts, frames per second over the last minute, ETA and failed jobs of a fleet queue')
    .argument('<redis-url>', 'redis://HOST:PORT/DB')
    .requiredOption('-q, --queue <name>', 'queue name')
    .option('--json', 'print the status as JSON')
    .action(async (redisUrl: string, flags: { queue: string; json?: boolean }) => {
      const queue = openQueue(redisUrl, flags.queue);
      try {
        const status = await fleetStatus(queue).catch((e: unknown) => {
          throw new RoadsegError(`cannot read the queue from ${redisUrl}: ${messageOf(e)}`, { where: redisUrl, hint: 'is redis-server running and reachable there?', exitCode: ExitCode.output });
        });
        process.stdout.write(flags.json ? JSON.stringify(status) + '\n' : describeStatus(status));
      } finally {
        await queue.close();
      }
    });
}

function describeStatus(s: FleetStatus): string {
  const { waiting, active, delayed, completed, failed } = s.counts;
  const eta = s.etaS === null ? 'unknown' : `${Math.floor(s.etaS / 60)} min ${s.etaS % 60} s`;
  const lines = [
    `queue ${s.queue}: ${waiting} waiting, ${active} active, ${delayed} delayed (retry backoff), ${completed} completed, ${failed} failed`,
    `last minute: ${s.fps} frames/s, ${s.filesPerMinute} files/min; ETA ${eta}`,
    ...s.active.map((a) => `  active ${a.id} ${a.input}${a.progress ? `: ${a.progress.framesDone}${a.progress.framesTotal ? `/${a.progress.framesTotal}` : ''} frames` : ''}`),
    ...s.failed.map((f) => `  failed ${f.id} ${f.input} after ${f.attempts} attempt(s):\n    ${f.reason.replace(/\n/g, '\n    ')}`),
  ];
  return lines.join('\n') + '\n';
}
