// Differential test: sql-eval's verdicts, item by item, against the official
// Spider evaluator's own (test-suite-sql-eval, recorded in
// ../shared/spider/official-eval/, see its README): hardness, EX with and
// without plug_value, and EM, on 972 predictions of which about half are wrong.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSqlEval, spider } from './helpers/sql-eval.js';

const fixture = path.join(spider, 'official-eval');
const present = existsSync(path.join(fixture, 'official-shifted.jsonl'));
if (!present) console.warn(`sql-eval-official: skipped, ${fixture} is absent (the official evaluator's verdicts on Spider dev)`);

interface Official {
  index: number;
  db_id: string;
  hardness: string;
  exec: number;
  exec_plug_value: number;
  exact: number;
}

describe.skipIf(!present)(`sql-eval against the official evaluator's verdicts (needs ${fixture})`, () => {
  it('agrees on hardness, EX, EX with plug_value and EM for each of the 972 items', async () => {
    const official = readFileSync(path.join(fixture, 'official-shifted.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Official);
    expect(official).toHaveLength(972);
    const inputs = {
      predictions: path.join(fixture, 'pred-shifted.sql'),
      gold: path.join(fixture, 'gold.sql'),
      db_dir: path.join(spider, 'database'),
      tables: path.join(spider, 'tables.json'),
      etype: 'all',
    };
    const plain = await runSqlEval(inputs);
    const plugged = await runSqlEval({ ...inputs, plug_value: true });
    expect(plain.results).toHaveLength(972);
    expect(plugged.results).toHaveLength(972);

    const mismatches: string[] = [];
    for (const o of official) {
      const a = plain.results[o.index]!;
      const b = plugged.results[o.index]!;
      const ours = { db_id: a.db_id, hardness: a.hardness, exec: a.ex, exec_plug_value: b.ex, exact: a.em };
      for (const k of ['db_id', 'hardness', 'exec', 'exec_plug_value', 'exact'] as const) {
        if (ours[k] !== o[k]) mismatches.push(`item ${o.index} (${o.db_id}) ${k}: ours ${ours[k]}, official ${o[k]}; pred: ${a.pred}`);
      }
    }
    expect(mismatches).toEqual([]);
    // Some of each verdict, so agreement is not agreement on a constant.
    expect(new Set(official.map((o) => o.exec))).toEqual(new Set([0, 1]));
    expect(new Set(official.map((o) => o.exact))).toEqual(new Set([0, 1]));
    expect(plain.metrics.ex.all).toBeCloseTo(0.488, 3);
    expect(plugged.metrics.ex.all).toBeCloseTo(0.496, 3);
    expect(plain.metrics.em.all).toBeCloseTo(0.472, 3);
  });
});
