/**
 * Minimal glob: `*` and `?` in the last path component only (dir/*.png), and the expansion of
 * files, folders and globs into a list. Here rather than beside the image sources so that
 * `roadseg submit` expands its videos without loading OpenCV.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
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

/** What a folder given as an input contributes, and what to do with a path that does not exist. */
export interface InputKind {
  /** Plural noun for messages: `images`, `videos`. */
  noun: string;
  /** Lower-case extensions with the dot; a folder yields its files with these, sorted by name. */
  extensions: ReadonlySet<string>;
  /** A path that does not exist is an input error at once; else it is kept (it fails when read). */
  mustExist: boolean;
}

/** Files, folders and globs, expanded in the order given; a file given by name is taken as is. */
export function expandInputs(inputs: readonly string[], kind: InputKind): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    const matches = expandGlob(input);
    if (matches) {
      out.push(...matches);
    } else if (!existsSync(input)) {
      if (kind.mustExist) throw new RoadsegError(`input not found: ${input}`, { where: resolve(input), hint: 'check the path', exitCode: ExitCode.input });
      out.push(input);
    } else if (statSync(input).isDirectory()) {
      const files = readdirSync(input).filter((f) => kind.extensions.has(extname(f).toLowerCase())).sort();
      if (!files.length) throw new RoadsegError(`no ${kind.noun} in folder ${input}`, { where: resolve(input), hint: `${kind.noun.replace(/s$/, '')} extensions: ${[...kind.extensions].join(' ')}`, exitCode: ExitCode.input });
      out.push(...files.map((f) => join(input, f)));
    } else {
      out.push(input);
    }
  }
  return out;
}
