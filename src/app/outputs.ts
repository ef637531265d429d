/**
 * The one place that checks the files a command writes (`run`'s sinks, --summary and --report,
 * `report -o`, `segment`'s files), before the model loads: each must differ from every input and
 * from every other output, whatever name reaches it (a symbolic link, a hard link; exit 2), be
 * creatable or writable as a file (exit 5: a folder in its place, a read-only file or place, a
 * name too long), and not be in use by another roadseg run (an advisory lock file beside it,
 * holding the owner's pid; exit 5). Nothing is
 * truncated here: a run that fails later leaves an older file of the same name as it was.
 */
import { closeSync, existsSync, lstatSync, openSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { expandImageInputs, type SinkUri, type SourceUri } from '../core/uri.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { ensureWritableDir } from '../util/output.js';

export interface OutputFile {
  path: string;
  /** What the file is, for messages: "video sink", "--summary", ... */
  what: string;
  /** What to do when it names an input or another output (default: another file name). */
  hint?: string;
}

/** A file a command reads, which no output may replace. */
export interface InputFile {
  path: string;
  /** What the file is, for messages: "input file", "signal file", ... */
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

/**
 * How a path names a file: its real path (an existing file's; a dangling symbolic link's target;
 * else its existing folder's real path plus its name) and, when it exists, its device and inode,
 * which also catch a hard link: another name of the same file that no path comparison sees.
 */
interface FileIdentity {
  real: string;
  inode?: string;
}

function identity(path: string): FileIdentity {
  const real = realPath(resolve(path));
  try {
    const st = statSync(real);
    return { real, inode: `${st.dev}:${st.ino}` };
  } catch {
    return { real };
  }
}

/** Symbolic links followed even where they lead to nothing yet (writing there creates their target). */
function realPath(abs: string, depth = 0): string {
  try {
    return realpathSync(abs);
  } catch {
    try {
      if (depth < 40 && lstatSync(abs).isSymbolicLink()) return realPath(resolve(dirname(abs), readlinkSync(abs)), depth + 1);
    } catch {
      // Nothing at that path: its folder decides.
    }
    try {
      return join(realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/** Files looked up by either half of their identity. */
class FileSet<T extends { path: string }> {
  private readonly byReal = new Map<string, T>();
  private readonly byInode = new Map<string, T>();

  add(f: T, id: FileIdentity = identity(f.path)): void {
    this.byReal.set(id.real, f);
    if (id.inode) this.byInode.set(id.inode, f);
  }

  find(id: FileIdentity): T | undefined {
    return this.byReal.get(id.real) ?? (id.inode ? this.byInode.get(id.inode) : undefined);
  }
}

/** How `path` reaches the same file as `other`, for messages: nothing when both are one path. */
function viaOf(path: string, other: string): string {
  if (resolve(path) === resolve(other)) return '';
  if (realPath(resolve(path)) === realPath(resolve(other))) return ` (${path} leads to ${other} through a symbolic link)`;
  return ` (${path} is a hard link to ${other}: one file under two names)`;
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

/** The files a run's sources read: videos and images (a folder's or a glob's, each). */
export function sourceInputs(sources: readonly SourceUri[]): InputFile[] {
  const files: InputFile[] = [];
  for (const s of sources) {
    if (s.kind === 'video' && existsSync(s.path)) files.push({ path: s.path, what: 'input file' });
    else if (s.kind === 'images') files.push(...expandImageInputs([s.path]).filter((p) => existsSync(p)).map((path) => ({ path, what: 'input file' })));
  }
  return files;
}

/**
 * Checks a run's outputs against its sources, the other files it reads (`inputs`: its config
 * file, a model manifest) and each other, their places, and locks them.
 */
export function claimOutputs(sources: readonly SourceUri[], sinks: readonly SinkUri[], extra: readonly OutputFile[] = [], inputs: readonly InputFile[] = []): OutputClaim {
  if (sinks.filter((s) => s.kind === 'signal' && s.path === '-').length > 1) {
    throw new RoadsegError('standard output is given twice as a signal sink', { where: 'the sinks', hint: 'give - (or signal:-) once', exitCode: ExitCode.usage });
  }
  return claimFiles([...sourceInputs(sources), ...inputs.filter((f) => existsSync(f.path))], [...sinkOutputs(sinks), ...extra]);
}

/**
 * The check of every command that writes files (run, report, segment): each output must be none
 * of the inputs and none of the other outputs, by real path and by device and inode, so that a
 * symbolic link, a hard link or `dir/../dir/x` is caught as the same file (exit 2); then each is
 * probed as writable and locked (exit 5).
 */
export function claimFiles(inputs: readonly InputFile[], outputs: readonly OutputFile[]): OutputClaim {
  checkDistinct(inputs, outputs);
  for (const f of outputs) checkWritable(f);
  const locks: string[] = [];
  try {
    for (const f of outputs) locks.push(lock(f));
  } catch (e) {
    unlock(locks);
    throw e;
  }
  return { release: () => unlock(locks.splice(0)) };
}

function checkDistinct(inputs: readonly InputFile[], outputs: readonly OutputFile[]): void {
  const read = new FileSet<InputFile>();
  for (const f of inputs) read.add(f);
  const written = new FileSet<OutputFile>();
  for (const f of outputs) {
    const id = identity(f.path);
    const input = read.find(id);
    if (input) {
      throw new RoadsegError(`the ${f.what} ${f.path} is the ${input.what}: writing it would destroy the ${input.what}${viaOf(f.path, input.path)}`, {
        where: resolve(f.path),
        hint: f.hint ?? 'write the output to another file name',
        exitCode: ExitCode.usage,
      });
    }
    const other = written.find(id);
    if (other) {
      throw new RoadsegError(`the same file is given twice as an output (${other.what} and ${f.what}): ${f.path}${viaOf(f.path, other.path)}`, { where: resolve(f.path), hint: f.hint ?? 'give each output its own file name', exitCode: ExitCode.usage });
    }
    written.add(f, id);
  }
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
  const abs = realPath(resolve(f.path));
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
