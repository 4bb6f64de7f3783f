// The evaluation itself, independent of the engine so bench/ can call it: the
// inputs are read here, each item is scored in a worker process (hardness,
// exact set match, execution match), then the official aggregation. Nothing
// about a prediction is parsed in this process, so no prediction can stop the run.
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StepError } from '../../src/steps/types.js';
import { evalHardness, type Hardness } from './hardness.js';
import { readGold, readPredictions, readQuestions, readTables } from './inputs.js';
import { blankSeparatedSingles, planInteractions } from './interactions.js';
import { parseSpiderSql } from './parse.js';
import { schemaFromSqlite, schemaFromTables } from './schema.js';
import { WorkerPool, type ItemOutcome } from './worker-pool.js';
import type { ItemOptions, ItemTask } from './worker-protocol.js';
import { aggregate, type Metrics } from './metrics.js';
import type { DatabaseUse } from './provenance.js';
import type { EvalOptions, ItemResult } from './options.js';

export type { Compat, EvalOptions, Etype, ItemResult } from './options.js';

export interface EvalOutput {
  metrics: Metrics;
  items: ItemResult[];
  /** The database files each gold database ran on (provenance.ts). */
  databases: DatabaseUse;
  /** Gold items that had no line in the predictions file. */
  missingPredictions: number;
}

const MAX_BYTES = 256 * 1024 * 1024;

/** The database files an item runs on: every '*.sqlite*' in its folder, as the test-suite evaluator does. */
export function dbFiles(dbDir: string, db: string): string[] | null {
  const main = path.join(dbDir, db, `${db}.sqlite`);
  if (!existsSync(main)) return null;
  const dir = path.dirname(main);
  return readdirSync(dir)
    .filter((n) => n.includes('.sqlite'))
    .sort()
    .map((n) => path.join(dir, n));
}

export async function evaluate(o: EvalOptions): Promise<EvalOutput> {
  // The workers boot (~0.1 s each) while the inputs are read.
  const pool = new WorkerPool({
    size: o.workers ?? Math.max(1, os.availableParallelism()),
    timeoutMs: o.timeoutS * 1000,
    signal: o.signal,
  });
  try {
    return await evaluateWith(o, pool);
  } finally {
    pool.close();
  }
}

