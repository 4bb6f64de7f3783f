// `flow compare` on real evaluations (sql-eval through the CLI on the shipped Spider
// subset): prediction files that differ from a baseline's on known items give the
// interval and p-value scipy computes for the same 0/1 vectors, "n.s." where the
// difference is noise; the same predictions scored against a one-file and a two-file
// database folder give numbers compare refuses to set side by side, saying why.

import { copyFileSync, cpSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runIdOf, sandbox } from './helpers/cli.js';
import { testPython } from './helpers/python.js';
import { makeDb, runSqlEval } from './helpers/sql-eval.js';

const MINI = join(ROOT, 'data', 'spider-mini');
const GOLD = readFileSync(join(MINI, 'dev_gold.sql'), 'utf8').trim().split('\n').map((l) => l.split('\t')[0]!);
const N = GOLD.length;

// Which items each "model" answers with the gold SQL (right) or `SELECT 1` (wrong).
// base: right on the first 30. close: base with 2 items fixed and 1 broken (3 discordant: noise).
// far: right on the first 52 (22 more, none fewer: far from noise).
const RIGHT: Record<string, (i: number) => boolean> = {
  base: (i) => i < 30,
  close: (i) => (i < 30 && i !== 5) || i === 40 || i === 41,
  far: (i) => i < 52,
};

const recipe = (preds: string) => `name: sig
params:
  model: base
  database: ${MINI}/database
matrix:
  model: [${preds}]
steps:
  eval:
    uses: sql-eval
    with:
      predictions: pred-\${params.model}.sql
      gold: ${MINI}/dev_gold.sql
      db_dir: \${params.database}
      tables: ${MINI}/tables.json
      workers: 1
`;

let python: string;
beforeAll(async () => {
  python = await testPython();
}, 600_000);

interface Printed {
  row: string;
  group: string;
  n: number;
  delta: number;
  low: number;
  high: number;
  p: number;
  ns: boolean;
}

/** The significance table's lines: `label group n A B Δ [low, high] p [n.s.]`, the label only on a pair's first line. */
function significance(stdout: string): Printed[] {
  const out: Printed[] = [];
  let row = '';
  for (const line of stdout.split('\n')) {
    const m = /^(\S*)\s+(\S+)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+([-+]?[\d.]+)\s+\[([-+]?[\d.]+), ([-+]?[\d.]+)\]\s+([\d.e-]+)( n\.s\.)?$/.exec(line);
    if (!m) continue;
    row = m[1] || row;
    const num = Number;
    out.push({ row, group: m[2]!, n: Number(m[3]), delta: num(m[4]!), low: num(m[5]!), high: num(m[6]!), p: Number(m[7]), ns: !!m[8] });
  }
  return out;
}

