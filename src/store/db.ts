// The SQLite database (better-sqlite3, WAL) that holds runs, step executions,
// metrics, the cache index and file states. It lives in the cache directory
// (<cache>/flow.db) so a cache and its history move together.
//
// Schema changes are append-only migrations; PRAGMA user_version records how
// many have been applied, so an old database is upgraded in place on open.

import Database from 'better-sqlite3';
import { isDamage } from './damage.js';
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';

export type DB = Database.Database;

const require = createRequire(import.meta.url);

/**
 * better-sqlite3's addon named directly where `npm install` builds it: the `bindings` package it
 * otherwise uses walks an Error's stack to find the package and tries several paths, about a
 * tenth of a cached `flow plan`. (In the bundle, `Database` is the copy in dist/bundle/vendor.cjs,
 * which runs through V8's code cache.) An addon anywhere else is found by the package's own
 * search, from node_modules.
 */
function sqlite(file: string): DB {
  const addon = join(dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
  if (existsSync(addon)) return new Database(file, { nativeBinding: addon });
  return new (require('better-sqlite3') as typeof Database)(file);
}

const MIGRATIONS: string[] = [
  // 1: the initial schema.
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    recipe TEXT NOT NULL,          -- absolute path of the recipe file
    name TEXT NOT NULL,            -- recipe name
    status TEXT NOT NULL,          -- running | done | failed | cancelled
    started_at INTEGER NOT NULL,   -- ms since epoch
    ended_at INTEGER,
    params TEXT NOT NULL,          -- JSON: resolved params (after --set)
    argv TEXT NOT NULL,            -- JSON: the command line
    pid INTEGER NOT NULL
  );
  CREATE TABLE executions (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    step_id TEXT NOT NULL,         -- e.g. 'train' or 'train[lora_rank=32]'
    step_type TEXT NOT NULL,
    variant TEXT,                  -- JSON of the matrix values, NULL for shared steps
    key TEXT,                      -- cache key (NULL if the step failed before it had one)
    status TEXT NOT NULL,          -- running | done | failed | cancelled | cached
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    duration_ms INTEGER,
    exit_code INTEGER,
    log_path TEXT,
    outputs TEXT,                  -- JSON: output name -> absolute path
    fingerprint TEXT,              -- JSON: what entered the key, for 'flow plan' reasons
    metrics TEXT,                  -- JSON: the step's metrics.json, as written
    error TEXT,
    gpus TEXT                      -- JSON array of GPU ids
  );
  CREATE INDEX executions_run ON executions(run_id);
  CREATE INDEX executions_step ON executions(step_id, started_at);
  CREATE INDEX executions_key ON executions(key);
  -- Numeric metrics, flattened ('ex.easy'), and series ('loss' at step n).
  CREATE TABLE metrics (
    exec_id TEXT NOT NULL REFERENCES executions(id),
    name TEXT NOT NULL,
    value REAL NOT NULL,
    step INTEGER,                  -- NULL for a final value; the training step for a series
    time INTEGER NOT NULL
  );
  CREATE INDEX metrics_exec ON metrics(exec_id, name);
  -- The cache index: one row per committed step result in <cache>/steps/<key>.
  CREATE TABLE entries (
    key TEXT PRIMARY KEY,
    step_id TEXT NOT NULL,
    outputs TEXT NOT NULL,         -- JSON: name -> { path (relative to the entry), digest, size }
    digest TEXT NOT NULL,          -- digest over all outputs
    size INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,  -- how long producing it took: what a hit saves
    exec_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER NOT NULL
  );
  -- Never re-hash what has not changed: a file whose (size, mtime, inode) match keeps its digest.
  CREATE TABLE file_state (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns TEXT NOT NULL,        -- bigint as text: nanoseconds overflow REAL precision
    inode TEXT NOT NULL,
    digest TEXT NOT NULL,
    checked_at INTEGER NOT NULL
  );
  `,
  // 2: integrity and locks (the cache's word: issue 12).
  `
  -- What each entry holds, file by file: [{path, digest} | {path, link}], checked on every hit.
  ALTER TABLE entries ADD COLUMN files TEXT;
  -- Each object's stat as the store last left it; a hit compares the entry's files against it.
  CREATE TABLE objects (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns TEXT NOT NULL,
    ctime_ns TEXT NOT NULL,
    inode TEXT NOT NULL
  );
  -- Who executes a key now: pid plus the process's start time, so a reused pid is not mistaken for the owner.
  CREATE TABLE locks (
    key TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL,
    acquired_at INTEGER NOT NULL
  );
  ALTER TABLE runs ADD COLUMN pid_start TEXT;
  `,
  // 3: what \`flow attach\` shows of a running step, as the driving process shows it.
  `
  ALTER TABLE executions ADD COLUMN reasons TEXT;  -- JSON array: why the step runs
  ALTER TABLE executions ADD COLUMN progress TEXT; -- JSON: the latest progress {current, total, unit, values, time}
  `,
  // 4: inputs follow the store's "unchanged file" rule, ctime included (cache/stat-rule.ts);
  // a row from before has none and is re-hashed once.
  `
  ALTER TABLE file_state ADD COLUMN ctime_ns TEXT NOT NULL DEFAULT '';
  `,
  // 5: which live runs read which entries (store/pins.ts): a forced re-run waits for them.
  `
  CREATE TABLE pins (
    key TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL,
    PRIMARY KEY (key, pid, pid_start)
  );
  `,
];


/**
 * Opens the database; a damaged one is moved aside (with its WAL) and a fresh one made.
 * The cache index is rebuilt lazily from each entry's own manifest, re-hashed before it is
 * trusted (cache/store.ts), so no result is lost, only the run history, kept in the moved file.
 */
export function openOrRecover(file: string): { db: DB; notice?: string } {
  try {
    return { db: openDb(file) };
  } catch (e) {
    if (!isDamage(e)) throw e;
    const aside = `${file}.damaged-${Date.now()}`;
    renameSync(file, aside);
    for (const ext of ['-wal', '-shm']) if (existsSync(file + ext)) renameSync(file + ext, aside + ext);
    return {
      db: openDb(file),
      notice: `${file} was damaged (${(e as Error).message}); moved it to ${basename(aside)} and started a new one: cached results are re-verified on first use, the run history stays in the moved file`,
    };
  }
}

/**
 * A private copy of a database this process may not write (another user's cache, a read-only
 * disk), for the commands that only read: SQLite cannot read a WAL database read-only unless it
 * can make the `-shm` file beside it. The copy is a snapshot (with its WAL, so nothing committed
 * is missed); what a command writes to it (file states, a rebuilt index row) is thrown away.
 */
export function openSnapshot(file: string): { db: DB; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'flow-readonly-'));
  try {
    for (const ext of ['', '-wal']) {
      if (ext && !existsSync(file + ext)) continue;
      copyFileSync(file + ext, join(dir, `flow.db${ext}`));
      chmodSync(join(dir, `flow.db${ext}`), 0o600); // the copy keeps the original's read-only mode
    }
    const db = openDb(join(dir, 'flow.db'));
    return { db, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Whether this process may write the database file and the folder beside it (its WAL, its -shm). */
export function writable(file: string): boolean {
  try {
    accessSync(dirname(file), constants.W_OK);
    if (existsSync(file)) accessSync(file, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function openDb(file: string): DB {
  mkdirSync(dirname(file), { recursive: true });
  const db = sqlite(file);
  // First: a second flow process may hold the write lock for a moment (even while it
  // switches a fresh file to WAL); wait rather than fail.
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // A checkpoint (the WAL copied into the database, two fsyncs) every 16,384 pages rather than
  // SQLite's 1,000: a step writes about 14 pages, so a run of small steps paused for one every
  // 70 steps. Closing the last connection checkpoints what is left.
  db.pragma('wal_autocheckpoint = 16384');
  db.pragma('foreign_keys = ON');
  migrate(db, file);
  return db;
}

function migrate(db: DB, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `${file}: database schema version ${current} is newer than this flow (${MIGRATIONS.length}); upgrade flow`,
    );
  }
  if (current === MIGRATIONS.length) return;
  const apply = db.transaction(() => {
    // Read again under the write lock: another process may have migrated since the read above.
    const now = db.pragma('user_version', { simple: true }) as number;
    for (let v = now; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  });
  apply.immediate();
}

/**
 * Flattens a metrics.json object into dotted numeric entries: {ex:{easy:1}} -> [['ex.easy', 1]].
 * Only measurements: the settings a step records beside its figures (a top-level `settings`
 * or `provenance` object, and flags such as sql-eval's plug_value/keep_distinct, strings such
 * as its etype) describe how the figures were made and are not metrics to chart or diff.
 */
export function flattenMetrics(obj: unknown, prefix = ''): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  if (typeof obj === 'number' && Number.isFinite(obj)) out.push([prefix, obj]);
  else if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) {
      if (!prefix && (k === 'settings' || k === 'provenance')) continue;
      out.push(...flattenMetrics(v, prefix ? `${prefix}.${k}` : k));
    }
  }
  return out;
}

/**
 * Statements prepared on first use and kept: preparing costs more than running the small
 * statements a run makes per step, and preparing all of them up front would tax `flow plan`.
 */
export function statementCache(db: DB): <P extends unknown[] = unknown[], R = unknown>(sql: string) => Database.Statement<P, R> {
  const cache = new Map<string, Database.Statement>();
  return <P extends unknown[], R>(sql: string) => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    return s as unknown as Database.Statement<P, R>;
  };
}
