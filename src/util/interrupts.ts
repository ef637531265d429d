/**
 * SIGINT and SIGTERM for the whole process, in one place. Node's default action for them ends the
 * process by the signal itself: a second Ctrl-C arriving just as a command removes its own handler
 * (a run writing its summary) would then cut that short and report no exit status at all. So one
 * handler is installed when the CLI starts and kept until the process exits:
 *
 * - while a command has a handler (`onInterrupt`), the signal goes to it;
 * - before any command has one, the process exits at once with 130 / 143, as the default action
 *   would stop it, but with the documented status (nothing has been written yet);
 * - once a command has released its handler it is finishing what it writes: a signal then is only
 *   noted (the exit status becomes 130 / 143 if it would be 0), and a further one exits at once
 *   (someone insists: a command that hangs after its handler is gone can still be stopped).
 */

import { ExitCode } from './errors.js';

export type Interrupt = 'SIGINT' | 'SIGTERM';

/** The documented exit status of a command stopped by this signal. */
export function interruptExitCode(sig: Interrupt): number {
  return sig === 'SIGTERM' ? 143 : ExitCode.interrupted;
}

let installed = false;
let handler: ((sig: Interrupt) => void) | undefined;
/** A command's handler was released: it is finishing its outputs. */
let finishing = false;
/** The signal noted while finishing. */
let noted: Interrupt | undefined;

/**
 * The last 'exit' listener (added once the event loop has emptied, after every other). Node,
 * ending on its own, closes its signal handles after the 'exit' event, which restores the default
 * action for the 20-40 ms its teardown then takes (native libraries' destructors): a second Ctrl-C
 * in that time ended the process by the signal after all. `process.exit` skips that teardown, as
 * it always does, and the handler stays installed to the end. Everything is written by then
 * (standard streams to files, pipes and terminals are synchronous on Linux).
 */
function endKeepingSignalsCaught(code: number): void {
  process.exit(process.exitCode ?? code);
}

/** Installs the process's one SIGINT / SIGTERM handler (once; `onInterrupt` does it too). */
export function installInterrupts(): void {
  if (installed) return;
  installed = true;
  const onSignal = (sig: Interrupt) => {
    if (handler) return handler(sig);
    if (finishing && !noted) {
      noted = sig;
      return;
    }
    process.exit(interruptExitCode(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.once('beforeExit', () => process.on('exit', endKeepingSignalsCaught));
  // A signal noted after the command's handler was released makes a success 130 / 143; any other
  // status the command set stands.
  process.on('exit', () => {
    if (noted && !process.exitCode) process.exitCode = interruptExitCode(noted);
  });
}

/**
 * Sends SIGINT / SIGTERM to `handle` until the returned function is called; after that, a signal
 * is noted and the process ends with 130 / 143 once the command is done (see above).
 */
export function onInterrupt(handle: (sig: Interrupt) => void): () => void {
  installInterrupts();
  handler = handle;
  return () => {
    if (handler !== handle) return;
    handler = undefined;
    finishing = true;
  };
}
