// Everything a command needs open at once: the cache dir, its database, the
// content store, the file-state memo and the step registry.

import { resolve } from 'node:path';
import { CacheStore } from '../cache/store.js';
import { FileStates } from '../cache/file-state.js';
import { openOrRecover, type DB } from '../store/db.js';
import { Records } from '../store/records.js';
import { KeyLocks } from '../store/locks.js';
import { StepRegistry } from '../steps/registry.js';
import { ROOT } from '../root.js';

export interface Workspace {
  cacheDir: string;
  db: DB;
  store: CacheStore;
  files: FileStates;
  records: Records;
  locks: KeyLocks;
  registry: StepRegistry;
  root: string;
  /** Set when a damaged database was replaced on open: say so once. */
  notice?: string;
  close(): void;
}

/** --cache-dir, else FLOW_CACHE, else cache/ in the flow checkout. */
export function cacheDirFrom(flag: string | undefined): string {
  return resolve(flag ?? process.env.FLOW_CACHE ?? resolve(ROOT, 'cache'));
}

export function openWorkspace(cacheDir: string): Workspace {
  const { db, notice } = openOrRecover(resolve(cacheDir, 'flow.db'));
  if (notice) process.stderr.write(`warning: ${notice}\n`);
  return {
    notice,
    cacheDir,
    db,
    store: new CacheStore(cacheDir, db),
    files: new FileStates(db),
    records: new Records(db),
    locks: new KeyLocks(db),
    registry: new StepRegistry(ROOT),
    root: ROOT,
    close: () => db.close(),
  };
}
