// Running untrusted SQL, read-only, in a worker process (item-worker.ts). It
// runs in a separate process because SQLite cannot be interrupted from another
// thread through better-sqlite3: the parent enforces the time limit by killing
// the process.
import { Database, type Connection, type Statement } from './sqlite-db.js';
import type { Row } from './py-value.js';
import { resultEq } from './result-eq.js';

const dbs = new Map<string, Connection>();

/** This worker's read-only connection to a database file, opened once and kept. */
export function open(path: string): Connection {
  let db = dbs.get(path);
  if (!db) {
    // Read-only, must exist: SQLite never creates or writes the file. (better-sqlite3 is
    // built without URI filenames, so `?immutable=1` is not available.)
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.defaultSafeIntegers(true);
    db.pragma('query_only = ON');
    // Bound SQLite's own memory so a huge result or sort fails instead of exhausting the machine.
    db.pragma('hard_heap_limit = 2147483648');
    dbs.set(path, db);
  }
  return db;
}

function approxSize(row: unknown[]): number {
  let n = 8;
  for (const v of row) n += typeof v === 'string' ? v.length * 2 : v instanceof Uint8Array ? v.length : 8;
  return n;
}

const DQS_HINT = /^no such column: ("(?:[^"]|"")*") - should this be a string literal in single-quotes\?$/;

/**
 * better-sqlite3 builds SQLite with SQLITE_DQS=0, while Python's sqlite3 keeps
 * the legacy rule: a double-quoted word that names no column is a string. Spider
 * gold relies on it, so a failing "word" is rewritten to 'word' and retried.
 */
function prepare(db: Connection, sql: string): Statement {
  for (let tries = 0; ; tries++) {
    try {
      return db.prepare(sql);
    } catch (e) {
      const m = e instanceof Error ? DQS_HINT.exec(e.message) : null;
      if (!m || tries >= 64) throw e;
      const word = m[1]!;
      const literal = `'${word.slice(1, -1).replaceAll('""', '"').replaceAll("'", "''")}'`;
      const next = replaceOutsideStrings(sql, word, literal);
      if (next === sql) throw e;
      sql = next;
    }
  }
}

/** Replaces a double-quoted token wherever it stands outside single-quoted strings. */
function replaceOutsideStrings(sql: string, token: string, by: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'") {
      const end = sql.indexOf("'", i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '"') {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === '"' && sql[j + 1] !== '"')) j += sql[j] === '"' ? 2 : 1;
      const tok = sql.slice(i, j + 1);
      out += tok.toLowerCase() === token.toLowerCase() ? by : tok;
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export type Result = { rows: Row[] } | { error: string };

// A file's content never changes during a run, so (file, SQL) fixes the result.
// Small results are kept: gold queries recur across plugged-in candidates.
const cache = new Map<string, Result>();
let cachedRows = 0;
const CACHE_ROWS = 1_000_000;

/** One query's result on one file, read-only and bounded; kept per worker, so a repeat is not run again. */
export function query(file: string, sql: string, maxRows: number, maxBytes: number): Result {
  const key = `${file}\u0000${sql}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const r = execute(file, sql, maxRows, maxBytes);
  const n = 'rows' in r ? r.rows.length : 0;
  if (n <= 10_000) {
    if (cachedRows + n > CACHE_ROWS) {
      cache.clear();
      cachedRows = 0;
    }
    cache.set(key, r);
    cachedRows += n;
  }
  return r;
}

/** A query run now, never from the cache (BIRD's R-VES times each run). */
export function execute(file: string, sql: string, maxRows: number, maxBytes: number): Result {
  try {
    const db = open(file);
    const stmt = prepare(db, sql);
    // Only statements that return rows and cannot write: this refuses DROP, DELETE, UPDATE,
    // INSERT, ATTACH, VACUUM INTO and every PRAGMA that sets something.
    if (!stmt.reader || !stmt.readonly) return { error: 'refused: not a read-only query' };
    stmt.raw(true);
    const rows: Row[] = [];
    let bytes = 0;
    for (const row of stmt.iterate() as IterableIterator<Row>) {
      rows.push(row);
      bytes += approxSize(row);
      if (rows.length > maxRows) return { error: `result exceeds ${maxRows} rows` };
      if (bytes > maxBytes) return { error: `result exceeds ${maxBytes} bytes` };
    }
    return { rows };
  } catch (e) {
    return { error: clip(e instanceof Error ? e.message : String(e)) };
  }
}

/** SQLite quotes the offending text in its errors: a 1 MB identifier would fill results.jsonl. */
function clip(message: string): string {
  return message.length <= 500 ? message : `${message.slice(0, 500)}… (${message.length} characters)`;
}

export interface CandidateVerdict {
  ex: 0 | 1;
  /** Why the prediction failed to run (null when it ran). */
  error: string | null;
  /** Set when the gold query itself failed: the item cannot be judged. */
  goldError?: string;
}

export interface ExecLimits {
  maxRows: number;
  maxBytes: number;
}

/** eval_exec_match for one candidate: it must give the gold's denotation on every file. */
export function execMatch(files: string[], gold: string, pred: string, orderMatters: boolean, quickReject: boolean, lim: ExecLimits): CandidateVerdict {
  for (const file of files) {
    const g = query(file, gold, lim.maxRows, lim.maxBytes);
    if ('error' in g) return { ex: 0, error: null, goldError: g.error };
    const p = query(file, pred, lim.maxRows, lim.maxBytes);
    if ('error' in p) return { ex: 0, error: p.error };
    if (!resultEq(g.rows, p.rows, orderMatters, { quickReject })) return { ex: 0, error: null };
  }
  return { ex: 1, error: null };
}
