// The parser's schema, as the official get_schema() reads it from the SQLite
// file (not tables.json); tables.json only where the database file is absent.
import { Database, type Connection } from './sqlite-db.js';
import { Schema } from './parse.js';
import type { TablesEntry } from './exact-match.js';

/** Trusted, fixed queries only: the database is opened read-only and closed at once. */
export function schemaFromSqlite(file: string): Schema {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return schemaOf(db);
  } finally {
    db.close();
  }
}

/** The schema through a connection already open (a worker's, which then runs the item's queries). */
export function schemaOf(db: Connection): Schema {
  const tables = new Map<string, string[]>();
  const names = db.prepare("SELECT name FROM sqlite_master WHERE type='table'").pluck().all() as string[];
  for (const t of names.map((n) => String(n).toLowerCase())) {
    const cols = db.prepare(`PRAGMA table_info('${t.replaceAll("'", "''")}')`).all() as Array<{ name: string }>;
    tables.set(t, cols.map((c) => String(c.name).toLowerCase()));
  }
  return new Schema(tables);
}

export function schemaFromTables(entry: TablesEntry): Schema {
  const tables = new Map<string, string[]>();
  entry.table_names_original.forEach((t) => tables.set(t.toLowerCase(), []));
  for (const [ti, c] of entry.column_names_original) {
    if (ti >= 0) tables.get(entry.table_names_original[ti]!.toLowerCase())!.push(c.toLowerCase());
  }
  return new Schema(tables);
}
