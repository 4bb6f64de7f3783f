// The evaluation itself, independent of the engine so bench/ can call it:
// per item hardness, exact set match and execution match, then the official
// aggregation.
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StepError } from '../../src/steps/types.js';
import { ExecPool } from './exec-pool.js';
import { buildForeignKeyMap, exactMatch, rebuildForMatch, type PartialScores, type TablesEntry } from './exact-match.js';
import { evalHardness, type Hardness } from './hardness.js';
import { readGold, readPredictions, readTables } from './inputs.js';
import { emptySql, parseSpiderSql, type Schema, type Sql } from './parse.js';
import { normalizeSql, rouge } from './rouge.js';
import { schemaFromSqlite, schemaFromTables } from './schema.js';
import { orderBySubstring, orderByTopLevel, plugValues, postprocess, removeDistinct, replaceCurYear } from './sql-text.js';
import { aggregate, type Metrics } from './metrics.js';

export type Etype = 'exec' | 'match' | 'all';
export type Compat = 'test-suite' | 'strict';

export interface EvalOptions {
  predictions: string;
  gold: string;
  dbDir: string;
  tables: string;
  etype: Etype;
  plugValue: boolean;
  keepDistinct: boolean;
  compat: Compat;
  timeoutS: number;
  maxRows: number;
  workers?: number;
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
  warn?(message: string): void;
}

export interface ItemResult {
  index: number;
  db_id: string;
  hardness: Hardness;
  /** null where not evaluated (etype, or the database is missing). */
  ex: number | null;
  em: number | null;
  missing_db: boolean;
  error: string | null;
  pred: string;
  gold: string;
  partial?: PartialScores;
  rouge1: number;
  rouge2: number;
  rougeL: number;
  string_match: number;
}

export interface EvalOutput {
  metrics: Metrics;
  items: ItemResult[];
}

const MAX_BYTES = 256 * 1024 * 1024;

/** The database files an item runs on: every '*.sqlite*' in its folder, as the test-suite evaluator does. */
function dbFiles(dbDir: string, db: string): string[] | null {
  const main = path.join(dbDir, db, `${db}.sqlite`);
  if (!existsSync(main)) return null;
  const dir = path.dirname(main);
  return readdirSync(dir)
    .filter((n) => n.includes('.sqlite'))
    .sort()
    .map((n) => path.join(dir, n));
}

export async function evaluate(o: EvalOptions): Promise<EvalOutput> {
  const wantExec = o.etype !== 'match';
  // Children boot (~0.2 s each) while the inputs are read and parsed.
  const pool = wantExec
    ? new ExecPool({
        size: o.workers ?? Math.max(1, os.availableParallelism()),
        timeoutMs: o.timeoutS * 1000,
        signal: o.signal,
      })
    : null;
  try {
    return await evaluateWith(o, pool);
  } finally {
    pool?.close();
  }
}

