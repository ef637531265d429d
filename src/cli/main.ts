import { Command, CommanderError } from 'commander';
import { RoadsegError } from '../util/errors.js';
import { registerEval } from './eval.js';
import { registerListen } from './listen.js';
import { registerModels } from './models.js';
import { registerRun } from './run.js';
import { registerSegment } from './segment.js';

const program = new Command('roadseg')
  .description('real-time semantic segmentation of driving video, with a drivable-area signal')
  .showHelpAfterError()
  .exitOverride();
registerRun(program);
registerSegment(program);
registerEval(program);
registerModels(program);
registerListen(program);

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
