// First: a signal from here on ends the process with 130 / 143, never by the signal itself.
import { installInterrupts } from '../util/interrupts.js';
import { Command, CommanderError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactUri } from '../core/uri.js';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { packageRoot } from '../util/package.js';

installInterrupts();

const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };

/**
 * The longest argument taken, bytes. Longer ones are not a token, a topic or a path anyone means
 * (a path is at most 4096 bytes on Linux); refused with a usage error before anything is loaded.
 */
const maxArgumentBytes = 8192;

const program = new Command('roadseg')
  .description('real-time semantic segmentation of driving video, with a drivable-area signal')
  .version(version, '-V, --version', 'print the version')
  // Usage errors are printed below, with where / hint lines like every other error.
  .configureOutput({ outputError: () => {} })
  .exitOverride();

// A reader of stdout that went away (`roadseg segment ... | head -1`) is not a failure: what goes
// to files is still written; the signal sink on stdout counts what it could not send.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') process.stderr.write(`roadseg: standard output failed: ${e.message}\n`);
});
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
/** Flags whose values are secrets: never printed. */
const secretFlags = new Set(['--token']);
const asked = process.argv[2];
for (const name of asked && asked in commands ? [asked] : Object.keys(commands)) (await commands[name]!())(program);

// Node ends with 13 when the event loop empties under a pending top-level await: a stalled run.
// Node 20 hands the 'exit' event 0 then, with 13 in process.exitCode. Reported as the bug it is.
process.on('exit', (code) => {
  if (code !== 13 && process.exitCode !== 13) return;
  process.stderr.write('roadseg: internal error: the run stalled with nothing left to wait for (please report it)\n');
  process.exitCode = ExitCode.failure;
});

try {
  refuseLongArguments();
  refuseDashedFileNames();
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    if (e.exitCode !== 0) process.stderr.write(redactUri(usageError(e).describe()) + '\n');
    process.exitCode = e.exitCode === 0 ? 0 : ExitCode.usage;
  } else if (e instanceof RoadsegError) {
    // Every URI in it with its credentials masked (a where-line naming mqtt://user:secret@...).
    process.stderr.write(redactUri(e.describe()) + '\n');
    process.exitCode = e.exitCode;
  } else {
    process.stderr.write(redactUri(`roadseg: internal error (please report it):\n${e instanceof Error ? e.stack : String(e)}`) + '\n');
    process.exitCode = 1;
  }
}

function refuseLongArguments(): void {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => Buffer.byteLength(a) > maxArgumentBytes);
  if (i < 0) return;
  const arg = args[i]!;
  const what = args[i - 1]?.startsWith('-') ? `argument ${i + 1} (after ${args[i - 1]})` : `argument ${i + 1}`;
  throw new RoadsegError(`${what} is ${Buffer.byteLength(arg)} bytes long, more than the ${maxArgumentBytes} an argument may have`, {
    where: commandLine(),
    hint: `give a shorter value: each argument may have at most ${maxArgumentBytes} bytes`,
    exitCode: ExitCode.usage,
  });
}

/**
 * The command line as a where-line: the values of secret flags masked (`--token ***`), arguments
 * past 40 characters shortened.
 */
function commandLine(): string {
  const args = process.argv.slice(2);
  const shown = args.map((a, i) => {
    const [flag, value] = a.split(/=(.*)/s);
    if (value !== undefined && secretFlags.has(flag!)) return `${flag}=***`;
    if (secretFlags.has(args[i - 1] ?? '')) return '***';
    return a.length > 40 ? `${a.slice(0, 20)}...` : a;
  });
  return `the command line: roadseg ${shown.join(' ')}`;
}

/**
 * A file name starting with "-" reads as a flag, or as a short flag and its value (`-clip.mp4` is
 * `-c lip.mp4`, a config file): an argument before `--` that names an existing file is refused.
 */
function refuseDashedFileNames(): void {
  const args = process.argv.slice(2);
  const end = args.indexOf('--');
  for (const arg of end < 0 ? args : args.slice(0, end)) {
    if (arg.length > 1 && arg.startsWith('-') && existsSync(arg)) {
      throw new RoadsegError(`"${arg}" is a file, but reads as a flag`, { where: commandLine(), hint: dashedHint(arg), exitCode: ExitCode.usage });
    }
  }
}

function dashedHint(file: string): string {
  const command = asked && asked in commands ? `roadseg ${asked}` : 'roadseg';
  return `a file name that starts with "-" reads as a flag: write ./${file}, or put -- before it (${command} [flags] -- ${file} ...)`;
}

/** Commander's usage errors as RoadsegErrors: the command line as `where`, what to do as `hint`. */
function usageError(e: CommanderError): RoadsegError {
  const command = asked && asked in commands ? `roadseg ${asked}` : 'roadseg';
  const what = e.message.replace(/^error: /, '');
  const option = /'([^']+)'/.exec(e.message)?.[1];
  let hint = `\`${command} --help\` lists the arguments and flags`;
  if (e.code === 'commander.unknownOption' && option && (existsSync(option) || /\.[a-z0-9]{2,5}$/i.test(option))) {
    hint = dashedHint(option);
  }
  return new RoadsegError(what, { where: commandLine(), hint, exitCode: ExitCode.usage });
}
