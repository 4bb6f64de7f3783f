// Each comparison rule of the official evaluator, on hand-made predictions
// against a small database made here.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pyFloatRepr } from '../steps/sql-eval/py-value.js';
import { tokenizeSql } from '../steps/sql-eval/tokenize.js';
import { makeDb, runSqlEval, writePairs } from './helpers/sql-eval.js';

const G_NAMES = 'SELECT name FROM people';
const G_ORDERED = 'SELECT name FROM people ORDER BY age';

/** [gold, prediction, expected EX in test-suite mode, expected EX in strict mode]. */
const CASES: Array<[string, string, number, number, string]> = [
  [G_NAMES, 'SELECT name FROM people ORDER BY id DESC', 1, 1, 'row order ignored without ORDER BY in gold'],
  [G_ORDERED, 'SELECT name FROM people ORDER BY age DESC', 0, 0, 'row order checked with ORDER BY in gold'],
  [G_ORDERED, 'SELECT name FROM people ORDER BY age ASC', 1, 1, 'same order'],
  [G_NAMES, 'SELECT name FROM people GROUP BY name', 0, 0, 'duplicate rows count (bag semantics)'],
  ['SELECT name, age FROM people', 'SELECT age, name FROM people', 1, 1, 'column order tolerated'],
  ['SELECT note FROM people WHERE id = 1', 'SELECT note FROM people WHERE id = 3', 1, 1, 'NULL equals NULL'],
  ['SELECT note FROM people WHERE id = 1', "SELECT ''", 0, 0, 'NULL differs from empty string'],
  ['SELECT age FROM people WHERE id = 1', 'SELECT 30.0', 1, 1, '30 == 30.0'],
  ['SELECT score FROM people WHERE id = 3', 'SELECT 0.1 + 0.2', 0, 0, 'no float tolerance'],
  ['SELECT name FROM people WHERE id = 2', "SELECT 'Bob'", 0, 0, 'strings are case-sensitive'],
  ['SELECT id, score FROM people WHERE id = 1', 'SELECT 1.0, 1.5', 0, 1, "official quick_rej rejects (1, 1.5) vs (1.0, 1.5)"],
  ['SELECT DISTINCT name FROM people', 'SELECT name FROM people', 1, 1, 'DISTINCT removed from both by default'],
  ['SELECT name FROM people WHERE age > 1', 'SELECT name FROM people WHERE age > value LIMIT 5', 1, 0, "' value ' placeholder becomes 1"],
  [G_NAMES, 'SELECT name FROM people; SELECT 1', 1, 0, 'official keeps only the first statement'],
  ['SELECT count(*) FROM people', 'SELECT count(*) FROM people', 1, 1, 'identical'],
];

