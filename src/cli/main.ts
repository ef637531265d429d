import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RoadsegError } from '../util/errors.js';
import { packageRoot } from '../util/package.js';

const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };

const program = new Command('roadseg')
  .description('real-time semantic segmentation of driving video, with a drivable-area signal')
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError()
  .exitOverride();
// Each command's module is loaded only when that command runs (all of them for the overall help):
// `listen` then starts without loading OpenCV and onnxruntime.
const commands: Record<string, () => Promise<(program: Command) => void>> = {
  run: async () => (await import('./run.js')).registerRun,
  segment: async () => (await import('./segment.js')).registerSegment,
  eval: async () => (await import('./eval.js')).registerEval,
  models: async () => (await import('./models.js')).registerModels,
  listen: async () => (await import('./listen.js')).registerListen,
  submit: async () => (await import('./submit.js')).registerSubmit,
  worker: async () => (await import('./worker.js')).registerWorker,
  status: async () => (await import('./status.js')).registerStatus,
  report: async () => (await import('./report.js')).registerReport,
};
const asked = process.argv[2];
for (const name of asked && asked in commands ? [asked] : Object.keys(commands)) (await commands[name]!())(program);

// Node ends with 13 when the event loop empties under a pending top-level await: a stalled run.
process.on('exit', (code) => {
  if (code === 13) process.stderr.write('roadseg: internal error: the run stalled with nothing left to wait for (please report it)\n');
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof RoadsegError) {
    process.stderr.write(e.describe() + '\n');
    process.exitCode = e.exitCode;
  } else {
    process.stderr.write(`roadseg: internal error (please report it):\n${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  }
}
