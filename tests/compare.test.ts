import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExperimentCommand } from '../src/cli/experiments.js';
import type { CmdContext } from '../src/experiments/commands.js';
import { compare, formatCompare } from '../src/experiments/compare.js';
import { metricsDiff } from '../src/experiments/metrics-diff.js';
import { openDb, type DB } from '../src/store/db.js';
import { evalMetrics, recordRun, sweepStore } from './helpers/experiments-store.js';

/** The command as the CLI parses it (commander). */
const cmdCompare = (argv: string[], ctx: CmdContext) => runExperimentCommand('compare', argv, ctx);
const cmdMetricsDiff = (argv: string[], ctx: CmdContext) => runExperimentCommand('metrics', ['diff', ...argv], ctx);

let dir: string;
let db: DB;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flow-compare-'));
  db = sweepStore(join(dir, 'flow.db'));
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a command the way the CLI does and captures what it prints. */
async function run(cmd: typeof cmdCompare, argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await cmd(argv, {
    db,
    cacheDir: dir,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

describe('flow compare', () => {
  it('compares the variants of the latest run by default, best per column marked', async () => {
    const r = await run(cmdCompare, []);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const blocks = r.stdout.split('\n\n');
    expect(blocks[0]).toBe(
      [
        'EX by hardness, run r3-sweep (sweep); * best',
        'variant                         easy   medium    hard   extra     all',
        'lora_rank=32 finetuning=full   0.800    0.660*  0.480   0.300   0.625',
        'lora_rank=32 finetuning=lora   0.810    0.620   0.450   0.300   0.600',
        'lora_rank=128 finetuning=lora  0.860*   0.630   0.500*  0.310*  0.640*',
      ].join('\n'),
    );
    // As dvc exp show: the params that differ, the final training loss (the last logged loss of
    // the variant's train step, the original's on a cache hit) and the time of the variant's
    // steps (shared data step included; a cache hit counts what the original took).
    expect(blocks[1]).toBe(
      [
        'Params that differ, final training loss, duration of the steps',
        'variant                        lora_rank  finetuning  final loss  duration',
        'lora_rank=32 finetuning=full   32         full             0.535    1m 32s',
        'lora_rank=32 finetuning=lora   32         lora             0.927     1m 2s',
        'lora_rank=128 finetuning=lora  128        lora             0.680     1m 7s',
      ].join('\n'),
    );
    // These fixtures recorded neither per-item results nor provenance: said, not guessed.
    expect(blocks[2]).toBe('No per-item results recorded for these evaluations (or removed by flow gc): no interval or p-value');
    expect(blocks[3]).toMatch(/^No provenance recorded for: lora_rank=32 finetuning=full, .* \(scored before flow recorded it\)\n$/);
  });

  it('prints markdown with the best values in bold', async () => {
    const r = await run(cmdCompare, ['--format', 'md', '--metric', 'em', 'r1-sweep']);
    expect(r.stdout.split('\n\n')[0] + '\n').toBe(
      [
        '| variant                       |      easy |    medium |      hard |     extra |       all |',
        '|:------------------------------|----------:|----------:|----------:|----------:|----------:|',
        '| lora_rank=32 finetuning=full  |     0.690 | **0.550** |     0.300 | **0.220** | **0.530** |',
        '| lora_rank=32 finetuning=lora  |     0.700 |     0.500 |     0.300 |     0.200 |     0.500 |',
        '| lora_rank=128 finetuning=lora | **0.720** |     0.490 | **0.350** |     0.200 |     0.520 |',
        '',
      ].join('\n'),
    );
  });

  it('takes the latest result of each variant across the runs of a recipe', () => {
    const t = compare(db, { recipe: 'sweep', metric: 'ex' });
    expect(t.source).toBe('recipe sweep (latest of 2 runs)');
    expect(t.rows.map((r) => [r.label, r.runId, r.cached, r.values.all])).toEqual([
      ['lora_rank=32 finetuning=full', 'r3-sweep', true, 0.625],
      ['lora_rank=32 finetuning=lora', 'r3-sweep', true, 0.6],
      ['lora_rank=128 finetuning=lora', 'r3-sweep', false, 0.64],
    ]);
    // A recipe given by its path finds the same runs.
    expect(compare(db, { recipe: '/work/recipes/sweep.yml', metric: 'ex' }).rows).toEqual(t.rows);
  });

  it('labels rows by run when comparing runs, ties all marked', async () => {
    const r = await run(cmdCompare, ['r1', 'r2-baseline']);
    expect(r.stdout.split('\n\n')[0] + '\n').toBe(
      [
        'EX by hardness, 2 runs; * best',
        'variant                                        easy   medium    hard   extra     all',
        'r1-sweep sweep lora_rank=32 finetuning=full   0.800    0.660*  0.480   0.300*  0.625*',
        'r1-sweep sweep lora_rank=32 finetuning=lora   0.810    0.620   0.450   0.300*  0.600',
        'r1-sweep sweep lora_rank=128 finetuning=lora  0.840*   0.600   0.500*  0.280   0.610',
        'r2-baseline baseline                          0.500    0.300   0.200   0.100   0.300',
        '',
      ].join('\n'),
    );
  });

  it('writes CSV and JSON that parse back to the same numbers', async () => {
    const csv = (await run(cmdCompare, ['--format', 'csv'])).stdout;
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe('label,run,recipe,step,easy,medium,hard,extra,all');
    expect(lines[3]).toBe('lora_rank=128 finetuning=lora,r3-sweep,sweep,"eval[lora_rank=128,finetuning=lora]",0.86,0.63,0.5,0.31,0.64');
    // Quoted fields hold commas: split respecting quotes.
    const fields = [...lines[1]!.matchAll(/"([^"]*)"|([^,]+)/g)].map((m) => m[1] ?? m[2]);
    expect(fields).toEqual(['lora_rank=32 finetuning=full', 'r3-sweep', 'sweep', 'eval[lora_rank=32,finetuning=full]', '0.8', '0.66', '0.48', '0.3', '0.625']);

    const json = JSON.parse((await run(cmdCompare, ['--format', 'json', '--recipe', 'sweep'])).stdout);
    expect(json.metric).toBe('ex');
    expect(json.columns).toEqual(['easy', 'medium', 'hard', 'extra', 'all']);
    expect(json.rows).toHaveLength(3);
    expect(json.rows[2].variant).toEqual({ lora_rank: 128, finetuning: 'lora' });
    expect(json.best).toEqual({ easy: 0.86, medium: 0.66, hard: 0.5, extra: 0.31, all: 0.64 });
  });

  it('a run without variants is labelled by its step', () => {
    const t = compare(db, { runs: ['r2'], metric: 'ex' });
    expect(formatCompare(t, 'text')).toBe(
      [
        'EX by hardness, run r2-baseline (baseline); * best',
        'step   easy   medium    hard   extra     all',
        'eval  0.500    0.300   0.200   0.100   0.300',
        '',
      ].join('\n'),
    );
  });

  it('reports usage errors with exit 2 and missing data with exit 1, one line each', async () => {
    const bad = await run(cmdCompare, ['--format', 'xml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("flow: option '-f, --format <format>' argument 'xml' is invalid. Allowed choices are text, md, csv, json.\n");
    const unknownFlag = await run(cmdCompare, ['--bogus']);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toBe("flow: unknown option '--bogus'\n");
    const both = await run(cmdCompare, ['r1-sweep', '--recipe', 'sweep']);
    expect(both).toEqual({ code: 2, stdout: '', stderr: 'flow: give run ids or --recipe, not both\n' });

    expect(await run(cmdCompare, ['nope'])).toEqual({ code: 1, stdout: '', stderr: "flow: no run 'nope' in this cache (see flow runs)\n" });
    expect((await run(cmdCompare, ['r'])).stderr).toBe('flow: run \'r\' is ambiguous: r1-sweep, r2-baseline, r3-sweep, ...\n');
    expect(compare(db, { runs: ['last'], metric: 'ex' }).source).toBe('run r3-sweep (sweep)');
    expect((await run(cmdCompare, ['--metric', 'rouge'])).stderr).toMatch(/^flow: no run in this cache recorded 'rouge' metrics/);
  });

  it('a mistyped option gets "did you mean", on one line, exit 2 (as every other command)', async () => {
    expect(await run(cmdCompare, ['--formt', 'md'])).toEqual({ code: 2, stdout: '', stderr: "flow: unknown option '--formt' (Did you mean --format?)\n" });
    expect((await run(cmdCompare, ['--ignore-provenence'])).stderr).toBe("flow: unknown option '--ignore-provenence' (Did you mean --ignore-provenance?)\n");
    expect((await run(cmdMetricsDiff, ['r1-sweep', 'r3-sweep', '--al'])).stderr).toBe("flow: unknown option '--al' (Did you mean --all?)\n");
  });
});

describe('flow compare: repeats and refusals', () => {
  it('a matrix over seed reports mean ± std and the range per column', async () => {
    const own = openDb(join(dir, 'seeds.db'));
    const steps = [0.6, 0.62, 0.64].map((all, i) => ({
      stepId: `eval[seed=${i + 1}]`,
      variant: { seed: i + 1 },
      metrics: evalMetrics([0.8, 0.6, 0.4, 0.2, all]),
    }));
    recordRun(own, { id: 's-seeds', name: 'seeds', startedAt: 1, steps });
    let stdout = '';
    const code = await cmdCompare([], { db: own, cacheDir: dir, stdout: { write: (x: string) => (stdout += x) }, stderr: { write: () => {} } });
    own.close();
    expect(code).toBe(0);
    const block = stdout.split('\n\n').find((b) => b.startsWith('Over seeds'))!.split('\n');
    expect(block[1]).toMatch(/^variant +seeds +easy +medium +hard +extra +all$/);
    // Sample std (n - 1): 0.6, 0.62, 0.64 -> 0.620 ± 0.020.
    expect(block[2]).toMatch(/^\(all\) +3 +0\.800 ± 0\.000 \(0\.800–0\.800\) .* 0\.620 ± 0\.020 \(0\.600–0\.640\)$/);
  });

  it('refuses runs with no scored items in common (exit 2, one line), not a table of zeros', async () => {
    const own = openDb(join(dir, 'disjoint.db'));
    for (const [id, ex] of [['d1', 1], ['d2', null]] as const) {
      const results = join(dir, `${id}.jsonl`);
      // d2's items were not scored (their database was missing): nothing to pair them on.
      writeFileSync(results, [0, 1, 2].map((i) => JSON.stringify({ index: i, ex, gold: `SELECT ${i}` })).join('\n') + '\n');
      recordRun(own, { id, name: id, startedAt: id === 'd1' ? 1 : 2, steps: [{ stepId: 'eval', metrics: evalMetrics([1, 1, 1, 1, 1]) }] });
      own.prepare('UPDATE executions SET outputs = ? WHERE run_id = ?').run(JSON.stringify({ results }), id);
    }
    let stdout = '';
    let stderr = '';
    const code = await cmdCompare(['d1', 'd2'], { db: own, cacheDir: dir, stdout: { write: (x: string) => (stdout += x) }, stderr: { write: (x: string) => (stderr += x) } });
    own.close();
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe('flow: d1 d1 and d2 d2 have no scored items in common: there is nothing to compare them on\n');
  });
});

describe('flow metrics diff', () => {
  it('matches steps by id and shows B - A', async () => {
    const r = await run(cmdMetricsDiff, ['r1-sweep', 'r3-sweep', '--metric', 'ex', '--all']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('step metric                                    r1-sweep  r3-sweep    delta');
    expect(lines).toContain('eval[lora_rank=128,finetuning=lora] ex.all       0.6100    0.6400  +0.0300');
    expect(lines).toContain('eval[lora_rank=32,finetuning=lora] ex.all        0.6000    0.6000        0');
    expect(lines).toHaveLength(1 + 15 + 1);
  });

  it('by default only the rows that changed', async () => {
    const r = await run(cmdMetricsDiff, ['r1-sweep', 'r3-sweep', '--metric', 'ex']);
    const lines = r.stdout.trim().split('\n');
    // Only the rank-128 evaluation was re-run, and its ex.hard came out the same; the cached ones are equal.
    expect(lines.slice(1).map((l) => l.split(/ +/).slice(0, 2).join(' '))).toEqual(
      ['easy', 'medium', 'extra', 'all'].map((lv) => `eval[lora_rank=128,finetuning=lora] ex.${lv}`),
    );
    expect(lines).not.toContain('eval[lora_rank=32,finetuning=lora] ex.all        0.6000    0.6000        0');
  });

  it('one final loss: final_loss, the last logged training loss, and no second name for it', () => {
    const d = metricsDiff(db, 'r1-sweep', 'r3-sweep');
    const train = d.rows.filter((r) => r.step === 'train[lora_rank=128,finetuning=lora]');
    expect(train.map((r) => r.metric)).toEqual(['train_loss', 'final_loss']);
    const series = db.prepare("SELECT value FROM metrics WHERE exec_id = 'r3-sweep-e2' AND name = 'loss' ORDER BY step").all() as Array<{ value: number }>;
    expect(train[1]!.b).toBe(series.at(-1)!.value);
    // python:sft writes final_loss into metrics.json beside the series it logged: still one row.
    const own = openDb(join(dir, 'sft.db'));
    for (const id of ['s1', 's2']) {
      recordRun(own, { id, name: 'sft', startedAt: id === 's1' ? 1 : 2, steps: [{ stepId: 'train', loss: [[1, 2.5], [2, 1.25]], metrics: { train_loss: 1.9, final_loss: 1.25 } }] });
    }
    const rows = metricsDiff(own, 's1', 's2').rows;
    own.close();
    expect(rows.map((r) => [r.metric, r.a])).toEqual([['train_loss', 1.9], ['final_loss', 1.25]]);
  });

  it('includes the final training loss, from the original execution on a cache hit', () => {
    const d = metricsDiff(db, 'r1-sweep', 'r3-sweep', 'final_loss');
    const byStep = Object.fromEntries(d.rows.map((r) => [r.step, r]));
    // Cached in r3: the same series as r1, so no change.
    expect(byStep['train[lora_rank=32,finetuning=lora]']).toMatchObject({ a: 0.9275, b: 0.9275, delta: 0 });
    expect(byStep['train[lora_rank=128,finetuning=lora]']!.b).toBeCloseTo(0.6802, 4);
    expect(byStep['train[lora_rank=128,finetuning=lora]']!.delta).toBeLessThan(0);
  });

  it('pairs a step that ran once in each run under different variants; partial scores only with --all', async () => {
    const own = openDb(join(dir, 'pair.db'));
    const partial = (v: number) => ({ select: { acc: { easy: v, all: v }, rec: { easy: v, all: v } } });
    recordRun(own, { id: 'p1-base', name: 'baseline', startedAt: 1, steps: [{ stepId: 'eval', metrics: { ...evalMetrics([0.5, 0.3, 0.2, 0.1, 0.3]), partial: partial(0.4) } }] });
    recordRun(own, {
      id: 'p2-tuned',
      name: 'sweep',
      startedAt: 2,
      steps: [{ stepId: 'eval[lora_rank=8]', variant: { lora_rank: 8 }, metrics: { ...evalMetrics([0.6, 0.4, 0.2, 0.1, 0.38]), partial: partial(0.5) } }],
    });
    const d = metricsDiff(own, 'p1-base', 'p2-tuned', undefined, true);
    // One step on each side: paired, so every row has both values (before: one half-empty row per metric and side).
    expect(new Set(d.rows.map((r) => r.step))).toEqual(new Set(['eval vs eval[lora_rank=8]']));
    expect(d.rows.every((r) => r.a !== null && r.b !== null)).toBe(true);
    expect(d.rows.map((r) => r.metric)).toEqual(['ex.easy', 'ex.medium', 'ex.all']);
    const all = metricsDiff(own, 'p1-base', 'p2-tuned', undefined, false);
    expect(all.rows.filter((r) => r.metric.startsWith('partial.')).map((r) => [r.metric, r.a, r.b])).toContainEqual(['partial.select.acc.easy', 0.4, 0.5]);
    own.close();
  });

  it('needs exactly two runs', async () => {
    const r = await run(cmdMetricsDiff, ['r1-sweep']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("flow: missing required argument 'runB'\n");
    expect(await runExperimentCommand('metrics', [], { db, cacheDir: dir, stdout: { write: () => 0 }, stderr: { write: (x: string) => (r.stderr += x) } })).toBe(2);
    expect(r.stderr).toBe("flow: missing required argument 'runB'\nflow: usage: flow metrics diff <runA> <runB>\n");
    expect((await run(cmdMetricsDiff, ['a', 'b', 'c'])).stderr).toBe("flow: too many arguments for 'diff'. Expected 2 arguments but got 3.\n");
  });
});
