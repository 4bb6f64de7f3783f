// The vote itself, independent of the engine so bench/ can call it: every
// item's distinct candidate texts run on its database files in sql-eval's
// worker processes (read-only, time-limited, bounded; sql-eval/group-exec.ts),
// candidates are grouped by result, and one is chosen per item (choose.ts).
// The gold is never read.
import os from 'node:os';
import path from 'node:path';
import { dbFiles } from '../sql-eval/evaluate.js';
import type { PoolRunOptions } from '../sql-eval/pool-options.js';
import { WorkerPool } from '../sql-eval/worker-pool.js';
import { choose, type Strategy } from './choose.js';
import { checkLineUp, readCandidates, type CandidateItem } from './inputs.js';

export interface VoteOptions extends PoolRunOptions {
  candidates: string;
  dev: string;
  dbDir: string;
  strategy: Strategy;
}

export interface VoteItem {
  index: number;
  db_id: string;
  sql: string;
  /** Index of the chosen candidate. */
  chosen: number;
  candidates: number;
  /** Distinct texts run. */
  distinct: number;
  /** Sizes of the result groups, largest first. */
  groups: number[];
  /** Per candidate: why it failed to run, or null. */
  errors: Array<string | null>;
  /** Share of the candidates in the chosen candidate's result group. */
  agreement: number;
  /** The first candidate failed / the chosen one failed. */
  first_error: string | null;
  chosen_error: string | null;
  /** The chosen result differs from the first candidate's (a different group, or it runs where the first did not). */
  changed: boolean;
}

export interface VoteSummary {
  items: number;
  candidates: number;
  /** Queries run: distinct texts per item (a text repeated in an item runs once). */
  executed: number;
  strategy: Strategy;
  mean_agreement: number;
  error_rate_first: number;
  error_rate_chosen: number;
  changed: number;
  changed_rate: number;
  seconds: number;
}

const MAX_BYTES = 256 * 1024 * 1024;

export async function vote(o: VoteOptions): Promise<{ items: VoteItem[]; summary: VoteSummary }> {
  const t0 = performance.now();
  const items = readCandidates(o.candidates);
  checkLineUp(items, o.candidates, o.dev);
  const pool = new WorkerPool({ size: o.workers ?? Math.max(1, os.availableParallelism()), timeoutMs: o.timeoutS * 1000, signal: o.signal });
  let done = 0;
  let executed = 0;
  const files = new Map<string, string[] | null>();
  try {
    const out = await Promise.all(
      items.map(async (it, index) => {
        if (!files.has(it.db_id)) files.set(it.db_id, dbFiles(o.dbDir, it.db_id));
        const r = await voteItem(pool, it, index, files.get(it.db_id)!, o);
        executed += r.distinct;
        o.onProgress?.(++done, items.length);
        return r;
      }),
    );
    const n = Math.max(1, out.length);
    const changed = out.filter((x) => x.changed).length;
    const summary: VoteSummary = {
      items: out.length,
      candidates: out.reduce((s, x) => s + x.candidates, 0),
      executed,
      strategy: o.strategy,
      mean_agreement: round(out.reduce((s, x) => s + x.agreement, 0) / n),
      error_rate_first: round(out.filter((x) => x.first_error !== null).length / n),
      error_rate_chosen: round(out.filter((x) => x.chosen_error !== null).length / n),
      changed,
      changed_rate: round(changed / n),
      seconds: round((performance.now() - t0) / 1000),
    };
    return { items: out, summary };
  } finally {
    pool.close();
  }
}

async function voteItem(pool: WorkerPool, it: CandidateItem, index: number, dbFileList: string[] | null, o: VoteOptions): Promise<VoteItem> {
  const cands = it.candidates;
  // Each distinct text runs once; an empty one is not run.
  const texts = [...new Set(cands.map((c) => c.sql).filter((s) => s !== ''))];
  let group: Array<number | null>;
  let errors: Array<string | null>;
  if (dbFileList === null) {
    group = cands.map(() => null);
    errors = cands.map(() => `database ${path.join(o.dbDir, it.db_id, `${it.db_id}.sqlite`)} not found`);
  } else {
    const r = texts.length === 0 ? { grouped: { group: [], errors: [] } } : await pool.run({ kind: 'group', files: dbFileList, sqls: texts, skip: texts.map(() => null), maxRows: o.maxRows, maxBytes: MAX_BYTES });
    const at = new Map(texts.map((t, k) => [t, k]));
    group = cands.map((c) => {
      const k = at.get(c.sql);
      return k === undefined || !r.grouped ? null : r.grouped.group[k]!;
    });
    errors = cands.map((c) => {
      const k = at.get(c.sql);
      if (k === undefined) return 'empty prediction';
      return r.grouped ? r.grouped.errors[k]! : (r.lost ?? 'lost');
    });
  }
  const { chosen, support } = choose(cands, group, o.strategy);
  const sizes = new Map<number, number>();
  for (const g of group) if (g !== null) sizes.set(g, (sizes.get(g) ?? 0) + 1);
  const first = 0; // predict's first sample: the greedy answer when sampling is off
  return {
    index,
    db_id: it.db_id,
    sql: cands[chosen]!.sql,
    chosen,
    candidates: cands.length,
    distinct: dbFileList === null ? 0 : texts.length,
    groups: [...sizes.values()].sort((a, b) => b - a),
    errors,
    agreement: round(support / cands.length),
    first_error: errors[first]!,
    chosen_error: errors[chosen]!,
    changed: group[chosen] !== group[first] || (group[first] === null && chosen !== first),
  };
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
