// Where the flow package lives: steps/, python-steps/ and dist/ are found
// relative to it, whether flow runs from dist/ or from sources under vitest.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'python-steps'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('flow: cannot find the package root (package.json beside python-steps/)');
    dir = up;
  }
  return dir;
}

export const ROOT = findRoot();

/** True when running compiled JS from dist/, false under vitest on .ts sources. */
export const RUNNING_COMPILED = import.meta.url.endsWith('.js');
