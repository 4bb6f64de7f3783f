// Reading sql-vote's inputs: predict's candidates.jsonl and the dev records it
// was made from, with errors that name file, line and field. The dev records
// are read for their database and question only, never their gold `output`.
import { StepError } from '../../src/steps/types.js';
import { readLines, readRecords } from '../sql-eval/inputs.js';

export interface Candidate {
  sql: string;
  logprob: number;
  /** 0 for the first generation, k for the k-th repair (predict's retry_on_error). */
  round: number;
}

export interface CandidateItem {
  db_id: string;
  question?: string;
  candidates: Candidate[];
  /** 1-based line in the candidates file. */
  line: number;
}

export function readCandidates(file: string): CandidateItem[] {
  return readLines(file, 'candidates file', 'sql-vote').map(({ text, line }) => {
    const at = `sql-vote: ${file}:${line}`;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new StepError(`${at}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof rec?.db_id !== 'string') throw new StepError(`${at}: field "db_id" must be a string`);
    if (!Array.isArray(rec.candidates) || rec.candidates.length === 0) throw new StepError(`${at}: field "candidates" must be a non-empty array`);
    const candidates = (rec.candidates as unknown[]).map((c, k) => {
      const x = (c ?? {}) as Record<string, unknown>;
      if (typeof x.sql !== 'string') throw new StepError(`${at}: candidates[${k}].sql must be a string`);
      if (x.logprob !== undefined && typeof x.logprob !== 'number') throw new StepError(`${at}: candidates[${k}].logprob must be a number`);
      return { sql: x.sql.trim(), logprob: (x.logprob as number | undefined) ?? 0, round: typeof x.round === 'number' ? x.round : 0 };
    });
    return { db_id: rec.db_id, question: typeof rec.question === 'string' ? rec.question : undefined, candidates, line };
  });
}

interface DevRecord {
  db_id?: unknown;
  input?: unknown;
  question?: unknown;
}

/**
 * The candidates must be the dev records' items, in order: the same database and (when both
 * carry one) the same question, as sql-eval's `questions` check. Fewer candidates than records
 * is a prefix (predict's `limit`); more is an error.
 */
export function checkLineUp(items: CandidateItem[], candFile: string, devFile: string): void {
  const records = readRecords(devFile, 'dev file', 'sql-vote');
  if (items.length > records.length) {
    throw new StepError(`sql-vote: ${candFile} has ${items.length} items but ${devFile} has ${records.length} records; they must align item by item`);
  }
  items.forEach((it, i) => {
    const { value, where } = records[i]!;
    const r = (value ?? {}) as DevRecord;
    if (r.db_id !== it.db_id) {
      throw new StepError(`sql-vote: ${candFile}:${it.line}: item ${i} is about database "${it.db_id}" but ${devFile} ${where} is about "${String(r.db_id)}"; the files do not line up`);
    }
    const q = typeof r.input === 'string' ? r.input : r.question;
    if (it.question !== undefined && typeof q === 'string' && q !== it.question) {
      throw new StepError(`sql-vote: ${candFile}:${it.line}: item ${i} asks ${JSON.stringify(it.question.slice(0, 80))} but ${devFile} ${where} asks ${JSON.stringify(q.slice(0, 80))}; the files do not line up`);
    }
  });
}
