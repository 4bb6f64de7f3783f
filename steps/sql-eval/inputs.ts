// Reading the evaluator's inputs, with errors that name file, line and field.
import { readFileSync } from 'node:fs';
import { StepError } from '../../src/steps/types.js';
import type { TablesEntry } from './exact-match.js';

export interface GoldItem {
  sql: string;
  db: string;
  /** 1-based line in the gold file. */
  line: number;
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new StepError(`sql-eval: cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Gold file: `SQL<TAB>db_id` per line; blank lines are skipped. */
export function readGold(file: string): GoldItem[] {
  const out: GoldItem[] = [];
  read(file, 'gold file')
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const l = raw.trim();
      if (!l) return;
      const parts = l.split('\t');
      if (parts.length !== 2 || !parts[0]!.trim() || !parts[1]!.trim()) {
        throw new StepError(`sql-eval: ${file}:${i + 1}: expected "SQL<TAB>db_id", got ${JSON.stringify(l.slice(0, 80))}`);
      }
      out.push({ sql: parts[0]!, db: parts[1]!.trim(), line: i + 1 });
    });
  return out;
}

/**
 * Predictions: one SQL per line (text after a TAB is ignored, as the official
 * evaluator does), or JSONL whose records carry an `sql` string. An empty line
 * is an empty prediction; blank lines past `expected` items are not items.
 */
export function readPredictions(file: string, expected: number): string[] {
  const lines = read(file, 'predictions file').split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  while (lines.length > expected && lines[lines.length - 1]!.trim() === '') lines.pop();
  const first = lines.find((l) => l.trim() !== '');
  const jsonl = file.endsWith('.jsonl') || (first !== undefined && first.trim().startsWith('{'));
  if (!jsonl) return lines.map((l) => l.trim().split('\t')[0]!);
  return lines.map((l, i) => {
    if (l.trim() === '') return '';
    let rec: unknown;
    try {
      rec = JSON.parse(l);
    } catch (e) {
      throw new StepError(`sql-eval: ${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    const sql = (rec as { sql?: unknown } | null)?.sql;
    if (typeof sql !== 'string') throw new StepError(`sql-eval: ${file}:${i + 1}: field "sql" must be a string`);
    return sql.trim();
  });
}

/**
 * Questions, one per gold item in gold order: a JSON array or JSONL of records with a
 * `question` string. spider-sft's dev output and Spider's own dev.json both are. A
 * record's `db_id`, when it has one, must be its gold item's: that catches a file that
 * does not line up with the gold (another split, another limit) instead of showing
 * each wrong item beside someone else's question.
 */
export function readQuestions(file: string, gold: GoldItem[], goldFile: string): string[] {
  const text = read(file, 'questions file');
  let records: unknown[];
  try {
    records = text.trimStart().startsWith('[')
      ? (JSON.parse(text) as unknown[])
      : text.split(/\r?\n/).filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
  } catch (e) {
    throw new StepError(`sql-eval: ${file}: invalid JSON (${(e as Error).message})`);
  }
  if (records.length !== gold.length) {
    throw new StepError(`sql-eval: ${file} has ${records.length} questions but ${goldFile} has ${gold.length} items; they must align item by item`);
  }
  return records.map((r, i) => {
    const rec = (r ?? {}) as { question?: unknown; db_id?: unknown };
    if (typeof rec.question !== 'string') throw new StepError(`sql-eval: ${file}: item ${i}: field "question" must be a string`);
    if (typeof rec.db_id === 'string' && rec.db_id !== gold[i]!.db) {
      throw new StepError(`sql-eval: ${file}: item ${i} is about database "${rec.db_id}" but ${goldFile}:${gold[i]!.line} is about "${gold[i]!.db}"; the files do not line up`);
    }
    return rec.question;
  });
}

export function readTables(file: string): Map<string, TablesEntry> {
  let data: unknown;
  try {
    data = JSON.parse(read(file, 'tables file'));
  } catch (e) {
    if (e instanceof StepError) throw e;
    throw new StepError(`sql-eval: ${file}: invalid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(data)) throw new StepError(`sql-eval: ${file}: expected a JSON array of schemas`);
  const out = new Map<string, TablesEntry>();
  data.forEach((e: TablesEntry, i) => {
    if (!e || typeof e.db_id !== 'string' || !Array.isArray(e.table_names_original) || !Array.isArray(e.column_names_original)) {
      throw new StepError(`sql-eval: ${file}: item ${i}: needs db_id, table_names_original, column_names_original`);
    }
    out.set(e.db_id, { ...e, foreign_keys: e.foreign_keys ?? [] });
  });
  return out;
}
