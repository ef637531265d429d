/**
 * `roadseg submit REDIS_URL --queue NAME INPUTS... --out-dir DIR`: one fleet job per video file
 * (folders and globs expanded). Submitting the same files with the same options again adds nothing.
 */
import { Option, type Command } from 'commander';
import { expandVideoInputs, openQueue, submitJobs, type JobOptions } from '../fleet/jobs.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { corridorArg, intArg, numberArg } from './args.js';

type SubmitFlags = Omit<JobOptions, 'hud' | 'corridor' | 'video'> & {
  queue: string;
  outDir: string;
  hud: boolean;
  corridor?: string;
  video: boolean;
  json?: boolean;
};

export function registerSubmit(program: Command): void {
  program
    .command('submit')
    .description('add one fleet job per video file to a BullMQ queue on Redis (see docs/fleet.md)')
    .argument('<redis-url>', 'redis://HOST:PORT/DB (credentials: ROADSEG_REDIS_USERNAME, ROADSEG_REDIS_PASSWORD)')
    .argument('<inputs...>', 'video files, folders (their videos) and globs (dir/*.mp4)')
    .requiredOption('-q, --queue <name>', 'queue name')
    .requiredOption('--out-dir <dir>', 'output root: each file gets <dir>/<name>-<id>/ (a worker may override it)')
    .option('-m, --model <id>', 'model id from `roadseg models` (default: the registry default)')
    .option('--input-height <px>', 'model input height for dynamic-size models', intArg('--input-height', 17))
    .option('--start <s>', 'seconds to skip at the start', numberArg('--start', 0, 1e9))
    .option('--duration <s>', 'seconds to process', numberArg('--duration', 0.001, 1e9))
    .option('--stride <n>', 'keep every n-th frame', intArg('--stride'))
    .option('--opacity <a>', 'class colour opacity, 0..1', numberArg('--opacity', 0, 1))
    .option('--corridor <spec>', 'ego corridor: centerX,topY,bottomY,topWidth,bottomWidth (fractions)')
    .option('--no-hud', 'no text line on the overlay')
    .addOption(new Option('--no-video', 'no overlay.mp4, only signal.jsonl and summary.json'))
    .option('--json', 'print the added and known files as JSON')
    .action(async (redisUrl: string, inputs: string[], flags: SubmitFlags) => {
      const options: JobOptions = {
        model: flags.model,
        inputHeight: flags.inputHeight,
        start: flags.start,
        duration: flags.duration,
        stride: flags.stride,
        opacity: flags.opacity,
        ...(!flags.hud && { hud: false }),
        ...(!flags.video && { video: false }),
        ...(flags.corridor && { corridor: corridorArg(flags.corridor) }),
      };
      const files = expandVideoInputs(inputs);
      const queue = openQueue(redisUrl, flags.queue);
      try {
        const { added, known } = await submitJobs(queue, files, options, flags.outDir).catch((e: unknown) => {
          throw new RoadsegError(`cannot submit to ${redisUrl}: ${messageOf(e)}`, { where: redisUrl, hint: 'is redis-server running and reachable there?', exitCode: ExitCode.output });
        });
        if (flags.json) process.stdout.write(JSON.stringify({ added, known }) + '\n');
        else process.stdout.write(`${added.length} added, ${known.length} already known (queue ${flags.queue})\n`);
      } finally {
        await queue.close();
      }
    });
}
