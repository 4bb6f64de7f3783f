// Runs the sql-eval step as the engine would: real files in a fresh work dir.
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import step from '../../steps/sql-eval/index.js';
import { localMachine } from '../../src/scheduler/executors/local-machine.js';
import { createLocalExecutor } from '../../src/scheduler/executors/local.js';
import type { StepRunContext } from '../../src/steps/types.js';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const spider = path.resolve(repoRoot, '../shared/spider');

export interface StepRun {
  metrics: Record<string, any>;
  results: Array<Record<string, any>>;
  report: string;
  logs: string[];
}

export async function runSqlEval(
  w: Record<string, unknown>,
  opts: { signal?: AbortSignal; workDir?: string } = {},
): Promise<StepRun> {
  const workDir = opts.workDir ?? mkdtempSync(path.join(os.tmpdir(), 'sql-eval-'));
  const signal = opts.signal ?? new AbortController().signal;
  const outputs = step.outputs as Record<string, string>;
  const logs: string[] = [];
  const ctx: StepRunContext = {
    stepId: 'eval',
    workDir,
    with: { etype: 'all', plug_value: false, keep_distinct: false, compat: 'test-suite', timeout_s: 30, max_rows: 100000, ...w },
    outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, path.join(workDir, v)])),
    signal,
    gpus: [],
    env: {},
    log: (l) => logs.push(l),
    progress: () => {},
    metric: () => {},
    artifact: () => {},
    root: repoRoot,
    runId: 'test-run',
    checkpointDir: path.join(workDir, '.checkpoints'),
    settings: { python: { extras: [] }, envsDir: path.join(workDir, '.envs') },
    exec: (spec) => createLocalExecutor().exec(spec),
    machine: localMachine(),
  };
  await step.run(ctx);
  return {
    metrics: JSON.parse(readFileSync(ctx.outputs.metrics!, 'utf8')),
    results: readFileSync(ctx.outputs.results!, 'utf8').trim().split('\n').map((l) => JSON.parse(l)),
    report: readFileSync(ctx.outputs.report!, 'utf8'),
    logs,
  };
}

/** A small database folder `<dir>/db/<name>/<name>.sqlite` plus tables.json, made with plain DDL. */
export function makeDb(dir: string, name: string, bigRows = 0): { dbDir: string; tables: string; file: string } {
  const dbDir = path.join(dir, 'db');
  const file = path.join(dbDir, name, `${name}.sqlite`);
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, score REAL, note TEXT);
    INSERT INTO people VALUES (1, 'Ann', 30, 1.5, NULL), (2, 'bob', 25, 2.0, 'x'), (3, 'Ann', 40, 0.3, NULL);
    CREATE TABLE big (n INTEGER);`);
  if (bigRows > 0) db.exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${bigRows}) INSERT INTO big SELECT x FROM c`);
  db.close();
  const tables = path.join(dir, 'tables.json');
  writeFileSync(
    tables,
    JSON.stringify([
      {
        db_id: name,
        table_names_original: ['people', 'big'],
        table_names: ['people', 'big'],
        column_names_original: [[-1, '*'], [0, 'id'], [0, 'name'], [0, 'age'], [0, 'score'], [0, 'note'], [1, 'n']],
        column_names: [[-1, '*'], [0, 'id'], [0, 'name'], [0, 'age'], [0, 'score'], [0, 'note'], [1, 'n']],
        column_types: ['text', 'number', 'text', 'number', 'number', 'text', 'number'],
        primary_keys: [1],
        foreign_keys: [],
      },
    ]),
  );
  return { dbDir, tables, file };
}

/** Writes gold (`SQL<TAB>db`) and prediction files from [gold, pred] pairs. */
export function writePairs(dir: string, db: string, pairs: Array<[string, string]>): { gold: string; predictions: string } {
  const gold = path.join(dir, 'gold.sql');
  const predictions = path.join(dir, 'pred.sql');
  writeFileSync(gold, pairs.map(([g]) => `${g}\t${db}`).join('\n') + '\n');
  writeFileSync(predictions, pairs.map(([, p]) => p).join('\n') + '\n');
  return { gold, predictions };
}
