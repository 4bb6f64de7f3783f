// Execution-guided prediction, two parts.
//
// 1. The sql-vote step against sql-eval on the 972 runnable Spider dev items
//    (../shared/spider), in process, runs alternated, medians: vote() on 8
//    candidates per item against evaluate() of one prediction per item (etype
//    all, sql-eval's default, and etype exec). There is no model here, so the
//    candidates are made from Spider's own SQL on the item's database: the gold
//    of the item and of the next three items on the same database, repeated as
//    samples repeat (3, 3, 1, 1 times... see below) plus one that fails to run:
//    5 distinct texts per item where the database has 4 items or more, more
//    than a trained model's samples usually hold (they agree more), so the
//    figure errs slow. Goal: the vote ≤ 2× sql-eval's time on the same items.
// 2. With BENCH_VOTE_MODEL=1: recipes/quickstart-vote.yml through the CLI (the
//    quickstart's model, trained as the quickstart trains it, then greedy and
//    8 samples per question on the subset's 75 dev items): predict items/s at
//    N = 1 and N = 8, EX greedy vs EX voted, execution error rates. Figures,
//    not a claim of gain. Tens of minutes on 2 cores the first time (training);
//    it runs in the checkout's own cache (and its Python env), so a quickstart
//    run before it leaves only the sampling and the vote to do.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluate, type Etype } from '../steps/sql-eval/evaluate.js';
import { vote } from '../steps/sql-vote/vote.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = [path.resolve(here, '..'), path.resolve(here, '../..')].find((d) => existsSync(path.join(d, 'package.json')))!;
// SPIDER_DIR overrides where Spider lies (a worktree beside the checkout has no ../shared).
const spider = process.env.SPIDER_DIR ?? path.resolve(root, '../shared/spider');
const goldFile = path.join(spider, 'official-eval', 'gold.sql');
const RUNS = Number(process.env.BENCH_VOTE_RUNS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function executionPart(): Promise<void> {
  if (!existsSync(goldFile)) {
    console.log(`vote bench (execution) skipped: ${goldFile} is absent`);
    return;
  }
  const gold = readFileSync(goldFile, 'utf8').trim().split('\n').map((l) => l.split('\t') as [string, string]);
  const byDb = new Map<string, number[]>();
  gold.forEach(([, db], i) => byDb.set(db, [...(byDb.get(db) ?? []), i]));
  /** The k-th item after i on i's database, wrapping. */
  const next = (i: number, k: number) => {
    const same = byDb.get(gold[i]![1])!;
    return gold[same[(same.indexOf(i) + k) % same.length]!]![0];
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-vote-'));
  const candFile = path.join(dir, 'candidates.jsonl');
  const devFile = path.join(dir, 'dev.json');
  const predFile = path.join(dir, 'pred.sql');
  const items = gold.map(([, db], i) => {
    const [g0, g1, g2, g3] = [0, 1, 2, 3].map((k) => next(i, k));
    const texts = [g1, g0, g0, g1, g2, g0, g3, `${g2} WHERE`];
    return { index: i, db_id: db, question: `q${i}`, candidates: texts.map((sql, k) => ({ sql, logprob: -1 - k, round: 0 })) };
  });
  writeFileSync(candFile, items.map((x) => JSON.stringify(x)).join('\n') + '\n');
  writeFileSync(devFile, JSON.stringify(gold.map(([, db], i) => ({ db_id: db, input: `q${i}` }))));
  // sql-eval scores the first candidate of each item, one prediction per item.
  writeFileSync(predFile, items.map((x) => x.candidates[0]!.sql + '\n').join(''));
  const distinct = items.reduce((s, x) => s + new Set(x.candidates.map((c) => c.sql)).size, 0);
  const dbDir = path.join(spider, 'database');
  const evalOnce = async (etype: Etype) => {
    const t0 = performance.now();
    await evaluate({ predictions: predFile, gold: goldFile, dbDir, tables: path.join(spider, 'tables.json'), etype, plugValue: false, keepDistinct: false, compat: 'test-suite', timeoutS: 30, maxRows: 100000 });
    return (performance.now() - t0) / 1000;
  };
  const times = { vote: [] as number[], all: [] as number[], exec: [] as number[] };
  let summary;
  for (let r = 0; r < RUNS; r++) {
    times.all.push(await evalOnce('all'));
    const t0 = performance.now();
    summary = (await vote({ candidates: candFile, dev: devFile, dbDir, strategy: 'majority', timeoutS: 30, maxRows: 100000 })).summary;
    times.vote.push((performance.now() - t0) / 1000);
    times.exec.push(await evalOnce('exec'));
  }
  const v = median(times.vote);
  const a = median(times.all);
  const e = median(times.exec);
  const n = gold.length;
  const c = n * 8;
  console.log(`vote bench: ${n} Spider dev items × 8 candidates (${distinct} distinct texts, ${(distinct / n).toFixed(2)} per item), ${os.availableParallelism()} cores, medians of ${RUNS} alternated runs`);
  console.log(`  sql-vote (majority)       ${v.toFixed(2)} s   ${(c / v).toFixed(0)} candidates/s   ${(distinct / v).toFixed(0)} distinct queries/s`);
  console.log(`  sql-eval etype all        ${a.toFixed(2)} s   ${(n / a).toFixed(0)} items/s   vote/eval ratio ${(v / a).toFixed(2)} (goal ≤ 2)`);
  console.log(`  sql-eval etype exec       ${e.toFixed(2)} s   ${(n / e).toFixed(0)} items/s   vote/eval ratio ${(v / e).toFixed(2)}`);
  console.log(`  vote summary: agreement ${summary!.mean_agreement}, first-candidate errors ${summary!.error_rate_first}, chosen errors ${summary!.error_rate_chosen}, changed ${summary!.changed}`);
}

function modelPart(): void {
  if (process.env.BENCH_VOTE_MODEL !== '1') {
    console.log('vote bench (model): set BENCH_VOTE_MODEL=1 to train the quickstart model and compare greedy with 8 samples voted');
    return;
  }
  const flow = path.join(root, 'bin', 'flow.js');
  // BENCH_VOTE_STEPS trains for fewer steps than the quickstart's 400 (a loaded machine); the figures then say so.
  const steps = process.env.BENCH_VOTE_STEPS;
  const sets = steps ? ['--set', `steps=${steps}`] : [];
  const r = spawnSync(process.execPath, [flow, 'run', path.join(root, 'recipes', 'quickstart-vote.yml'), ...sets, '--ui', 'json'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`flow run failed (${r.status})`);
  const done = new Map<string, { outputs: Record<string, string> }>();
  // A step the cache serves reports step-cached, with the same outputs: a second run (or one after
  // the quickstart) has its training and predictions there, so both count.
  for (const l of r.stdout.split('\n').filter(Boolean)) {
    const e = JSON.parse(l) as { type: string; step: string; outputs: Record<string, string> };
    if (e.type === 'step-done' || e.type === 'step-cached') done.set(e.step, e);
  }
  const json = (step: string, out: string) => JSON.parse(readFileSync(done.get(step)!.outputs[out]!, 'utf8'));
  const greedy = json('predict', 'metrics');
  const sampled = json('sample', 'metrics');
  const voted = json('vote', 'metrics');
  const exG = json('eval', 'metrics').ex.all;
  const exV = json('eval-vote', 'metrics').ex.all;
  /** Share of items whose SQL failed to run, from sql-eval's per-item results. */
  const errRate = (step: string) => {
    const rows = readFileSync(done.get(step)!.outputs.results!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { error: string | null });
    return (rows.filter((x) => x.error !== null).length / rows.length).toFixed(3);
  };
  console.log(`vote bench (model): quickstart model trained ${steps ?? 400} steps, ${greedy.items} dev items of the subset, CPU`);
  console.log(`  predict N = 1 (greedy)    ${greedy.items_per_s} items/s (model load included)`);
  console.log(`  predict N = 8 (sampled)   ${sampled.items_per_s} items/s, ${sampled.candidates} candidates; repair of ${sampled.retried_items} all-failing items ${sampled.repair_seconds} s more`);
  console.log(`  EX greedy ${exG.toFixed(3)}   EX voted (majority of 8) ${exV.toFixed(3)}`);
  console.log(`  execution errors: greedy ${errRate('eval')}, voted ${errRate('eval-vote')} (first sample ${voted.error_rate_first}); mean agreement ${voted.mean_agreement}; vote changed ${voted.changed} of ${voted.items}`);
}

await executionPart();
modelPart();