async function evaluateWith(o: EvalOptions, pool: ExecPool | null): Promise<EvalOutput> {
  const gold = readGold(o.gold);
  const preds = readPredictions(o.predictions, gold.length);
  const tables = readTables(o.tables);
  if (preds.length > gold.length) {
    throw new StepError(
      `sql-eval: ${o.predictions} has ${preds.length} predictions but ${o.gold} has ${gold.length} items; they must align line by line`,
    );
  }
  if (preds.length < gold.length) {
    o.warn?.(`sql-eval: ${o.predictions} has ${preds.length} predictions for ${gold.length} gold items; the missing ${gold.length - preds.length} count as wrong`);
  }
  const wantExec = pool !== null;
  const wantMatch = o.etype !== 'exec';
  const testSuite = o.compat === 'test-suite';

  const schemas = new Map<string, Schema>();
  const kmaps = new Map<string, Map<string, string>>();
  const files = new Map<string, string[] | null>();
  const entryOf = (db: string, line: number): TablesEntry => {
    const e = tables.get(db);
    if (!e) throw new StepError(`sql-eval: ${o.gold}:${line}: db_id "${db}" is not in ${o.tables}`);
    return e;
  };

  async function execMatch(dbs: string[], predSql: string, goldSql: string): Promise<{ ex: number; error: string | null }> {
    let p = postprocess(predSql);
    let g = postprocess(goldSql);
    if (!o.keepDistinct) {
      p = removeDistinct(p, testSuite);
      g = removeDistinct(g, testSuite);
    }
    const orderMatters = testSuite ? orderBySubstring(g) : orderByTopLevel(g);
    const candidates: Iterable<string> = o.plugValue ? [p, ...plugValues(g, p)] : [p];
    let firstError: string | null = null;
    for (const cand of candidates) {
      const v = await pool!.run({
        files: dbs,
        gold: replaceCurYear(g),
        pred: replaceCurYear(cand),
        orderMatters,
        quickReject: testSuite,
        maxRows: o.maxRows,
        maxBytes: MAX_BYTES,
      });
      if (v.goldError !== undefined) return { ex: 0, error: `gold query failed: ${v.goldError}` };
      if (v.ex === 1) return { ex: 1, error: null };
      firstError ??= v.error;
    }
    return { ex: 0, error: firstError };
  }

  // A prediction often repeats its gold text; parse each (db, SQL) once and hand out copies,
  // since rebuilding for matching rewrites the tree in place.
  const parsed = new Map<string, Sql | Error>();
  const parse = (schema: Schema, db: string, sql: string): Sql => {
    const key = `${db}\u0000${sql}`;
    let r = parsed.get(key);
    if (r === undefined) {
      try {
        r = parseSpiderSql(schema, sql);
      } catch (e) {
        r = e as Error;
      }
      parsed.set(key, r);
    }
    if (r instanceof Error) throw r;
    return structuredClone(r);
  };

  let done = 0;
  const evalItem = async (g: (typeof gold)[number], index: number): Promise<ItemResult> => {
    const hasPred = index < preds.length;
    const raw = hasPred ? preds[index]! : '';
    // The official evaluator turns the placeholder " value " of value-less models into 1.
    const pred = testSuite ? raw.replaceAll(' value ', ' 1 ') : raw;
    const entry = entryOf(g.db, g.line);
    if (!files.has(g.db)) files.set(g.db, dbFiles(o.dbDir, g.db));
    const dbs = files.get(g.db)!;
    if (!schemas.has(g.db)) schemas.set(g.db, dbs ? schemaFromSqlite(path.join(o.dbDir, g.db, `${g.db}.sqlite`)) : schemaFromTables(entry));
    const schema = schemas.get(g.db)!;
    let goldSql: Sql;
    try {
      goldSql = parse(schema, g.db, g.sql);
    } catch (e) {
      throw new StepError(`sql-eval: ${o.gold}:${g.line}: the gold SQL cannot be parsed into Spider's structure (${(e as Error).message})`);
    }
    const r = rouge(pred, g.sql);
    const item: ItemResult = {
      index,
      db_id: g.db,
      hardness: evalHardness(goldSql),
      ex: null,
      em: null,
      missing_db: dbs === null,
      error: hasPred ? (pred.trim() === '' ? 'empty prediction' : null) : 'no prediction',
      pred,
      gold: g.sql,
      ...r,
      string_match: normalizeSql(pred) === normalizeSql(g.sql) ? 1 : 0,
    };
    if (dbs === null) {
      item.error = `database ${path.join(o.dbDir, g.db, `${g.db}.sqlite`)} not found`;
      return item;
    }
    // Queue the queries first so the children work while this process does the matching.
    const execution = wantExec && !item.error ? execMatch(dbs, pred, g.sql) : null;
    if (wantMatch) {
      let predSql: Sql;
      try {
        predSql = parse(schema, g.db, pred);
      } catch {
        predSql = emptySql();
      }
      if (!kmaps.has(g.db)) kmaps.set(g.db, buildForeignKeyMap(entry));
      const kmap = kmaps.get(g.db)!;
      const m = exactMatch(rebuildForMatch(predSql, schema, kmap), rebuildForMatch(goldSql, schema, kmap));
      item.em = m.exact;
      item.partial = m.partial;
    }
    if (wantExec) {
      if (!execution) item.ex = 0;
      else {
        const r2 = await execution;
        item.ex = r2.ex;
        item.error = r2.error;
      }
    }
    return item;
  };

  {
    const pending: Array<Promise<ItemResult>> = [];
    for (let i = 0; i < gold.length; i++) {
      pending.push(evalItem(gold[i]!, i).then((r) => (o.onProgress?.(++done, gold.length), r)));
      // Let replies from the children in between, so they are fed while this process parses.
      if (i % 16 === 15) await new Promise((r) => setImmediate(r));
      o.signal?.throwIfAborted();
    }
    const items = await Promise.all(pending);
    const missing = items.filter((it) => it.missing_db);
    if (missing.length > 0) {
      const dbsMissing = [...new Set(missing.map((m) => m.db_id))].join(', ');
      o.warn?.(`sql-eval: ${missing.length} items skipped: database missing (${dbsMissing}); they are excluded from the accuracy denominators`);
    }
    return { metrics: aggregate(items, o), items };
  }
}
