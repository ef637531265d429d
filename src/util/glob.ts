/**
 * Minimal glob: `*` and `?` in the last path component only (dir/*.png). Here rather than beside
 * the image sources so that `roadseg submit` expands globs without loading OpenCV.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ExitCode, RoadsegError } from './errors.js';


/** A glob is `*` or `?` in the last path component (dir/*.png). */
export function isGlob(path: string): boolean {
  return /[*?]/.test(basename(path));
}

export function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}

/** The files a glob names, sorted by name; undefined when `input` is no glob. None is an input error. */
export function expandGlob(input: string): string[] | undefined {
  if (!isGlob(input)) return undefined;
  const dir = dirname(input);
  const re = globToRegExp(basename(input));
  const matches = existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).sort() : [];
  if (!matches.length) {
    throw new RoadsegError(`no files match ${input}`, {
      where: existsSync(dir) ? `folder ${resolve(dir)}` : `folder ${resolve(dir)} (it does not exist)`,
      hint: 'the pattern is matched against file names in that folder (* and ? in the last part only); quote it so the shell does not expand it',
      exitCode: ExitCode.input,
    });
  }
  return matches.map((f) => join(dir, f));
}
