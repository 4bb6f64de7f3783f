// Everything a command needs open at once: the cache dir, its database, the
// content store (which owns every path under the cache) and the file-state memo.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CacheLayout } from '../cache/layout.js';
import { CacheStore } from '../cache/store.js';
import { FileStates } from '../cache/file-state.js';
import { openOrRecover, openSnapshot, writable, type DB } from '../store/db.js';
import { KeyLocks } from '../store/locks.js';
import { cannotWrite, Records } from '../store/records.js';
import { UsageError } from '../recipe/errors.js';
import { ROOT } from '../root.js';

export interface Workspace {
  cacheDir: string;
  db: DB;
  store: CacheStore;
  files: FileStates;
  records: Records;
  locks: KeyLocks;
  root: string;
  /** Set when a damaged database was replaced on open (said once on stderr). */
  notice?: string;
  close(): void;
}

/** Where a project keeps its cache, under its root. */
export const PROJECT_CACHE = join('.flow', 'cache');

/**
 * The project a folder belongs to: the nearest folder at or above it that holds a `.git` (a
 * repository or a worktree), else the folder itself. A cache per project, as DVC keeps one: two
 * projects never share run history or `flow runs`, and an installed flow writes nothing into
 * its own checkout.
 */
export function projectRoot(start: string): string {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return dir;
    if (dirname(dir) === dir) return resolve(start);
  }
}

/**
 * --cache-dir, else FLOW_CACHE, else .flow/cache in the project root of the recipe (`recipe`), or
 * of the current directory for the commands that take none (status, runs, log, gc, compare, ...).
 */
export function cacheDirFrom(flag: string | undefined, recipe?: string): string {
  const given = flag ?? process.env.FLOW_CACHE;
  if (given !== undefined && given !== '') return resolve(given);
  return join(projectRoot(recipe !== undefined ? dirname(resolve(recipe)) : process.cwd()), PROJECT_CACHE);
}

/**
 * The workspace of a cache that must exist already: the commands that read history (status,
 * runs, log, attach, compare, report, verify, gc, doctor) never create one, so a mistyped
 * --cache-dir or the wrong folder is one line, not an empty new cache.
 */
export function openExistingWorkspace(cacheDir: string, opts: OpenOptions = {}): Workspace {
  if (!existsSync(new CacheLayout(cacheDir).db)) {
    throw new UsageError(`no flow cache at ${cacheDir} (flow run makes one; or give --cache-dir or FLOW_CACHE)`);
  }
  return openWorkspace(cacheDir, opts);
}

interface OpenOptions {
  /**
   * The command only reads (plan, status, log, attach, compare, verify without --repair): on a
   * cache this user cannot write it reads a snapshot of the database (store/db.ts) instead of
   * failing, and says so in one line.
   */
  readOnly?: boolean;
}

export function openWorkspace(cacheDir: string, opts: OpenOptions = {}): Workspace {
  const file = resolve(new CacheLayout(cacheDir).db);
  const snapshot = (why: string) => {
    const snap = openSnapshot(file);
    process.stderr.write(`note: ${cacheDir} ${why}: showing it as it is, nothing is recorded\n`);
    return workspaceOf(cacheDir, snap.db, undefined, () => {
      snap.db.close();
      snap.remove();
    });
  };
  if (opts.readOnly && existsSync(file) && !writable(file)) return snapshot('is read-only for this user');
  let opened: ReturnType<typeof openOrRecover>;
  try {
    opened = openOrRecover(file);
  } catch (e) {
    // A full disk: SQLite cannot make the WAL's -shm file beside the database.
    if (opts.readOnly && existsSync(file) && cannotWrite(e)) return snapshot('cannot be written (a full disk?)');
    throw e;
  }
  const { db, notice } = opened;
  if (notice) process.stderr.write(`warning: ${notice}\n`);
  return workspaceOf(cacheDir, db, notice, () => db.close());
}

function workspaceOf(cacheDir: string, db: DB, notice: string | undefined, close: () => void): Workspace {
  return {
    cacheDir,
    notice,
    db,
    store: new CacheStore(cacheDir, db),
    files: new FileStates(db),
    records: new Records(db),
    locks: new KeyLocks(db),
    root: ROOT,
    close,
  };
}