describe('flow compare on real evaluations', () => {
  it('prints the interval and p-value scipy computes for the same vectors, n.s. where it should', async () => {
    const s = sandbox();
    for (const [name, right] of Object.entries(RIGHT)) {
      s.write(`pred-${name}.sql`, GOLD.map((g, i) => (right(i) ? g : 'SELECT 1')).join('\n') + '\n');
    }
    const run = await s.flow(['run', s.write('r.yml', recipe('base, close, far')), '--ui', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const runId = runIdOf(run.events);

    // The verdicts the evaluator wrote per item are the ones the files were built to have.
    const results: Record<string, Array<{ ex: number; groups: { hardness: string } }>> = {};
    for (const e of run.events) {
      if (e.type !== 'step-done') continue;
      const model = /model=(\w+)/.exec(e.step)![1]!;
      results[model] = readFileSync(e.outputs.results!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(results[model]!.map((it) => it.ex)).toEqual(GOLD.map((_, i) => (RIGHT[model]!(i) ? 1 : 0)));
    }

    const cmp = await s.flow(['compare', runId]);
    expect(cmp.code, cmp.stderr).toBe(0);
    const printed = significance(cmp.stdout);
    expect(printed.map((p) => `${p.row} ${p.group}`)).toContain('model=close all');

    // scipy on the same vectors, overall and per group (the groups sql-eval named: hardness).
    const cases = printed.map((p) => {
      const model = /model=(\w+)/.exec(p.row)![1]!;
      const keep = (i: number) => p.group === 'all' || results.base![i]!.groups.hardness === p.group;
      const idx = GOLD.map((_, i) => i).filter(keep);
      return { a: idx.map((i) => results.base![i]!.ex), b: idx.map((i) => results[model]![i]!.ex) };
    });
    const want = JSON.parse(
      execFileSync(
        python,
        [
          '-c',
          `
import json, sys, warnings
import numpy as np
from scipy.stats import binomtest, bootstrap
warnings.simplefilter('ignore')
out = []
for c in json.load(sys.stdin):
    a, b = np.array(c['a'], float), np.array(c['b'], float)
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    if only_a + only_b:
        r = bootstrap((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), paired=True, vectorized=True,
                      method='percentile', n_resamples=10000, rng=np.random.default_rng(0))
        ci = [r.confidence_interval.low, r.confidence_interval.high, r.standard_error]
    else:
        ci = [0.0, 0.0, 0.0]
    out.append({'n': len(a), 'delta': float(b.mean() - a.mean()), 'p': p, 'low': ci[0], 'high': ci[1], 'se': ci[2]})
print(json.dumps(out))
`,
        ],
        { input: JSON.stringify(cases), encoding: 'utf8' },
      ),
    ) as Array<{ n: number; delta: number; p: number; low: number; high: number; se: number }>;

    printed.forEach((p, i) => {
      const w = want[i]!;
      const what = `${p.row} ${p.group}`;
      expect(p.n, what).toBe(w.n);
      expect(Math.abs(p.delta - w.delta), what).toBeLessThanOrEqual(0.0005 + 1e-12);
      // Printed to 4 decimals: exact to that.
      expect(Math.abs(p.p - w.p), `${what}: p ${p.p} vs scipy ${w.p}`).toBeLessThanOrEqual(w.p < 1e-4 ? w.p * 0.06 : 0.00005 + 1e-12);
      // Two Monte Carlo estimates (see tests/stats.test.ts for the tolerance), plus printing's rounding.
      const tol = 0.2 * w.se + 1 / w.n + 0.0005;
      expect(Math.abs(p.low - w.low), `${what}: low ${p.low} vs scipy ${w.low}`).toBeLessThan(tol);
      expect(Math.abs(p.high - w.high), `${what}: high ${p.high} vs scipy ${w.high}`).toBeLessThan(tol);
      expect(p.ns, what).toBe(w.p >= 0.05);
    });
    // The designed cases: 3 discordant items are noise, 22 one-way ones are not.
    const all = (row: string) => printed.find((p) => p.row === row && p.group === 'all')!;
    expect(all('model=close')).toMatchObject({ ns: true, p: 1 });
    expect(all('model=far').ns).toBe(false);
    expect(all('model=far').p).toBeLessThan(1e-5);

    // The per-item view: the items base gets right and close wrong, and the other way round.
    const two = await s.flow(['run', s.write('r2.yml', recipe('base, close')), '--ui', 'json']);
    const items = await s.flow(['compare', runIdOf(two.events), '--items']);
    expect(items.code, items.stderr).toBe(0);
    expect(items.stdout).toMatch(/Right in model=base, wrong in model=close: 1\n#5 \(\w+\)/);
    expect(items.stdout).toMatch(/Wrong in model=base, right in model=close: 2\n#40 /);
    expect(items.stdout).toContain(`  gold: ${GOLD[40]}\n  A:    SELECT 1\n  B:    ${GOLD[40]}\n`);
    // A run with one evaluation has nothing to compare, and its report still says where its number comes from.
    const one = await s.flow(['run', s.write('r1.yml', recipe('base')), '--ui', 'json']);
    const rep = await s.flow(['report', runIdOf(one.events), '--out', join(s.dir, 'one')]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(readFileSync(join(s.dir, 'one', 'report.md'), 'utf8')).toMatch(/## EX: provenance\n\nevaluator=sql-eval, mode=test-suite, etype=all, database\.digest=[0-9a-f]{12}…, /);
    // Provenance is the same for every row, and said.
    expect(cmp.stdout).toMatch(/Provenance \(the same for every row\)\nevaluator=sql-eval, mode=test-suite, etype=all, database\.digest=[0-9a-f]{12}…, database\.databases=\d+,\n/);
  }, 300_000);

  // Its two sql-eval steps write byte-identical files at once (the race cache-faults-writers'
  // "two commits of the same bytes" pins down); a failed step's events are printed if the run fails.
  it('refuses to set numbers from a one-file and a two-file database folder side by side, naming the fields', { timeout: 300_000 }, async () => {
    const s = sandbox();
    s.write('pred-base.sql', GOLD.join('\n') + '\n');
    // The same databases, and in the second folder a second SQLite file per database, as
    // test-suite's distilled databases are laid out.
    const one = join(s.dir, 'db-one');
    const two = join(s.dir, 'db-two');
    cpSync(join(MINI, 'database'), one, { recursive: true });
    cpSync(join(MINI, 'database'), two, { recursive: true });
    for (const db of readdirSync(two)) copyFileSync(join(two, db, `${db}.sqlite`), join(two, db, `${db}_2.sqlite`));
    const file = s.write(
      'r.yml',
      // Relative paths: a matrix value with a '/' cannot name the result's `latest/` link (an engine limit).
      recipe('base').replace('matrix:\n  model: [base]', 'matrix:\n  database: [db-one, db-two]'),
    );
    const run = await s.flow(['run', file, '--ui', 'json']);
    expect(run.code, run.stderr + JSON.stringify(run.events.filter((e) => e.type === 'step-failed' || e.type === 'warning'))).toBe(0);
    const runId = runIdOf(run.events);

    const refused = await s.flow(['compare', runId]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    const lines = refused.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^error: refusing to compare numbers measured differently: database\.digest \([0-9a-f]{12}… vs [0-9a-f]{12}…\), database\.files_per_database\.min \(1 vs 2\), database\.files_per_database\.max \(1 vs 2\); --ignore-provenance sets them side by side anyway$/,
    );
    // The report refuses the same way.
    const report = await s.flow(['report', '--compare', runId, runId]);
    expect(report.code).toBe(2);

    const forced = await s.flow(['compare', runId, '--ignore-provenance']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^WARNING: these numbers were measured differently \(--ignore-provenance\).*database\.files_per_database\.max: 1 \| 2/);
  });

  it('refuses evaluations of different gold files, and pairs no items of them when told to go on', async () => {
    const s = sandbox();
    s.write('pred-base.sql', GOLD.join('\n') + '\n');
    const gold = readFileSync(join(MINI, 'dev_gold.sql'), 'utf8');
    s.write('gold-full.sql', gold);
    // The same items in another order: another gold file of the same length.
    s.write('gold-other.sql', gold.trimEnd().split('\n').reverse().join('\n') + '\n');
    const file = s.write(
      'r.yml',
      recipe('base').replace('matrix:\n  model: [base]', 'matrix:\n  gold: [gold-full.sql, gold-other.sql]').replace(`gold: ${MINI}/dev_gold.sql`, 'gold: ${params.gold}').replace('params:\n', `params:\n  gold: x\n`),
    );
    const run = await s.flow(['run', file, '--ui', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const r = await s.flow(['compare', runIdOf(run.events)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: refusing to compare numbers measured differently: gold\.digest \([0-9a-f]{12}… vs [0-9a-f]{12}…\); --ignore-provenance/);
    const forced = await s.flow(['compare', runIdOf(run.events), '--ignore-provenance']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/the gold files differ \([0-9a-f]{12}… vs [0-9a-f]{12}…\): the items cannot be paired/);
    expect(significance(forced.stdout)).toEqual([]);
  }, 300_000);

  it('sql-eval without the engine\'s digests (evaluate called directly) digests the SQLite files it used', async () => {
    const s = sandbox();
    const { dbDir, tables, file } = makeDb(s.dir, 'shop');
    const gold = s.write('gold.sql', 'SELECT count(*) FROM people\tshop\nSELECT max(age) FROM people\tshop\n');
    const pred = s.write('pred.sql', 'SELECT count(*) FROM people\n');
    const score = async () => (await runSqlEval({ predictions: pred, gold, db_dir: dbDir, tables, workers: 1 })).metrics.provenance;
    const one = await score();
    expect(one).toMatchObject({
      evaluator: 'sql-eval',
      mode: 'test-suite',
      etype: 'all',
      database: { digest: expect.stringMatching(/^sqlite-files:[0-9a-f]{64}$/), databases: 1, files_per_database: { min: 1, max: 1 } },
      gold: { digest: expect.stringMatching(/^[0-9a-f]{64}$/), items: 2 },
      flags: { plug_value: false, keep_distinct: false, timeout_s: 30, max_rows: 100000 },
      items: { scored: 2, missing_db: 0, missing_predictions: 1 },
    });
    expect((await score()).database.digest).toBe(one.database.digest);
    copyFileSync(file, file.replace('shop.sqlite', 'shop_2.sqlite'));
    const two = await score();
    expect(two.database).toMatchObject({ files_per_database: { min: 2, max: 2 } });
    expect(two.database.digest).not.toBe(one.database.digest);
  });

  it('credits each evaluation with the loss and time of the steps upstream of it only', async () => {
    const s = sandbox();
    const base = s.write('pred-base.sql', GOLD.map((g, i) => (i < 30 ? g : 'SELECT 1')).join('\n') + '\n');
    const tuned = s.write('pred-tuned.sql', GOLD.map((g, i) => (i < 40 ? g : 'SELECT 1')).join('\n') + '\n');
    // A one-recipe baseline-vs-tuned (as qwen25-qlora's baseline_eval and eval): a stand-in
    // training step that reports a final loss and hands over the tuned predictions.
    const evalWith = (pred: string) => `
    uses: sql-eval
    with:
      predictions: ${pred}
      gold: ${MINI}/dev_gold.sql
      db_dir: ${MINI}/database
      tables: ${MINI}/tables.json
      workers: 1`;
    const file = s.write(
      'r.yml',
      `name: one-recipe
steps:
  baseline_eval:${evalWith(base)}
  train:
    run: |
      echo '{"final_loss": 0.25}' > metrics.json && cp ${tuned} pred.sql
    outputs: { metrics: metrics.json, predictions: pred.sql }
  eval:${evalWith('${steps.train.outputs.predictions}')}
`,
    );
    const run = await s.flow(['run', file, '--ui', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const cmp = await s.flow(['compare', runIdOf(run.events)]);
    expect(cmp.code, cmp.stderr).toBe(0);
    const block = cmp.stdout.split('\n\n').find((b) => b.startsWith('Params that differ'))!.split('\n');
    const row = (label: string) => block.find((l) => l.startsWith(`${label} `))!.trim().split(/ {2,}/);
    expect(row('baseline_eval')[1]).toBe('-');
    expect(row('eval')[1]).toBe('0.250');
    expect(significance(cmp.stdout)[0]).toMatchObject({ row: 'eval', group: 'all', n: N, ns: false });
  }, 300_000);
});
