/**
 * `roadseg worker REDIS_URL --queue NAME`: runs fleet jobs through the `roadseg run` pipeline until
 * SIGTERM/SIGINT (the jobs in progress finish first; a second signal stops them) or, with
 * --exit-when-idle, until the queue is empty. Exit 143 / 130 after a signal.
 */
import { Option, type Command } from 'commander';
import { deviceChoices } from '../engine/devices.js';
import { fleetDefaults } from '../fleet/jobs.js';
import { runWorker, type WorkerOptions } from '../fleet/worker.js';
import { interruptExitCode } from '../util/interrupts.js';
import { intArg, numberArg, stderrLog } from './args.js';

type WorkerFlags = Pick<WorkerOptions, 'queue' | 'outDir' | 'concurrency' | 'device' | 'threads' | 'modelsDir' | 'exitWhenIdle'> & { lockDuration: number; closeTimeout: number };

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run fleet jobs from a BullMQ queue on Redis (see docs/fleet.md)')
    .argument('<redis-url>', 'redis://HOST:PORT/DB (credentials: ROADSEG_REDIS_USERNAME, ROADSEG_REDIS_PASSWORD)')
    .requiredOption('-q, --queue <name>', 'queue name')
    .option('--out-dir <dir>', 'output root instead of the one given at submit (e.g. a per-machine folder)')
    .option('--concurrency <n>', 'jobs run at once in this process', intArg('--concurrency'), 1)
    .addOption(new Option('-d, --device <device>', 'execution provider; an explicit one never falls back').choices(deviceChoices).default('auto'))
    .option('--threads <n>', 'CPU inference threads per job (default: the cores shared among the concurrent jobs)', intArg('--threads'))
    .option('--models-dir <dir>', 'folder holding the .onnx weights (else $ROADSEG_MODELS_DIR, ./models-data, ../shared/models)')
    .option('--lock-duration <ms>', 'how long a job stays claimed without renewal; must exceed the longest event-loop block', intArg('--lock-duration', 1000), fleetDefaults.lockDurationMs)
    .option('--close-timeout <s>', 'after a stop, once no job of this worker runs, how long Redis gets to take the results and close; then the worker exits anyway', numberArg('--close-timeout', 0, 3600), fleetDefaults.closeTimeoutS)
    .option('--exit-when-idle', 'exit when nothing is waiting, delayed or active in the queue')
    .action(async (redisUrl: string, flags: WorkerFlags) => {
      const { completed, failed, signal, closed } = await runWorker({
        redisUrl,
        queue: flags.queue,
        ...(flags.outDir && { outDir: flags.outDir }),
        concurrency: flags.concurrency,
        device: flags.device,
        ...(flags.threads && { threads: flags.threads }),
        ...(flags.modelsDir && { modelsDir: flags.modelsDir }),
        lockDurationMs: flags.lockDuration,
        closeTimeoutMs: flags.closeTimeout * 1000,
        exitWhenIdle: !!flags.exitWhenIdle,
        log: stderrLog,
      });
      stderrLog(`worker done: ${completed} jobs completed, ${failed} attempts failed`);
      if (signal) process.exitCode = interruptExitCode(signal);
      // The connections of a Redis that is down keep retrying and would keep the process alive.
      if (!closed) process.exit();
    });
}
