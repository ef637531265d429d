/**
 * Minimal glob: `*` and `?` in the last path component only (dir/*.png). Here rather than beside
 * the image sources so that `roadseg submit` expands globs without loading OpenCV.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ExitCode, RoadsegError } from './errors.js';


export function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}

/** The files a glob names, sorted by name; undefined when `input` is no glob. None is an input error. */
export function expandGlob(input: string): string[] | undefined {
  if (!/[*?]/.test(basename(input))) return undefined;
  const dir = dirname(input);
  const re = globToRegExp(basename(input));
  const matches = existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).sort() : [];
  if (!matches.length) throw new RoadsegError(`no files match ${input}`, { where: resolve(dir), exitCode: ExitCode.input });
  return matches.map((f) => join(dir, f));
}
