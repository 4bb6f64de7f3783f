// Everything a command needs open at once: the cache dir, its database, the
// content store (which owns every path under the cache) and the file-state memo.

import { resolve } from 'node:path';
import { CacheStore } from '../cache/store.js';
import { FileStates } from '../cache/file-state.js';
import { openDb, type DB } from '../store/db.js';
import { Records } from '../store/records.js';
import { ROOT } from '../root.js';

export interface Workspace {
  cacheDir: string;
  db: DB;
  store: CacheStore;
  files: FileStates;
  records: Records;
  root: string;
  close(): void;
}

/** --cache-dir, else FLOW_CACHE, else cache/ in the flow checkout. */
export function cacheDirFrom(flag: string | undefined): string {
  return resolve(flag ?? process.env.FLOW_CACHE ?? resolve(ROOT, 'cache'));
}

export function openWorkspace(cacheDir: string): Workspace {
  const db = openDb(resolve(cacheDir, 'flow.db'));
  return {
    cacheDir,
    db,
    store: new CacheStore(cacheDir, db),
    files: new FileStates(db),
    records: new Records(db),
    root: ROOT,
    close: () => db.close(),
  };
}
