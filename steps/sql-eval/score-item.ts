// Scoring one item, inside a worker process: first everything that needs no
// database (hardness, exact set match, ROUGE), then execution match. The two
// halves are separate so the worker can report the first before running
// queries that may be killed for time.
import { buildForeignKeyMap, exactMatch, partialVector, rebuildForMatch, type TablesEntry } from './exact-match.js';
import { evalHardness, type Hardness } from './hardness.js';
import { readTables } from './inputs.js';
import { emptySql, parseSpiderSql, type Schema, type Sql } from './parse.js';
import { normalizeSql, rouge } from './rouge.js';
import { schemaFromTables, schemaOf } from './schema.js';
import { orderBySubstring, orderByTopLevel, plugValueCount, plugValues, postprocess, removeDistinct, replaceCurYear } from './sql-text.js';
import { executeBird } from './bird-exec.js';
import { execMatch, open } from './sqlite-exec.js';
import type { Executed, ItemTask, Matched } from './worker-protocol.js';

export class GoldUnparsable extends Error {}

/** A query parsed, its hardness counted, then rebuilt for matching (which rewrites the tree). */
interface Parsed {
  hardness: Hardness;
  rebuilt: Sql;
}

/** Parse results kept per worker: predictions often repeat a gold text, and golds recur. */
const PARSE_CACHE_ENTRIES = 20_000;
/** Longer texts are not kept: a monstrous prediction is not worth its memory twice. */
const PARSE_CACHE_MAX_CHARS = 10_000;

export class ItemScorer {
  private readonly tables = new Map<string, Map<string, TablesEntry>>();
  private readonly schemas = new Map<string, Schema>();
  private readonly kmaps = new Map<string, Map<string, string>>();
  private readonly parsed = new Map<string, Parsed | Error>();
  private readonly unparsable = new Map<string, Sql>();

  private entry(t: ItemTask): TablesEntry {
    let all = this.tables.get(t.tables);
    if (!all) this.tables.set(t.tables, (all = readTables(t.tables)));
    const e = all.get(t.db);
    // The parent checks every db_id against tables.json before sending work.
    if (!e) throw new Error(`db_id "${t.db}" is not in ${t.tables}`);
    return e;
  }

  private schema(t: ItemTask): Schema {
    const key = `${t.files !== null}\u0000${t.schemaFile}`;
    let s = this.schemas.get(key);
    // Through the connection that runs the item's queries: each file is opened, and its schema parsed by SQLite, once.
    if (!s) this.schemas.set(key, (s = t.files !== null ? schemaOf(open(t.schemaFile)) : schemaFromTables(this.entry(t))));
    return s;
  }

  private kmap(t: ItemTask): Map<string, string> {
    let k = this.kmaps.get(t.db);
    if (!k) this.kmaps.set(t.db, (k = buildForeignKeyMap(this.entry(t))));
    return k;
  }

  private parse(t: ItemTask, sql: string): Parsed {
    const key = `${t.files !== null}\u0000${t.schemaFile}\u0000${sql}`;
    let r = this.parsed.get(key);
    if (r === undefined) {
      try {
        const schema = this.schema(t);
        const tree = parseSpiderSql(schema, sql);
        const hardness = evalHardness(tree);
        r = { hardness, rebuilt: rebuildForMatch(tree, schema, this.kmap(t)) };
      } catch (e) {
        r = e instanceof Error ? e : new Error(String(e));
      }
      if (sql.length <= PARSE_CACHE_MAX_CHARS) {
        if (this.parsed.size >= PARSE_CACHE_ENTRIES) this.parsed.clear();
        this.parsed.set(key, r);
      }
    }
    if (r instanceof Error) throw r;
    return r;
  }

  /** An unparsable prediction matches as the official evaluator's empty SQL. */
  private emptyFor(t: ItemTask): Sql {
    let s = this.unparsable.get(t.db);
    if (!s) this.unparsable.set(t.db, (s = rebuildForMatch(emptySql(), this.schema(t), this.kmap(t))));
    return s;
  }

  /** Hardness, exact set match and text scores; throws GoldUnparsable when the gold cannot be parsed. */
  match(t: ItemTask): Matched {
    if (t.options.bird) return this.matchBird(t);
    let gold: Parsed;
    try {
      gold = this.parse(t, t.gold);
    } catch (e) {
      throw new GoldUnparsable((e as Error).message);
    }
    const out: Matched = {
      hardness: gold.hardness,
      em: null,
      ...rouge(t.pred, t.gold),
      string_match: normalizeSql(t.pred) === normalizeSql(t.gold) ? 1 : 0,
      candidates: 0,
    };
    if (t.files === null) return out;
    if (t.options.match) {
      let pred: Sql;
      try {
        pred = this.parse(t, t.pred).rebuilt;
      } catch {
        pred = this.emptyFor(t);
      }
      const m = exactMatch(pred, gold.rebuilt);
      out.em = m.exact;
      out.partial = partialVector(m.partial);
    }
    if (t.options.exec && t.predError === null) {
      const q = this.execTexts(t); // kept for execute(), which follows on this item
      out.candidates = 1 + (t.options.plugValue ? plugValueCount(q.gold, q.pred) : 0);
    }
    return out;
  }

  /** BIRD: text scores only (its gold is not held to Spider's grammar); the timed runs set the time budget. */
  private matchBird(t: ItemTask): Matched {
    return {
      em: null,
      ...rouge(t.pred, t.gold),
      string_match: normalizeSql(t.pred) === normalizeSql(t.gold) ? 1 : 0,
      candidates: t.files === null || !t.options.exec ? 0 : Math.max(1, t.options.bird!.runs),
    };
  }

  /** The item whose exec texts were computed last: execute() follows match() on the same item. */
  private lastExec?: { t: ItemTask; gold: string; pred: string };

  /** The texts exec_eval.py runs: '> =' glued, DISTINCT removed unless kept. */
  private execTexts(t: ItemTask): { gold: string; pred: string } {
    if (this.lastExec?.t === t) return this.lastExec;
    let pred = postprocess(t.pred);
    let gold = postprocess(t.gold);
    if (!t.options.keepDistinct) {
      pred = removeDistinct(pred, t.options.testSuite);
      gold = removeDistinct(gold, t.options.testSuite);
    }
    this.lastExec = { t, gold, pred };
    return this.lastExec;
  }

  /** Execution match: the prediction, then (plug_value) each way of plugging in the gold's values. */
  execute(t: ItemTask): Executed {
    const limits = { maxRows: t.options.maxRows, maxBytes: t.options.maxBytes };
    // BIRD runs the texts as given on the database's main file (evaluation_utils.execute_sql).
    if (t.options.bird) return executeBird(t.schemaFile, t.gold, t.pred, t.options.bird.runs, limits);
    const { gold, pred } = this.execTexts(t);
    const orderMatters = t.options.testSuite ? orderBySubstring(gold) : orderByTopLevel(gold);
    const plug = t.options.plugValue;
    const candidates = (function* () {
      yield pred;
      if (plug) yield* plugValues(gold, pred);
    })();
    let firstError: string | null = null;
    for (const cand of candidates) {
      const v = execMatch(t.files!, replaceCurYear(gold), replaceCurYear(cand), orderMatters, t.options.testSuite, limits);
      if (v.goldError !== undefined) return { ex: 0, error: `gold query failed: ${v.goldError}` };
      if (v.ex === 1) return { ex: 1, error: null };
      firstError ??= v.error;
    }
    return { ex: 0, error: firstError };
  }
}
