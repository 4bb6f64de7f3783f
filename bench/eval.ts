// sql-eval speed on the 972 runnable Spider dev items (gold as prediction,
// etype all), against a naive baseline measured in the same run: one process,
// items one after another, queries run in-process with no pool and no limits.
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
const dbDir = path.join(spider, 'database');
const tablesFile = path.join(spider, 'tables.json');

const runnable = readFileSync(path.join(spider, 'dev_gold.sql'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split('\t') as [string, string])
  .filter(([, db]) => existsSync(path.join(dbDir, db, `${db}.sqlite`)));
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-eval-'));
const gold = path.join(dir, 'gold.sql');
const pred = path.join(dir, 'pred.sql');
writeFileSync(gold, runnable.map(([q, db]) => `${q}\t${db}`).join('\n') + '\n');
writeFileSync(pred, runnable.map(([q]) => q).join('\n') + '\n');

function naive(): number {
  const tables = new Map((JSON.parse(readFileSync(tablesFile, 'utf8')) as TablesEntry[]).map((e) => [e.db_id, e]));
  const conns = new Map<string, Database.Database>();
  const schemas = new Map<string, Schema>();
  let ex = 0;
  for (const [q, db] of runnable) {
    const file = path.join(dbDir, db, `${db}.sqlite`);
    if (!schemas.has(db)) schemas.set(db, schemaFromSqlite(file));
    const schema = schemas.get(db)!;
    const g = parseSpiderSql(schema, q);
    evalHardness(g);
    let p;
    try {
      p = parseSpiderSql(schema, q);
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
    const sql = removeDistinct(postprocess(q), true);
    const run = (s: string): Row[] | null => {
      try {
        return conn.prepare(s).raw(true).all() as Row[];
      } catch {
        return null;
      }
    };
    const gr = run(sql);
    const pr = run(sql);
    if (gr && pr && resultEq(gr, pr, orderBySubstring(sql), { quickReject: true })) ex++;
  }
  for (const c of conns.values()) c.close();
  return ex;
}

async function ours(): Promise<number> {
  const { metrics } = await evaluate({
    predictions: pred,
    gold,
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

async function time<T>(f: () => T | Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await f();
  return [(performance.now() - t0) / 1000, r];
}

const n = runnable.length;
const line = (name: string, s: number) => console.log(`${name.padEnd(44)} ${s.toFixed(3)} s  ${(n / s).toFixed(0).padStart(6)} items/s`);
console.log(`sql-eval: ${n} runnable Spider dev items, gold as prediction, etype all, ${os.availableParallelism()} cores`);
const [tBase] = await time(naive);
line('baseline (one process, sequential, no limits)', tBase);
const runs: number[] = [];
for (let i = 0; i < 3; i++) {
  const [t, count] = await time(ours);
  if (count !== n) throw new Error(`expected ${n} items, got ${count}`);
  runs.push(t);
}
line('sql-eval step, first run', runs[0]!);
line('sql-eval step, best of 3', Math.min(...runs));
console.log(`speed-up vs baseline (best): ${(tBase / Math.min(...runs)).toFixed(2)}x`);
