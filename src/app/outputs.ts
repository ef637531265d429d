/**
 * The one place that checks a run's output files, before the model loads: each must differ from
 * the input and from every other output (exit 2), be creatable or writable as a file (exit 5:
 * a folder in its place, a read-only file or place, a name too long), and not be in use by another
 * roadseg run (an advisory lock file beside it, holding the owner's pid; exit 5). Nothing is
 * truncated here: a run that fails later leaves an older file of the same name as it was.
 */
import { closeSync, existsSync, openSync, readFileSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { SinkUri, SourceUri } from '../core/uri.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { ensureWritableDir } from '../util/output.js';

export interface OutputFile {
  path: string;
  /** What the file is, for messages: "video sink", "--summary", ... */
  what: string;
}

export interface OutputClaim {
  /** Releases the locks (idempotent). */
  release(): void;
}

/** Lock files this process holds, removed at exit whatever happens. */
const held = new Set<string>();
process.on('exit', () => {
  for (const lock of held) rmSync(lock, { force: true });
});

/** A file's identity: its real path (an existing file's, or its existing folder's plus its name). */
function identity(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    try {
      return join(realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/** The output files a run's sinks write, with what they are. */
export function sinkOutputs(sinks: readonly SinkUri[]): OutputFile[] {
  const files: OutputFile[] = [];
  for (const s of sinks) {
    if (s.kind === 'video') files.push({ path: s.path, what: 'video sink' });
    else if (s.kind === 'signal' && s.path !== '-') files.push({ path: s.path, what: 'signal sink' });
  }
  return files;
}

/** Checks the outputs against the sources and each other, their places, and locks them. */
export function claimOutputs(sources: readonly SourceUri[], sinks: readonly SinkUri[], extra: readonly OutputFile[] = []): OutputClaim {
  if (sinks.filter((s) => s.kind === 'signal' && s.path === '-').length > 1) {
    throw new RoadsegError('standard output is given twice as a signal sink', { where: 'the sinks', hint: 'give - (or signal:-) once', exitCode: ExitCode.usage });
  }
  const files = [...sinkOutputs(sinks), ...extra];
  const inputs = new Set(sources.flatMap((s) => ((s.kind === 'video' || s.kind === 'images') && existsSync(s.path) ? [identity(s.path)] : [])));
  const seen = new Map<string, OutputFile>();
  for (const f of files) {
    const id = identity(f.path);
    if (inputs.has(id)) {
      throw new RoadsegError(`the ${f.what} ${f.path} is the input file: writing it would destroy the input`, { where: resolve(f.path), hint: 'write the output to another file name', exitCode: ExitCode.usage });
    }
    const other = seen.get(id);
    if (other) {
      throw new RoadsegError(`the same file is given twice as an output (${other.what} and ${f.what}): ${f.path}`, { where: resolve(f.path), hint: 'give each output its own file name', exitCode: ExitCode.usage });
    }
    seen.set(id, f);
  }
  for (const f of files) checkWritable(f);
  const locks: string[] = [];
  try {
    for (const f of files) locks.push(lock(f));
  } catch (e) {
    unlock(locks);
    throw e;
  }
  return { release: () => unlock(locks.splice(0)) };
}

function outputError(f: OutputFile, why: string, hint = 'choose a writable location'): RoadsegError {
  return new RoadsegError(`cannot write the ${f.what} ${f.path}: ${why}`, { where: resolve(f.path), hint, exitCode: ExitCode.output });
}

/** Probes the file as the sink will open it, without truncating an existing one. */
function checkWritable(f: OutputFile): void {
  const abs = resolve(f.path);
  if (Buffer.byteLength(basename(abs)) > 255) throw outputError(f, `the file name is ${Buffer.byteLength(basename(abs))} bytes long, more than the 255 a file system allows`, 'give a shorter file name');
  ensureWritableDir(dirname(abs), f.path);
  const existed = existsSync(abs);
  if (existed && statSync(abs).isDirectory()) throw outputError(f, 'a folder of that name is in the way', 'give a file name, or remove the folder');
  try {
    closeSync(openSync(abs, existed ? 'r+' : 'wx'));
  } catch (e) {
    throw outputError(f, messageOf(e));
  }
  if (!existed) rmSync(abs, { force: true });
}

/** The lock file beside an output: `.NAME.roadseg-lock`, holding the pid of the run writing it. */
function lock(f: OutputFile): string {
  const abs = identity(f.path);
  const path = join(dirname(abs), `.${basename(abs)}.roadseg-lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      held.add(path);
      return path;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(f, `cannot create its lock file ${path}: ${messageOf(e)}`);
    }
    const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (held.has(path) || (owner !== process.pid && isAlive(owner))) {
      throw outputError(f, `it is being written by another roadseg run (pid ${owner === process.pid ? 'this one' : owner})`, `wait for that run to end, or write elsewhere (the lock is ${path})`);
    }
    // Left behind by a run that was killed: take it over.
    rmSync(path, { force: true });
  }
  throw outputError(f, `its lock file ${path} keeps reappearing`);
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unlock(locks: readonly string[]): void {
  for (const l of locks) {
    rmSync(l, { force: true });
    held.delete(l);
  }
}
