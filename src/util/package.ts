/** Where the installed package lives: its viewer files, inference worker and manifests are found from here. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is at dist/src/util/ or src/util/). */
export const packageRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('roadseg: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();
