/** Read-only places for the output tests: a tmpfs mounted for one describe block. */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { tempDir } from './paths.js';

export interface SuiteMount {
  /** The mount point, once mounted (undefined where mounting is refused: not root). */
  readonly path: string | undefined;
  /** Why it is not mounted, for `ctx.skip`. */
  readonly skip: string;
}

/**
 * Call inside `describe`: a 1 MiB tmpfs mounted before its tests and unmounted after them,
 * read-only once `fill` (if given) has put files in it.
 */
export function readOnlyTmpfsForSuite(fill?: (dir: string) => void): SuiteMount {
  const mount: { path: string | undefined; skip: string } = { path: undefined, skip: '' };
  beforeAll(() => {
    const dir = tempDir('roadseg-ro-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', fill ? 'size=1m' : 'size=1m,ro', 'tmpfs', dir], { stdio: 'ignore' });
      if (fill) {
        fill(dir);
        execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'ignore' });
      }
      mount.path = dir;
    } catch (e) {
      mount.skip = `cannot mount a read-only tmpfs here (needs root): ${(e as Error).message.split('\n')[0]}`;
    }
  });
  afterAll(() => {
    if (mount.path) execFileSync('umount', [mount.path]);
  });
  return mount;
}