async function evaluateWith(o: EvalOptions, pool: WorkerPool): Promise<EvalOutput> {
  const gold = readGold(o.gold);
  const plan = planInteractions(o.gold, gold.map((g) => g.line), o.predictions);
  const preds = plan ? [] : (blankSeparatedSingles(o.predictions, gold.length) ?? readPredictions(o.predictions, gold.length));
  const tables = readTables(o.tables);
  const questions = o.questions ? readQuestions(o.questions, gold, o.gold) : undefined;
  if (plan) {
    const unscored = plan.preds.filter((p) => p === undefined).length;
    if (unscored) o.warn?.(`sql-eval: ${unscored} gold turns have no predicted turn in their interaction and are not scored (as the official evaluator, which pairs turns with zip)`);
  } else if (preds.length > gold.length) {
    throw new StepError(
      `sql-eval: ${o.predictions} has ${preds.length} predictions but ${o.gold} has ${gold.length} items; they must align line by line`,
    );
  }
  if (!plan && preds.length < gold.length) {
    o.warn?.(`sql-eval: ${o.predictions} has ${preds.length} predictions for ${gold.length} gold items; the missing ${gold.length - preds.length} count as wrong`);
  }
  const testSuite = o.compat === 'test-suite';
  const options: ItemOptions = {
    match: o.etype !== 'exec',
    exec: o.etype !== 'match',
    plugValue: o.plugValue,
    keepDistinct: o.keepDistinct,
    testSuite,
    maxRows: o.maxRows,
    maxBytes: MAX_BYTES,
  };
  const files = new Map<string, string[] | null>();
  const schemaFile = (db: string) => path.join(o.dbDir, db, `${db}.sqlite`);

  /**
   * Hardness of an item whose worker was lost before it answered (a prediction
   * that hung or crashed the parser): from the gold alone, parsed here.
   */
  const hardnessHere = (g: (typeof gold)[number], hasDb: boolean): Hardness => {
    try {
      const entry = tables.get(g.db)!;
      return evalHardness(parseSpiderSql(hasDb ? schemaFromSqlite(schemaFile(g.db)) : schemaFromTables(entry), g.sql));
    } catch (e) {
      throw goldUnparsable(g, (e as Error).message);
    }
  };
  const goldUnparsable = (g: (typeof gold)[number], why: string) =>
    new StepError(`sql-eval: ${o.gold}:${g.line}: the gold SQL cannot be parsed into Spider's structure (${why})`);

  const toResult = (g: (typeof gold)[number], index: number, t: ItemTask, r: ItemOutcome): ItemResult => {
    if (r.goldUnparsable !== undefined) throw goldUnparsable(g, r.goldUnparsable);
    const m = r.matched;
    const hasDb = t.files !== null;
    const item: ItemResult = {
      index,
      db_id: g.db,
      ...(questions ? { question: questions[index]! } : {}),
      ...(plan ? plan.places[index] : {}),
      hardness: m?.hardness ?? hardnessHere(g, hasDb),
      ex: null,
      em: null,
      missing_db: !hasDb,
      error: t.predError ?? r.lost ?? r.executed?.error ?? null,
      pred: t.pred,
      gold: g.sql,
      partial: m?.partial,
      // An item lost before matching gets no text scores: computing them here could hang this process.
      rouge1: m?.rouge1 ?? 0,
      rouge2: m?.rouge2 ?? 0,
      rougeL: m?.rougeL ?? 0,
      string_match: m?.string_match ?? 0,
    };
    if (!hasDb) {
      item.error = `database ${schemaFile(g.db)} not found`;
      return item;
    }
    if (options.match) item.em = m?.em ?? 0;
    if (options.exec) item.ex = r.executed?.ex ?? 0;
    return item;
  };

  // Every input error before the first item goes out, so a bad line leaves no work running.
  for (const g of gold) {
    if (!tables.has(g.db)) throw new StepError(`sql-eval: ${o.gold}:${g.line}: db_id "${g.db}" is not in ${o.tables}`);
  }
  let done = 0;
  const total = plan ? plan.preds.filter((p) => p !== undefined).length : gold.length;
  const pending: Array<Promise<ItemResult>> = [];
  gold.forEach((g, index) => {
    if (plan && plan.preds[index] === undefined) return;
    const hasPred = plan ? true : index < preds.length;
    const raw = plan ? plan.preds[index]! : hasPred ? preds[index]! : '';
    if (!files.has(g.db)) files.set(g.db, dbFiles(o.dbDir, g.db));
    const task: ItemTask = {
      db: g.db,
      gold: g.sql,
      // The official evaluator turns the placeholder "value" of value-less models into 1, wherever
      // the five letters stand (evaluation.py: p_str.replace("value", "1")), a line's last word too.
      pred: testSuite ? raw.replaceAll('value', '1') : raw,
      predError: hasPred ? (raw.trim() === '' ? 'empty prediction' : null) : 'no prediction',
      files: files.get(g.db)!,
      schemaFile: schemaFile(g.db),
      tables: o.tables,
      options,
    };
    pending.push(pool.run(task).then((r) => (o.onProgress?.(++done, total), toResult(g, index, task, r))));
  });
  const items = await Promise.all(pending);
  const missing = items.filter((it) => it.missing_db);
  if (missing.length > 0) {
    const dbsMissing = [...new Set(missing.map((m) => m.db_id))].join(', ');
    o.warn?.(`sql-eval: ${missing.length} items skipped: database missing (${dbsMissing}); they are excluded from the accuracy denominators`);
  }
  return {
    metrics: aggregate(items, o, plan?.interactions),
    items,
    databases: { files },
    missingPredictions: plan ? plan.preds.filter((p) => p === undefined).length : Math.max(0, gold.length - preds.length),
  };
}
