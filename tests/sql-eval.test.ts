// sql-eval on the real Spider dev set: gold as prediction must score 1.000
// everywhere, with the official hardness counts and wta_1 reported missing.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSqlEval, spider } from './helpers/sql-eval.js';

const present = existsSync(path.join(spider, 'dev_gold.sql'));
if (!present) console.warn(`sql-eval on Spider dev: skipped, ${spider} is absent`);

describe.skipIf(!present)(`sql-eval on Spider dev (needs ${spider})`, () => {
  it('scores gold-as-prediction 1.000 on every level with the official hardness counts', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-eval-gold-'));
    const pred = path.join(dir, 'pred.sql');
    const gold = readFileSync(path.join(spider, 'dev_gold.sql'), 'utf8').trim().split('\n');
    writeFileSync(pred, gold.map((l) => l.split('\t')[0]).join('\n') + '\n');
    const r = await runSqlEval({
      predictions: pred,
      gold: path.join(spider, 'dev_gold.sql'),
      db_dir: path.join(spider, 'database'),
      tables: path.join(spider, 'tables.json'),
    });
    expect(r.metrics.count).toEqual({ easy: 232, medium: 416, hard: 160, extra: 164, all: 972 });
    expect(r.metrics.count_all_items).toEqual({ easy: 248, medium: 446, hard: 174, extra: 166, all: 1034 });
    expect(r.metrics.missing_db).toBe(62);
    for (const lv of ['easy', 'medium', 'hard', 'extra', 'all']) {
      expect(r.metrics.ex[lv]).toBe(1);
      expect(r.metrics.em[lv]).toBe(1);
    }
    expect(r.metrics.errors).toBe(0);
    expect(r.results).toHaveLength(1034);
    const missing = r.results.filter((x) => x.missing_db);
    expect(missing).toHaveLength(62);
    expect(new Set(missing.map((x) => x.db_id))).toEqual(new Set(['wta_1']));
    expect(missing.every((x) => x.ex === null && x.em === null && /not found/.test(x.error))).toBe(true);
    expect(r.logs.some((l) => /62 items skipped: database missing \(wta_1\)/.test(l))).toBe(true);
    expect(r.report).toMatch(/\| execution \| 1\.000 \| 1\.000 \| 1\.000 \| 1\.000 \| 1\.000 \|/);
    expect(r.report).toMatch(/\| count \| 232 \| 416 \| 160 \| 164 \| 972 \|/);
    expect(r.metrics.rouge.rouge1).toBe(1);
    expect(r.metrics.string_match).toBe(1);
  });

  it('keeps no partial outputs when the inputs are bad', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-eval-bad-'));
    const gold = path.join(dir, 'gold.sql');
    writeFileSync(gold, 'SELECT 1\tconcert_singer\nSELECT 2 no tab here\n');
    writeFileSync(path.join(dir, 'pred.sql'), 'SELECT 1\nSELECT 2\n');
    const workDir = mkdtempSync(path.join(os.tmpdir(), 'sql-eval-work-'));
    await expect(
      runSqlEval(
        { predictions: path.join(dir, 'pred.sql'), gold, db_dir: path.join(spider, 'database'), tables: path.join(spider, 'tables.json') },
        { workDir },
      ),
    ).rejects.toThrow(/gold\.sql:2: expected "SQL<TAB>db_id"/);
    expect(readdirSync(workDir)).toEqual([]);
  });
});
