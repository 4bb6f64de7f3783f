// The pieces sql-eval, its BIRD mode and sql-vote share: the worker pool's options from `with:`
// (one set of defaults), and one reader of JSON-array-or-JSONL records whose errors name the
// line as it is in the file (blank lines counted).

import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBirdGold } from '../steps/sql-eval/bird-inputs.js';
import sqlEval from '../steps/sql-eval/index.js';
import { readGold, readQuestions } from '../steps/sql-eval/inputs.js';
import { poolOptions } from '../steps/sql-eval/pool-options.js';
import sqlVote from '../steps/sql-vote/index.js';
import { checkLineUp, readCandidates } from '../steps/sql-vote/inputs.js';

const dir = mkdtempSync(join(os.tmpdir(), 'sql-inputs-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const ctx = { signal: new AbortController().signal, progress: () => {}, log: () => {} };

describe('poolOptions', () => {
  it('gives sql-eval and sql-vote the same limits and defaults', () => {
    expect(poolOptions({}, ctx)).toMatchObject({ timeoutS: 30, maxRows: 100000, workers: undefined });
    expect(poolOptions({ timeout_s: 5, max_rows: 7, workers: 2 }, ctx)).toMatchObject({ timeoutS: 5, maxRows: 7, workers: 2 });
    const props = (s: { schema: unknown }) => (s.schema as { properties: Record<string, unknown> }).properties;
    for (const f of ['timeout_s', 'max_rows', 'workers']) expect(props(sqlVote)[f], f).toEqual(props(sqlEval)[f]);
  });

  it('routes warnings to the step log', () => {
    const lines: string[] = [];
    poolOptions({}, { ...ctx, log: (l: string) => lines.push(l) }).warn!('x');
    expect(lines).toEqual(['warning: x']);
  });
});

describe('records and lines', () => {
  it('names the line of a JSONL record as in the file, blank lines counted', () => {
    const gold = file('bird.jsonl', '{"SQL": "SELECT 1", "db_id": "a", "difficulty": "simple"}\n\n{"SQL": "SELECT 2", "db_id": "a"}\n');
    expect(() => readBirdGold(gold)).toThrow(`sql-eval: ${gold}: line 3: field "difficulty" is missing`);
    const arr = file('bird.json', '[{"SQL": "SELECT 1", "db_id": "a"}]');
    expect(() => readBirdGold(arr)).toThrow(`sql-eval: ${arr}: record 0: field "difficulty" is missing`);
  });

  it('names the line of invalid JSON in a JSONL file', () => {
    const gold = readGold(file('gold.sql', 'SELECT 1\ta\n\nSELECT 2\ta\n'));
    expect(gold.map((g) => g.line)).toEqual([1, 3]);
    const q = file('q.jsonl', '{"question": "a", "db_id": "a"}\n\n{"question": \n');
    expect(() => readQuestions(q, gold, 'gold.sql')).toThrow(new RegExp(`^sql-eval: ${q}:3: invalid JSON`));
    const dev = file('dev.jsonl', '{"db_id": "a", "input": "q0"}\n\n{"db_id": "b", "input": "q1"}\n');
    const cands = file('c.jsonl', '\n{"db_id": "a", "candidates": [{"sql": "SELECT 1"}]}\n{"db_id": "a", "candidates": [{"sql": "SELECT 1"}]}\n');
    const items = readCandidates(cands);
    expect(items.map((x) => x.line)).toEqual([2, 3]);
    expect(() => checkLineUp(items, cands, dev)).toThrow(`sql-vote: ${cands}:3: item 1 is about database "a" but ${dev} line 3 is about "b"; the files do not line up`);
  });
});
