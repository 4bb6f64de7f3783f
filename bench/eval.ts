// sql-eval speed on the 972 runnable Spider dev items, etype all, with the
// predictions of ../shared/spider/official-eval (about half of them wrong):
// - the whole `flow run` of a one-step sql-eval recipe (process start, engine,
//   worker pool, outputs) against the official evaluator (test-suite-sql-eval,
//   `evaluation.py --etype all`) on the same files, runs alternated, medians;
// - evaluate() alone, in process, against a naive single-process loop with no
//   isolation and no limits.
// The official evaluator is not part of this repository: SPIDER_OFFICIAL_EVAL
// names a checkout of it, SPIDER_OFFICIAL_PYTHON the interpreter that has its
// requirements (sqlparse, nltk; default python3). Without it that baseline is skipped.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluate } from '../steps/sql-eval/evaluate.js';
import { buildForeignKeyMap, exactMatch, rebuildForMatch, type TablesEntry } from '../steps/sql-eval/exact-match.js';
import { evalHardness } from '../steps/sql-eval/hardness.js';
import { emptySql, parseSpiderSql, type Schema } from '../steps/sql-eval/parse.js';
import type { Row } from '../steps/sql-eval/py-value.js';
import { resultEq } from '../steps/sql-eval/result-eq.js';
import { schemaFromSqlite } from '../steps/sql-eval/schema.js';
import { orderBySubstring, postprocess, removeDistinct } from '../steps/sql-eval/sql-text.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = [path.resolve(here, '..'), path.resolve(here, '../..')].find((d) => existsSync(path.join(d, 'package.json')))!;
const spider = path.resolve(root, '../shared/spider');
const fixture = path.join(spider, 'official-eval');
const dbDir = path.join(spider, 'database');
const tablesFile = path.join(spider, 'tables.json');
const goldFile = path.join(fixture, 'gold.sql');
const predFile = path.join(fixture, 'pred-shifted.sql');
const RUNS = Number(process.env.BENCH_EVAL_RUNS ?? 3);

if (!existsSync(predFile)) {
  console.log(`sql-eval bench skipped: ${fixture} is absent (Spider dev with the official evaluator's fixture)`);
  process.exit(0);
}

const gold = readFileSync(goldFile, 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split('\t') as [string, string]);
const preds = readFileSync(predFile, 'utf8').trim().split('\n');
const n = gold.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (x: number) => `${x.toFixed(2)} s`;

