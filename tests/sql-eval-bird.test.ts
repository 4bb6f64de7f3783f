// sql-eval's `benchmark: bird` against the official bird-bench/mini_dev evaluation scripts: every
// item's EX and Soft-F1 and the by-difficulty figures as the scripts gave them on BIRD-format data
// over Spider's databases (tests/fixtures/bird, README there says how the verdicts were made), the
// R-VES bucketing on the fixed timings the official code was given, and where Spider's rules
// disagree on the same items.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aggregateBird, type BirdItemResult } from '../steps/sql-eval/bird-evaluate.js';
import { cleanAbnormal, pairwiseSum, vesReward } from '../steps/sql-eval/bird.js';
import { repoRoot, runSqlEval } from './helpers/sql-eval.js';

const FIX = path.join(repoRoot, 'tests', 'fixtures', 'bird');
const official = JSON.parse(readFileSync(path.join(FIX, 'official-verdicts.json'), 'utf8'));
const dev = JSON.parse(readFileSync(path.join(FIX, 'dev.json'), 'utf8')) as Array<{ SQL: string; db_id: string; difficulty: string }>;
const bird = { benchmark: 'bird', predictions: path.join(FIX, 'predict_dev.json'), gold: path.join(FIX, 'dev.json'), db_dir: path.join(FIX, 'dev_databases'), workers: 2 };
const LEVELS = { simple: 'simple', moderate: 'moderate', challenging: 'challenging', all: 'total' } as const;

describe('BIRD scoring as the official scripts', () => {
  it('gives every item the official EX and Soft-F1, and the official figures by difficulty', async () => {
    const r = await runSqlEval({ ...bird, ves_runs: 0 });
    expect(r.results.map((x) => ({ index: x.index, ex: x.ex, soft_f1: x.soft_f1 }))).toEqual(official.items);
    for (const [ours, theirs] of Object.entries(LEVELS)) {
      expect(r.metrics.count[ours]).toBe(official.ex.count[theirs]);
      expect(r.metrics.ex[ours] * 100).toBeCloseTo(official.ex[theirs], 10);
      expect(r.metrics.soft_f1[ours] * 100).toBeCloseTo(official.soft_f1[theirs], 10);
    }
    expect(r.metrics.r_ves).toBeUndefined();
    // Evidence and question travel into results for reports.
    expect(r.results[3]).toMatchObject({ difficulty: 'moderate', evidence: 'oldest refers to MAX(Age)' });
  });

  it('buckets R-VES on fixed timings as the official code did', () => {
    for (const c of official.ves_cases as Array<{ case: string; times: number[]; reward: number }>) {
      const ratios: number[] = [];
      for (let i = 0; i < c.times.length; i += 2) ratios.push(c.times[i + 1]! / c.times[i]!);
      expect(vesReward(ratios), c.case).toBe(c.reward);
    }
    // The same trimming on a plain case: the outlier goes, the rest stay.
    expect(cleanAbnormal([...Array(20).fill(1), 1.1, 0.9, 100])).toHaveLength(22);
    expect(pairwiseSum(Array.from({ length: 300 }, (_, i) => 0.1 * i))).toBeCloseTo(4485, 9);
  });

  it('aggregates fixed rewards into R-VES by difficulty as compute_ves_by_diff', () => {
    const f = official.r_ves_on_fixed_rewards;
    const items = (f.rewards as number[]).map((reward, index): BirdItemResult => ({
      index, db_id: dev[index]!.db_id, difficulty: dev[index]!.difficulty, ex: reward > 0 ? 1 : 0, soft_f1: 0, reward,
      missing_db: false, error: null, pred: '', gold: '',
    }));
    const m = aggregateBird(items, 100);
    for (const [ours, theirs] of Object.entries(LEVELS)) expect(m.r_ves![ours as keyof typeof LEVELS]).toBeCloseTo(f[theirs], 10);
  });

  it('times correct items for R-VES and scores wrong ones 0', async () => {
    const r = await runSqlEval({ ...bird, ves_runs: 3 });
    for (const x of r.results) {
      if (x.ex === 1) expect([0.25, 0.5, 0.75, 1, 1.25]).toContain(x.reward);
      else expect(x.reward).toBe(0);
    }
    expect(r.metrics.r_ves.all).toBeGreaterThan(0);
    expect(r.report).toMatch(/R-VES \(3 timed runs per item, 3σ trimming\)/);
  });

  it('differs from Spider\'s rules on the items built for it', async () => {
    const dir = path.join(os.tmpdir(), `bird-spider-${process.pid}`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const gold = path.join(dir, 'gold.sql');
    const pred = path.join(dir, 'pred.sql');
    const preds = JSON.parse(readFileSync(bird.predictions, 'utf8')) as Record<string, string | null>;
    writeFileSync(gold, dev.map((d) => `${d.SQL}\t${d.db_id}\n`).join(''));
    writeFileSync(pred, Object.values(preds).map((p) => `${(p ?? '').split('\t')[0]}\n`).join(''));
    const s = await runSqlEval({ predictions: pred, gold, db_dir: bird.db_dir, tables: path.join(FIX, 'dev_tables.json'), etype: 'exec', workers: 2 });
    // columns swapped, every row twice, order reversed: Spider 1 / 0 / 0, BIRD 0 / 1 / 1.
    expect([1, 2, 3].map((i) => s.results[i]!.ex)).toEqual([1, 0, 0]);
    expect([1, 2, 3].map((i) => official.items[i].ex)).toEqual([0, 1, 1]);
  });

  it('scores an item whose gold fails 0, as the official scripts do, and says why', async () => {
    const g = path.join(os.tmpdir(), `bird-gold-fails-${process.pid}.json`);
    writeFileSync(g, JSON.stringify([{ SQL: 'SELECT nope FROM singer', db_id: 'concert_singer', difficulty: 'simple' }]));
    const p = path.join(os.tmpdir(), `bird-pred-${process.pid}.sql`);
    writeFileSync(p, 'SELECT 1\n');
    const r = await runSqlEval({ ...bird, gold: g, predictions: p, ves_runs: 0 });
    expect(r.results[0]).toMatchObject({ ex: 0, soft_f1: 0, error: expect.stringMatching(/^gold query failed: no such column: nope/) });
  });

  it('refuses a BIRD question without difficulty, naming the file, record and field', async () => {
    const bad = path.join(os.tmpdir(), `bird-bad-${process.pid}.json`);
    writeFileSync(bad, JSON.stringify([{ SQL: 'SELECT 1', db_id: 'concert_singer' }]));
    await expect(runSqlEval({ ...bird, gold: bad })).rejects.toThrow(`sql-eval: ${bad}: record 0: field "difficulty" is missing`);
  });
});
