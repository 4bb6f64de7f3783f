// BIRD's inputs: its question file (dev.json: question, evidence, SQL, db_id, difficulty) as the
// gold, and predictions in the official dict ({"0": "SQL\t----- bird -----\tdb_id"}) or flow's
// own formats (inputs.ts).
import { StepError } from '../../src/steps/types.js';
import type { Difficulty } from './bird.js';
import { readPredictions, readRecords, readText } from './inputs.js';

export interface BirdItem {
  sql: string;
  db: string;
  question?: string;
  evidence?: string;
  difficulty: Difficulty | string;
}

/** BIRD's dev.json (a JSON array) or the mini-dev JSONL: every item needs SQL, db_id and difficulty. */
export function readBirdGold(file: string): BirdItem[] {
  const records = readRecords(file, 'gold file');
  if (records.length === 0) throw new StepError(`sql-eval: ${file}: expected BIRD questions (a JSON array or JSONL)`);
  return records.map(({ value, where }) => {
    const rec = (value ?? {}) as Record<string, unknown>;
    for (const f of ['SQL', 'db_id', 'difficulty'] as const) {
      if (typeof rec[f] !== 'string' || (rec[f] as string).trim() === '') {
        throw new StepError(`sql-eval: ${file}: ${where}: field "${f}" ${rec[f] === undefined ? 'is missing' : 'must be a non-empty string'}`);
      }
    }
    return {
      sql: rec.SQL as string,
      db: rec.db_id as string,
      difficulty: rec.difficulty as string,
      ...(typeof rec.question === 'string' ? { question: rec.question } : {}),
      ...(typeof rec.evidence === 'string' ? { evidence: rec.evidence } : {}),
    };
  });
}

const SEPARATOR = '\t----- bird -----\t';

/**
 * The official predictions dict, read as evaluation_utils.package_sqls reads it: its values in
 * order, the SQL before the separator (or the whole string, stripped, without one), a value that
 * is not a string as " ". Any other file: flow's own formats.
 */
export function readBirdPredictions(file: string, expected: number): string[] {
  const text = readText(file, 'predictions file');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return readPredictions(file, expected);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data) || 'sql' in data) return readPredictions(file, expected);
  return Object.values(data as Record<string, unknown>).map((v) => {
    if (typeof v !== 'string') return ' ';
    const parts = v.split(SEPARATOR);
    return parts.length === 2 ? parts[0]! : v.trim();
  });
}
