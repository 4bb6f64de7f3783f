// `benchmark: bird`: each item scored in the same worker pool and sandbox as Spider's (bird-exec.ts
// in item-worker.ts), then aggregated by difficulty as compute_acc_by_diff, compute_f1_by_diff and
// compute_ves_by_diff do (mean per level; `all` over every item, levels over the three named ones).
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { StepError } from '../../src/steps/types.js';
import { DIFFICULTIES, rVes } from './bird.js';
import { readBirdGold, readBirdPredictions } from './bird-inputs.js';
import type { PoolRunOptions } from './pool-options.js';
import { WorkerPool } from './worker-pool.js';
import type { ItemTask } from './worker-protocol.js';

export interface BirdEvalOptions extends PoolRunOptions {
  predictions: string;
  gold: string;
  dbDir: string;
  /** Timed runs per item for R-VES (the official 100); 0 skips R-VES. */
  runs: number;
}

export interface BirdItemResult {
  index: number;
  db_id: string;
  question?: string;
  evidence?: string;
  difficulty: string;
  ex: number | null;
  soft_f1: number | null;
  /** R-VES reward (0, 0.25, 0.5, 0.75, 1, 1.25); absent with ves_runs: 0. */
  reward?: number | null;
  missing_db: boolean;
  error: string | null;
  pred: string;
  gold: string;
}

export const BIRD_LEVELS = [...DIFFICULTIES, 'all'] as const;
type PerLevel = Record<(typeof BIRD_LEVELS)[number], number>;

export interface BirdMetrics {
  benchmark: 'bird';
  count: PerLevel;
  /** Fractions (the official prints them × 100). */
  ex: PerLevel;
  soft_f1: PerLevel;
  /** R-VES in the official's units (mean of sqrt(reward) × 100; up to 111.8). */
  r_ves?: PerLevel;
  ves_runs: number;
  missing_db: number;
  errors: number;
}

export async function evaluateBird(o: BirdEvalOptions): Promise<{ metrics: BirdMetrics; items: BirdItemResult[] }> {
  const gold = readBirdGold(o.gold);
  const preds = readBirdPredictions(o.predictions, gold.length);
  if (preds.length > gold.length) {
    throw new StepError(`sql-eval: ${o.predictions} has ${preds.length} predictions but ${o.gold} has ${gold.length} items; they must align item by item`);
  }
  if (preds.length < gold.length) o.warn?.(`sql-eval: ${o.predictions} has ${preds.length} predictions for ${gold.length} gold items; the missing ones count as wrong`);
  const pool = new WorkerPool({ size: o.workers ?? Math.max(1, os.availableParallelism()), timeoutMs: o.timeoutS * 1000, signal: o.signal });
  let done = 0;
  try {
    const items = await Promise.all(
      gold.map(async (g, index) => {
        const file = path.join(o.dbDir, g.db, `${g.db}.sqlite`);
        const has = existsSync(file);
        const pred = index < preds.length ? preds[index]! : ' ';
        const task: ItemTask = {
          db: g.db,
          gold: g.sql,
          pred,
          predError: null,
          files: has ? [file] : null,
          schemaFile: file,
          tables: '',
          options: { match: false, exec: true, plugValue: false, keepDistinct: true, testSuite: false, maxRows: o.maxRows, maxBytes: 256 * 1024 * 1024, bird: { runs: o.runs } },
        };
        const r = has ? await pool.run(task) : undefined;
        o.onProgress?.(++done, gold.length);
        const x = r?.executed;
        const item: BirdItemResult = {
          index,
          db_id: g.db,
          ...(g.question !== undefined ? { question: g.question } : {}),
          ...(g.evidence !== undefined ? { evidence: g.evidence } : {}),
          difficulty: g.difficulty,
          ex: has ? (x?.ex ?? 0) : null,
          soft_f1: has ? (x?.soft_f1 ?? 0) : null,
          ...(o.runs > 0 ? { reward: has ? (x?.reward ?? 0) : null } : {}),
          missing_db: !has,
          // A gold query that fails scores 0, as the official scripts score it (they catch every error).
          error: has ? (r?.lost ?? x?.error ?? (x?.goldError !== undefined ? `gold query failed: ${x.goldError}` : null)) : `database ${file} not found`,
          pred,
          gold: g.sql,
        };
        return item;
      }),
    );
    const missing = items.filter((i) => i.missing_db);
    if (missing.length) o.warn?.(`sql-eval: ${missing.length} items skipped: database missing (${[...new Set(missing.map((m) => m.db_id))].join(', ')})`);
    return { metrics: aggregateBird(items, o.runs), items };
  } finally {
    pool.close();
  }
}

export function aggregateBird(items: BirdItemResult[], runs: number): BirdMetrics {
  const runnable = items.filter((i) => !i.missing_db);
  const zeros = (): PerLevel => ({ simple: 0, moderate: 0, challenging: 0, all: 0 });
  const count = zeros();
  const level = (lv: (typeof BIRD_LEVELS)[number]) => (lv === 'all' ? runnable : runnable.filter((i) => i.difficulty === lv));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const ex = zeros();
  const f1 = zeros();
  const ves = zeros();
  for (const lv of BIRD_LEVELS) {
    const its = level(lv);
    count[lv] = its.length;
    ex[lv] = mean(its.map((i) => i.ex ?? 0));
    f1[lv] = mean(its.map((i) => i.soft_f1 ?? 0));
    ves[lv] = rVes(its.map((i) => i.reward ?? 0));
  }
  return {
    benchmark: 'bird',
    count,
    ex,
    soft_f1: f1,
    ...(runs > 0 ? { r_ves: ves } : {}),
    ves_runs: runs,
    missing_db: items.length - runnable.length,
    errors: runnable.filter((i) => i.error !== null).length,
  };
}

export function renderBirdReport(m: BirdMetrics): string {
  const head = `|  | ${BIRD_LEVELS.join(' | ')} |\n|---|${BIRD_LEVELS.map(() => '---:').join('|')}|\n`;
  const row = (name: string, v: PerLevel, f: (x: number) => string) => `| ${name} | ${BIRD_LEVELS.map((l) => f(v[l])).join(' | ')} |\n`;
  let s = `# BIRD evaluation\n\nAs bird-bench/mini_dev's evaluation scripts score it: EX (set equality of rows), Soft-F1 (rows paired by position)`;
  s += m.r_ves ? `, R-VES (${m.ves_runs} timed runs per item, 3σ trimming).\n\n` : '.\n\n';
  s += head + row('count', m.count, String) + row('EX', m.ex, (x) => (100 * x).toFixed(2)) + row('Soft-F1', m.soft_f1, (x) => (100 * x).toFixed(2));
  if (m.r_ves) s += row('R-VES', m.r_ves, (x) => x.toFixed(2));
  if (m.missing_db) s += `\n${m.missing_db} items have no database and are not counted above.\n`;
  return s;
}
