import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..', '..');
/** ../shared beside the repository (CI lays it there too). */
export const shared = resolve(repoRoot, '..', 'shared');
export const data = join(shared, 'data');
export const modelsDir = join(shared, 'models');
export const videos = join(data, 'videos');
export const cli = join(repoRoot, 'bin', 'roadseg.js');

export function tempDir(prefix = 'roadseg-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

if (!existsSync(data)) throw new Error(`test data not found at ${data}: the tests need ../shared beside the repository`);
