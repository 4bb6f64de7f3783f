// latest/<recipe>/<step>: a relative symlink to the step's result in the recipe's latest run,
// for people looking for outputs.

import { randomUUID } from 'node:crypto';
import { lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { rename, rm, symlink } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { Entry } from './entry.js';
import type { CacheLayout } from './layout.js';

/**
 * Points latest/<recipe>/<step> at the step's result, cache hits included: a step without
 * outputs gets none (and loses an old one). Relative links, so a moved cache stays valid. A
 * link that already points there is left alone: a cached re-run rewrites nothing.
 */
export async function linkLatest(layout: CacheLayout, recipeName: string, stepId: string, entry: Entry): Promise<void> {
  const dir = layout.latestDir(recipeName);
  const final = layout.latestLink(recipeName, stepId);
  // An lstat first: most steps have no link yet, and a failed readlink costs an exception.
  const current = lstatSync(final, { throwIfNoEntry: false })?.isSymbolicLink() ? readlinkSync(final) : undefined;
  if (Object.keys(entry.outputs).length === 0) {
    if (current !== undefined) await rm(final, { force: true });
    return;
  }
  const target = relative(dir, layout.entryDir(entry.key));
  if (current === target) return;
  mkdirSync(dir, { recursive: true });
  if (current === undefined) {
    try {
      await symlink(target, final);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another run made it meanwhile
    }
  }
  // Replaced through a temporary name and a rename, so a reader never finds the link missing.
  const tmp = join(dir, `.${basename(final)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  await symlink(target, tmp);
  await rename(tmp, final);
}
