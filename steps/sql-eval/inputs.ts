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

// The readers below are shared by sql-eval, its BIRD mode (bird-inputs.ts) and sql-vote; `step`
// names the one whose message it is.

/** A file's text, or an error naming what it is and why it cannot be read. */
export function readText(file: string, what: string, step = 'sql-eval'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new StepError(`${step}: cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** A file's non-blank lines, each with its 1-based line number (for errors that name file:line). */
export function readLines(file: string, what: string, step = 'sql-eval'): Array<{ text: string; line: number }> {
  return readText(file, what, step)
    .split(/\r?\n/)
    .map((text, i) => ({ text, line: i + 1 }))
    .filter((l) => l.text.trim() !== '');
}

/**
 * The records of a JSON array, or of JSONL (one per non-blank line), each with where it is:
 * "record i" (0-based, in an array) or "line n". Invalid JSON names the file, and the line in JSONL.
 */
export function readRecords(file: string, what: string, step = 'sql-eval'): Array<{ value: unknown; where: string }> {
  const text = readText(file, what, step);
  if (text.trimStart().startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new StepError(`${step}: ${file}: invalid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(data)) throw new StepError(`${step}: ${file}: expected a JSON array or JSONL`);
    return data.map((value, i) => ({ value, where: `record ${i}` }));
  }
  return readLines(file, what, step).map(({ text: l, line }) => {
    try {
      return { value: JSON.parse(l) as unknown, where: `line ${line}` };
    } catch (e) {
      throw new StepError(`${step}: ${file}:${line}: invalid JSON (${(e as Error).message})`);
    }
  });
}

/** Gold file: `SQL<TAB>db_id` per line; blank lines are skipped. */
export function readGold(file: string): GoldItem[] {
  return readLines(file, 'gold file').map(({ text, line }) => {
    const l = text.trim();
    const parts = l.split('\t');
    if (parts.length !== 2 || !parts[0]!.trim() || !parts[1]!.trim()) {
      throw new StepError(`sql-eval: ${file}:${line}: expected "SQL<TAB>db_id", got ${JSON.stringify(l.slice(0, 80))}`);
    }
    return { sql: parts[0]!, db: parts[1]!.trim(), line };
  });
}

/**
 * Predictions: one SQL per line (text after a TAB is ignored, as the official
 * evaluator does), or JSONL whose records carry an `sql` string. An empty line
 * is an empty prediction; blank lines past `expected` items are not items.
 */
export function readPredictions(file: string, expected: number): string[] {
  const lines = readText(file, 'predictions file').split(/\r?\n/);
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
  const records = readRecords(file, 'questions file').map((r) => r.value);
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
    data = JSON.parse(readText(file, 'tables file'));
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
