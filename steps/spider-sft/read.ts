// Reading a Spider-format folder, with errors naming file and item.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { StepError } from '../../src/steps/types.js';
import type { TablesEntry } from '../sql-eval/exact-match.js';

export interface SpiderItem {
  db_id: string;
  question: string;
  query: string;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new StepError(`spider-sft: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StepError(`spider-sft: ${file}: malformed JSON (${(e as Error).message})`);
  }
}

/** Items of a question file; each needs db_id, question and query strings (extra fields are ignored). */
export function readItems(file: string, tables: Map<string, TablesEntry>): SpiderItem[] {
  const data = readJson(file);
  if (!Array.isArray(data)) throw new StepError(`spider-sft: ${file}: expected a JSON array of items`);
  return data.map((raw, i) => {
    const r = (raw ?? {}) as Record<string, unknown>;
    for (const f of ['db_id', 'question', 'query']) {
      if (typeof r[f] !== 'string' || (r[f] as string).trim() === '') {
        throw new StepError(`spider-sft: ${file}: item ${i}: missing or empty "${f}"`);
      }
    }
    if (!tables.has(r.db_id as string)) {
      throw new StepError(`spider-sft: ${file}: item ${i}: db_id "${String(r.db_id)}" is not in tables.json`);
    }
    return { db_id: r.db_id as string, question: r.question as string, query: r.query as string };
  });
}

export function readTablesJson(file: string): Map<string, TablesEntry> {
  const data = readJson(file);
  if (!Array.isArray(data)) throw new StepError(`spider-sft: ${file}: expected a JSON array of schemas`);
  const out = new Map<string, TablesEntry>();
  data.forEach((e: TablesEntry, i) => {
    const ok =
      e &&
      typeof e.db_id === 'string' &&
      Array.isArray(e.table_names_original) &&
      Array.isArray(e.column_names_original) &&
      Array.isArray(e.foreign_keys ?? []);
    if (!ok) throw new StepError(`spider-sft: ${file}: item ${i}: needs db_id, table_names_original, column_names_original`);
    out.set(e.db_id, { ...e, foreign_keys: e.foreign_keys ?? [], primary_keys: e.primary_keys ?? [] });
  });
  return out;
}

export const sqlitePath = (spider: string, db: string) => path.join(spider, 'database', db, `${db}.sqlite`);
export const hasDb = (spider: string, db: string) => existsSync(sqlitePath(spider, db));
