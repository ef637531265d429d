import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ExitCode, RoadsegError, messageOf } from './errors.js';

/** Creates an output folder if missing, or fails clearly when it cannot be written. */
export function ensureWritableDir(dir: string, what = dir): void {
  try {
    makeDir(resolve(dir));
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new RoadsegError(`cannot write to the output folder of ${what}: ${messageOf(e)}`, { where: resolve(dir), hint: 'choose a writable location', exitCode: ExitCode.output });
  }
}

/**
 * `mkdir -p`, failing with the real cause. Node's recursive mkdir reports a folder it could not
 * create on a read-only file system as ENOENT (it stats the path after EROFS and returns that
 * error); made one level at a time, the first missing folder's own error (EROFS, EACCES) is thrown.
 */
function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const missing: string[] = [];
    for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
    for (const d of missing) mkdirSync(d);
  }
}

/**
 * A whole output file written at once (a report): into a temporary file beside it, then renamed
 * into place, so a failure (a full disk, a file-size limit) leaves no truncated file and an older
 * one as it was; the failure is an output error naming the file.
 */
export function writeOutputFile(path: string, data: string | Uint8Array, what: string, hint = 'check the disk space and the file-size limit (ulimit -f), or give another path'): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch (e) {
    rmSync(temporary, { force: true });
    throw new RoadsegError(`cannot write the ${what} ${path}: ${messageOf(e)}`, { where: resolve(path), hint, exitCode: ExitCode.output, cause: e });
  }
}