/** Wall seconds of a command run to completion; its output is kept for a failure message only. */
function timed(cmd: string, args: string[], cwd: string): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const t = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${(r.stderr || r.stdout).slice(-2000)}`);
  return t;
}

// ---- the whole `flow run` against the official evaluator

const scratch = mkdtempSync(path.join(os.tmpdir(), 'bench-eval-'));
const recipe = path.join(scratch, 'eval.yml');
writeFileSync(
  recipe,
  [
    'name: bench-eval',
    'steps:',
    '  eval:',
    '    uses: sql-eval',
    '    with:',
    `      predictions: ${JSON.stringify(predFile)}`,
    `      gold: ${JSON.stringify(goldFile)}`,
    `      db_dir: ${JSON.stringify(dbDir)}`,
    `      tables: ${JSON.stringify(tablesFile)}`,
    '      etype: all',
    '',
  ].join('\n'),
);
const flowRun = () =>
  timed(process.execPath, [path.join(root, 'bin/flow.js'), 'run', recipe, '--cache-dir', path.join(scratch, 'cache'), '--force-all', '--ui', 'plain'], root);

const official = process.env.SPIDER_OFFICIAL_EVAL;
const python = process.env.SPIDER_OFFICIAL_PYTHON ?? 'python3';
const officialRun = official
  ? () =>
      timed(
        python,
        ['evaluation.py', '--gold', goldFile, '--pred', predFile, '--db', dbDir, '--table', tablesFile, '--etype', 'all'],
        official,
      )
  : null;

console.log(`sql-eval: ${n} runnable Spider dev items (official-eval predictions), etype all, ${os.availableParallelism()} cores, ${RUNS} runs each`);
flowRun(); // warm the page cache and the built files
const flowTimes: number[] = [];
const officialTimes: number[] = [];
for (let i = 0; i < RUNS; i++) {
  flowTimes.push(flowRun());
  if (officialRun) officialTimes.push(officialRun());
}
const flowMed = median(flowTimes);
if (officialRun) {
  const base = median(officialTimes);
  console.log(`sql-eval whole run: flow ${s(flowMed)}, baseline ${s(base)} (official evaluation.py), ratio ${(flowMed / base).toFixed(3)} (goal ≤ 0.167)`);
} else {
  console.log(`sql-eval whole run: flow ${s(flowMed)}; official baseline skipped: set SPIDER_OFFICIAL_EVAL to a test-suite-sql-eval checkout (and SPIDER_OFFICIAL_PYTHON to a Python with sqlparse and nltk)`);
}
rmSync(scratch, { recursive: true, force: true });

// ---- evaluate() in process against a naive loop

function naive(): number {
  const tables = new Map((JSON.parse(readFileSync(tablesFile, 'utf8')) as TablesEntry[]).map((e) => [e.db_id, e]));
  const conns = new Map<string, Database.Database>();
  const schemas = new Map<string, Schema>();
  let ex = 0;
  gold.forEach(([q, db], i) => {
    const pq = preds[i]!;
    const file = path.join(dbDir, db, `${db}.sqlite`);
    if (!schemas.has(db)) schemas.set(db, schemaFromSqlite(file));
    const schema = schemas.get(db)!;
    const g = parseSpiderSql(schema, q);
    evalHardness(g);
    let p;
    try {
      p = parseSpiderSql(schema, pq);
    } catch {
      p = emptySql();
    }
    const kmap = buildForeignKeyMap(tables.get(db)!);
    exactMatch(rebuildForMatch(p, schema, kmap), rebuildForMatch(g, schema, kmap));
    if (!conns.has(file)) {
      const c = new Database(file, { readonly: true });
      c.defaultSafeIntegers(true);
      conns.set(file, c);
    }
    const conn = conns.get(file)!;
    const run = (sql: string): Row[] | null => {
      try {
        return conn.prepare(removeDistinct(postprocess(sql), true)).raw(true).all() as Row[];
      } catch {
        return null;
      }
    };
    const gr = run(q);
    const pr = run(pq);
    if (gr && pr && resultEq(gr, pr, orderBySubstring(q), { quickReject: true })) ex++;
  });
  for (const c of conns.values()) c.close();
  return ex;
}

async function ours(): Promise<number> {
  const { metrics } = await evaluate({
    predictions: predFile,
    gold: goldFile,
    dbDir,
    tables: tablesFile,
    etype: 'all',
    plugValue: false,
    keepDistinct: false,
    compat: 'test-suite',
    timeoutS: 30,
    maxRows: 100_000,
  });
  return metrics.count.all;
}

async function time<T>(f: () => T | Promise<T>): Promise<number> {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

const naiveTimes: number[] = [];
const oursTimes: number[] = [];
for (let i = 0; i < RUNS; i++) {
  naiveTimes.push(await time(naive));
  oursTimes.push(
    await time(async () => {
      const count = await ours();
      if (count !== n) throw new Error(`expected ${n} items, got ${count}`);
    }),
  );
}
const naiveMed = median(naiveTimes);
const oursMed = median(oursTimes);
console.log(
  `sql-eval evaluate() in process: flow ${s(oursMed)} (${(n / oursMed).toFixed(0)} items/s), baseline ${s(naiveMed)} (one process, sequential, no isolation or limits), ratio ${(oursMed / naiveMed).toFixed(2)}`,
);
