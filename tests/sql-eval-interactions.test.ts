// sql-eval on the official evaluator's interaction format (blank-line separated gold and
// predictions): the figures test-suite-sql-eval printed (tests/fixtures/interaction), including
// turn accuracies and the interaction (joint) accuracy; a count mismatch is refused as it is there.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoRoot, runSqlEval } from './helpers/sql-eval.js';

const FIX = path.join(repoRoot, 'tests', 'fixtures', 'interaction');
const BIRD = path.join(repoRoot, 'tests', 'fixtures', 'bird');
const official = JSON.parse(readFileSync(path.join(FIX, 'official.json'), 'utf8'));
const run = (gold: string, pred: string) =>
  runSqlEval({ gold: path.join(FIX, gold), predictions: path.join(FIX, pred), db_dir: path.join(BIRD, 'dev_databases'), tables: path.join(BIRD, 'dev_tables.json'), workers: 2 });

describe('interaction format', () => {
  for (const [gold, pred] of [['gold.sql', 'pred.sql'], ['single-gold.sql', 'single-pred.sql']] as const) {
    it(`scores ${gold} as the official evaluator`, async () => {
      const want = official[gold];
      const r = await run(gold, pred);
      for (const k of ['count', 'ex', 'em'] as const) {
        for (const [level, v] of Object.entries(want[k] as Record<string, number>)) expect(r.metrics[k][level], `${k} ${level}`).toBeCloseTo(v, 3);
      }
      expect(r.metrics.interaction.count).toBe(want.interaction.count);
      expect(r.metrics.interaction.ex).toBeCloseTo(want.interaction.ex, 3);
      expect(r.metrics.interaction.em).toBeCloseTo(want.interaction.em, 3);
      for (const [turn, v] of Object.entries(want.turns as Record<string, { count: number; ex: number; em: number }>)) {
        expect(r.metrics.turns[turn].count, turn).toBe(v.count);
        expect(r.metrics.turns[turn].ex, turn).toBeCloseTo(v.ex, 3);
        expect(r.metrics.turns[turn].em, turn).toBeCloseTo(v.em, 3);
      }
      expect(r.report).toMatch(/## Turns and interactions/);
    });
  }

  it('the unpredicted sixth turn is left out, as the official zip leaves it', async () => {
    const r = await run('gold.sql', 'pred.sql');
    expect(r.results).toHaveLength(13);
    expect(r.results.map((x) => [x.interaction, x.turn]).filter(([i]) => i === 3)).toEqual([[3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]);
    expect(r.logs.join('\n')).toMatch(/1 gold turns have no predicted turn/);
  });

  it('a single-turn prediction file with a blank line after each item reads beside a plain gold file', async () => {
    const dir = os.tmpdir();
    const plain = path.join(dir, `plain-gold-${process.pid}.sql`);
    writeFileSync(plain, readFileSync(path.join(FIX, 'single-gold.sql'), 'utf8').replace(/\n\n/g, '\n'));
    const r = await runSqlEval({ gold: plain, predictions: path.join(FIX, 'single-pred.sql'), db_dir: path.join(BIRD, 'dev_databases'), tables: path.join(BIRD, 'dev_tables.json'), workers: 2 });
    expect(r.metrics.ex.all).toBeCloseTo(2 / 3, 10);
    expect(r.metrics.interaction).toBeUndefined();
  });

  it('refuses files with different numbers of interactions', async () => {
    await expect(run('gold.sql', 'single-pred.sql')).rejects.toThrow(/single-pred\.sql has 3 interactions \(blank-line separated\) but .*gold\.sql has 5/);
  });
});