describe('sql-eval comparison rules', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-eval-rules-'));
  const { dbDir, tables } = makeDb(dir, 'rules');

  for (const compat of ['test-suite', 'strict'] as const) {
    it(`follows each rule in ${compat} mode`, async () => {
      const pairs = CASES.map(([g, p]) => [g, p] as [string, string]);
      const sub = mkdtempSync(path.join(dir, compat));
      const files = writePairs(sub, 'rules', [...pairs, [G_NAMES, 'SELECT nope FROM people'], [G_NAMES, '']]);
      const r = await runSqlEval({ ...files, db_dir: dbDir, tables, compat });
      const got = r.results.map((x) => x.ex);
      const want = [...CASES.map((c) => (compat === 'test-suite' ? c[2] : c[3])), 0, 0];
      const named = (xs: number[]) => xs.map((x, i) => `${CASES[i]?.[4] ?? 'error/empty'}: ${x}`);
      expect(named(got)).toEqual(named(want));
      const err = r.results[CASES.length]!;
      expect(err.error).toMatch(/no such column: nope/);
      expect(r.results[CASES.length + 1]!.error).toBe('empty prediction');
      expect(r.metrics.errors).toBeGreaterThanOrEqual(2);
    });
  }

  it('keeps DISTINCT when asked', async () => {
    const sub = mkdtempSync(path.join(dir, 'keep-'));
    const files = writePairs(sub, 'rules', [['SELECT DISTINCT name FROM people', 'SELECT name FROM people']]);
    const r = await runSqlEval({ ...files, db_dir: dbDir, tables, keep_distinct: true });
    expect(r.results[0]!.ex).toBe(0);
  });

  it('plugs gold values into the prediction when asked', async () => {
    const sub = mkdtempSync(path.join(dir, 'plug-'));
    const files = writePairs(sub, 'rules', [["SELECT age FROM people WHERE name = 'bob'", "SELECT age FROM people WHERE name = 'Ann'"]]);
    expect((await runSqlEval({ ...files, db_dir: dbDir, tables })).results[0]!.ex).toBe(0);
    expect((await runSqlEval({ ...files, db_dir: dbDir, tables, plug_value: true })).results[0]!.ex).toBe(1);
  });

  it('scores exact set match with the official structure', async () => {
    const sub = mkdtempSync(path.join(dir, 'em-'));
    const files = writePairs(sub, 'rules', [
      [G_ORDERED, 'SELECT name FROM people ORDER BY age ASC'],
      ["SELECT name FROM people WHERE age > 30", 'SELECT name FROM people WHERE age > 99'],
      ['SELECT name, age FROM people', 'SELECT age, name FROM people'],
      ['SELECT name FROM people', 'SELECT age FROM people'],
      ['SELECT name FROM people', 'not sql at all'],
    ]);
    const r = await runSqlEval({ ...files, db_dir: dbDir, tables, etype: 'match' });
    expect(r.results.map((x) => x.em)).toEqual([1, 1, 1, 0, 0]);
    expect(r.results.every((x) => x.ex === null)).toBe(true);
    expect(r.metrics.ex).toBeUndefined();
  });

  it('counts missing predictions as wrong and refuses more predictions than gold items', async () => {
    const sub = mkdtempSync(path.join(dir, 'len-'));
    const files = writePairs(sub, 'rules', [
      [G_NAMES, G_NAMES],
      [G_NAMES, G_NAMES],
    ]);
    writeFileSync(files.predictions, `${G_NAMES}\n`);
    const short = await runSqlEval({ ...files, db_dir: dbDir, tables });
    expect(short.results.map((x) => [x.ex, x.error])).toEqual([
      [1, null],
      [0, 'no prediction'],
    ]);
    expect(short.logs.some((l) => /1 predictions for 2 gold items/.test(l))).toBe(true);
    writeFileSync(files.predictions, `${G_NAMES}\n${G_NAMES}\n${G_NAMES}\n\n`);
    await expect(runSqlEval({ ...files, db_dir: dbDir, tables })).rejects.toThrow(/has 3 predictions but .*gold\.sql has 2 items/);
  });

  it('reads JSONL predictions with an sql field', async () => {
    const sub = mkdtempSync(path.join(dir, 'jsonl-'));
    const files = writePairs(sub, 'rules', [[G_NAMES, G_NAMES]]);
    const jsonl = path.join(sub, 'pred.jsonl');
    writeFileSync(jsonl, JSON.stringify({ sql: 'SELECT name FROM people ORDER BY name' }) + '\n');
    const r = await runSqlEval({ gold: files.gold, predictions: jsonl, db_dir: dbDir, tables });
    expect(r.results[0]!.ex).toBe(1);
  });
});

describe('Python semantics used by the comparison', () => {
  it('formats floats as Python repr does', () => {
    const cases: Array<[number, string]> = [
      [1e16, '1e+16'],
      [1e15, '1000000000000000.0'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [1.5e-7, '1.5e-07'],
      [123456789.123, '123456789.123'],
      [-0, '-0.0'],
      [2.5, '2.5'],
      [1e22, '1e+22'],
      [3e-5, '3e-05'],
      [0.1 + 0.2, '0.30000000000000004'],
    ];
    for (const [x, s] of cases) expect(pyFloatRepr(x)).toBe(s);
  });

  it('tokenizes SQL as process_sql.tokenize does', () => {
    // Expected lists produced by the official tokenize() (NLTK word tokenizer).
    expect(tokenizeSql('SELECT T1.name FROM singer AS T1 WHERE T1.age >= 20 AND x != "a b"')).toEqual(
      ['select', 't1.name', 'from', 'singer', 'as', 't1', 'where', 't1.age', '>=', '20', 'and', 'x', '!=', '"a b"'],
    );
    expect(tokenizeSql('select count(*) from t where a<>b, c,1,2 ; -- x')).toEqual(
      ['select', 'count', '(', '*', ')', 'from', 't', 'where', 'a', '<', '>', 'b', ',', 'c,1,2', ';', '--', 'x'],
    );
    expect(tokenizeSql('SELECT a-b, `x` FROM t WHERE y=1... cannot')).toEqual(
      ['select', 'a-b', ',', '`', 'x', '`', 'from', 't', 'where', 'y=1', '...', 'can', 'not'],
    );
  });
});
