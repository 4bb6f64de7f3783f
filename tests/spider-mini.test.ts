// The shipped Spider subset (data/spider-mini) holds out what Spider holds out: its dev questions
// come from databases training never sees, and no dev question or gold query appears in training
// (the subset's first cut had all 58 dev gold queries verbatim in its train split, so the
// quickstart's EX measured recall). scripts/spider-mini.py rebuilds it and applies the same rules.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const MINI = join(ROOT, 'data', 'spider-mini');
const read = <T>(f: string) => JSON.parse(readFileSync(join(MINI, f), 'utf8')) as T;
type Item = { db_id: string; question: string; query: string };
const train = read<Item[]>('train_spider.json');
const dev = read<Item[]>('dev.json');

const sql = (q: string) => q.replace(/"/g, "'").toLowerCase().split(/\s+/).filter(Boolean).join(' ').replace(/;$/, '');
const question = (q: string) => q.toLowerCase().split(/\s+/).filter(Boolean).join(' ');

it('shares no database, question or gold query between dev and train', () => {
  expect(dev.length).toBeGreaterThan(50);
  expect(train.length).toBeGreaterThan(100);
  const trainDbs = new Set(train.map((t) => t.db_id));
  expect(dev.filter((d) => trainDbs.has(d.db_id)).map((d) => d.db_id)).toEqual([]);
  const trainSql = new Set(train.map((t) => sql(t.query)));
  const trainQuestions = new Set(train.map((t) => question(t.question)));
  expect(dev.filter((d) => trainSql.has(sql(d.query))).map((d) => d.query)).toEqual([]);
  expect(dev.filter((d) => trainQuestions.has(question(d.question))).map((d) => d.question)).toEqual([]);
});

it('ships what the quickstart and the evaluator read for every database it names', () => {
  const gold = readFileSync(join(MINI, 'dev_gold.sql'), 'utf8').trimEnd().split('\n');
  expect(gold).toEqual(dev.map((d) => `${d.query}\t${d.db_id}`));
  const schemas = new Set(read<Array<{ db_id: string }>>('tables.json').map((t) => t.db_id));
  for (const db of new Set([...dev, ...train].map((x) => x.db_id))) {
    expect(schemas.has(db), db).toBe(true);
    expect(existsSync(join(MINI, 'database', db, `${db}.sqlite`)), db).toBe(true);
  }
});
