import { accessSync, constants, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExitCode, RoadsegError, messageOf } from './errors.js';

/** Creates an output folder if missing, or fails clearly when it cannot be written. */
export function ensureWritableDir(dir: string, what = dir): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new RoadsegError(`cannot write to the output folder of ${what}: ${messageOf(e)}`, { where: resolve(dir), hint: 'choose a writable location', exitCode: ExitCode.output });
  }
}

