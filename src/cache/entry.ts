// What a committed result is: its records, its files (objects by digest and mode, or
// symlinks), its manifest in the entry folder, and its row in the entries table (the index:
// an entry folder without a row is re-hashed before it is trusted again).

import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ENTRY_MANIFEST } from '../recipe/types.js';
import type { DB } from '../store/db.js';

export interface OutputRecord {
  /** Path inside the entry folder. */
  path: string;
  digest: string;
  size: number;
  kind: 'file' | 'dir';
}

/**
 * One file of an entry: a content object (digest, and `exec` for an executable one) or a symlink
 * (link target), path relative to the entry.
 */
export interface StoredFile {
  path: string;
  digest?: string;
  link?: string;
  exec?: true;
}

/**
 * The name of an object in objects/ (and its key in the objects table): its content digest, with
 * `.x` when executable. The mode is part of an object's identity: every link to an inode shares
 * its mode, so executable and plain copies of the same bytes must be two objects.
 */
export function objectId(digest: string, exec: boolean | undefined): string {
  return exec ? `${digest}.x` : digest;
}

/** The content digest an object's name stands for, and whether it is the executable copy. */
export function parseObjectId(id: string): { digest: string; exec: boolean } {
  return id.endsWith('.x') ? { digest: id.slice(0, -2), exec: true } : { digest: id, exec: false };
}

export const isExec = (mode: number | bigint) => (Number(mode) & 0o111) !== 0;

export interface Entry {
  key: string;
  stepId: string;
  outputs: Record<string, OutputRecord>;
  digest: string;
  size: number;
  durationMs: number;
  execId: string;
  /** Every file and symlink of every output; what a lookup checks. */
  files: StoredFile[];
}

export interface Lookup {
  entry?: Entry;
  /** Why a committed result cannot be reused ("a.txt changed after commit"). */
  damaged?: string;
}

/** A step error the user can act on (an output that escapes its folder): reported without a stack. */
export class OutputError extends Error {
  override name = 'StepError';
}

export class MissingOutputError extends Error {
  constructor(
    readonly output: string,
    readonly path: string,
  ) {
    super(`declared output "${output}" (${path}) was not created`);
  }
}

interface EntryRow {
  key: string;
  step_id: string;
  outputs: string;
  digest: string;
  size: number;
  duration_ms: number;
  exec_id: string;
  files: string | null;
}

function rowToEntry(row: EntryRow): Entry {
  return {
    key: row.key,
    stepId: row.step_id,
    outputs: JSON.parse(row.outputs),
    digest: row.digest,
    size: row.size,
    durationMs: row.duration_ms,
    execId: row.exec_id,
    files: row.files ? JSON.parse(row.files) : [],
  };
}

/** An entry folder's own manifest, if it has a readable one that names this folder's key. */
export async function readManifest(dir: string, key = basename(dir)): Promise<Entry | undefined> {
  try {
    const e = JSON.parse(await readFile(join(dir, ENTRY_MANIFEST), 'utf8')) as Entry;
    if (typeof e.key !== 'string' || !Array.isArray(e.files) || !e.outputs) return undefined;
    if (key !== undefined && e.key !== key) return undefined;
    return e;
  } catch {
    return undefined;
  }
}

/** The entries table: the index of committed results (SQL on it stays here). */
export class EntryIndex {
  private readonly q;
  // Made once: better-sqlite3 builds four wrapper functions per db.transaction() call.
  private readonly putTx: (entry: Entry, record?: (e: Entry) => void) => void;

  constructor(private readonly db: DB) {
    this.q = {
      entry: db.prepare<[string], EntryRow>('SELECT * FROM entries WHERE key = ?'),
      dropEntry: db.prepare('DELETE FROM entries WHERE key = ?'),
      putEntry: db.prepare(
        `INSERT INTO entries (key, step_id, outputs, digest, size, duration_ms, exec_id, created_at, used_at, files)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET step_id = excluded.step_id, outputs = excluded.outputs, digest = excluded.digest,
           size = excluded.size, duration_ms = excluded.duration_ms, exec_id = excluded.exec_id,
           created_at = excluded.created_at, used_at = excluded.used_at, files = excluded.files`,
      ),
      touch: db.prepare('UPDATE entries SET used_at = ? WHERE key = ?'),
    };
    this.putTx = db.transaction((entry: Entry, record?: (e: Entry) => void) => {
      this.put(entry, Date.now());
      record?.(entry);
    });
  }

  /** The row of a key, if any; `hasFiles` is false for a row that predates file records (its manifest is re-hashed instead). */
  get(key: string): { entry: Entry; hasFiles: boolean } | undefined {
    const row = this.q.entry.get(key);
    return row ? { entry: rowToEntry(row), hasFiles: row.files !== null } : undefined;
  }

  all(): Entry[] {
    return this.db.prepare<[], EntryRow>('SELECT * FROM entries').all().map(rowToEntry);
  }

  drop(key: string): void {
    this.q.dropEntry.run(key);
  }

  touch(key: string): void {
    this.q.touch.run(Date.now(), key);
  }

  /** Indexes a new result; `record` (the caller's records of it) joins the same transaction. */
  commit(entry: Entry, record?: (e: Entry) => void): void {
    this.putTx(entry, record);
  }

  /** Indexes an entry; createdAt undefined keeps "now". */
  put(entry: Entry, createdAt: number | undefined): void {
    const now = Date.now();
    this.q.putEntry.run(
      entry.key,
      entry.stepId,
      JSON.stringify(entry.outputs),
      entry.digest,
      entry.size,
      entry.durationMs,
      entry.execId,
      createdAt ?? now,
      now,
      JSON.stringify(entry.files),
    );
  }
}
