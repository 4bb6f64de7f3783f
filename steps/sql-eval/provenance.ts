// Where an EX number comes from, written beside it in metrics.json: two numbers
// are comparable only if they were measured the same way on the same items.
// The same predictions give EX 0.789 on Spider's original databases and 0.746
// on the test-suite ones (DB-GPT-Hub's own tables), so the database folder,
// the gold file, the evaluator's mode and its flags all belong to the number.
// `flow compare` reads this block as plain fields and refuses to set numbers
// whose fields differ side by side.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Compat, Etype } from './options.js';

export interface Provenance {
  evaluator: 'sql-eval';
  /** test-suite: the official evaluator's behaviour; strict: with its plain bugs fixed. */
  mode: Compat;
  etype: Etype;
  database: {
    /** Content digest of the database folder (the engine's, from the step key), or of its SQLite files. */
    digest: string;
    /** Databases the gold items name that exist in the folder. */
    databases: number;
    /** SQLite files per database (test-suite's folders hold several per database, Spider's one). */
    files_per_database: { min: number; max: number };
  };
  /** SHA-256 of the gold file's bytes, and its item count. */
  gold: { digest: string; items: number };
  flags: { plug_value: boolean; keep_distinct: boolean; timeout_s: number; max_rows: number };
  /** Items scored (their database exists), skipped for a missing database, and without a prediction. */
  items: { scored: number; missing_db: number; missing_predictions: number };
}

export interface DatabaseUse {
  /** db_id -> its SQLite files (absolute), or null where the database is missing. */
  files: Map<string, string[] | null>;
}

const sha256File = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * The database folder's digest when the engine did not hand one over (evaluate() called
 * directly, or db_dir built from a step's output plus more path): the name, size and content
 * of every SQLite file the gold items use. Prefixed, so it never passes for the engine's.
 */
export function sqliteFilesDigest(dbDir: string, use: DatabaseUse): string {
  const h = createHash('sha256');
  // In database order, not the gold's: the same folder digests the same under any gold order.
  const dbs = [...use.files.keys()].sort();
  for (const files of dbs.map((db) => use.files.get(db)).filter((f): f is string[] => !!f)) {
    for (const f of files) h.update(`${path.relative(dbDir, f)}\t${statSync(f).size}\t${sha256File(f)}\n`);
  }
  return `sqlite-files:${h.digest('hex')}`;
}

export function provenance(a: {
  mode: Compat;
  etype: Etype;
  dbDigest: string;
  use: DatabaseUse;
  gold: string;
  goldItems: number;
  flags: Provenance['flags'];
  scored: number;
  missingDb: number;
  missingPredictions: number;
}): Provenance {
  const counts = [...a.use.files.values()].filter((f): f is string[] => f !== null).map((f) => f.length);
  return {
    evaluator: 'sql-eval',
    mode: a.mode,
    etype: a.etype,
    database: {
      digest: a.dbDigest,
      databases: counts.length,
      files_per_database: { min: counts.length ? Math.min(...counts) : 0, max: counts.length ? Math.max(...counts) : 0 },
    },
    gold: { digest: sha256File(a.gold), items: a.goldItems },
    flags: a.flags,
    items: { scored: a.scored, missing_db: a.missingDb, missing_predictions: a.missingPredictions },
  };
}
