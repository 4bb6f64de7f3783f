// One BIRD item, in a worker process (the same sandbox as Spider's items: read-only connection,
// row and byte limits, the parent's time limit): the prediction and gold run once on the
// database's main file, as evaluation_utils.execute_sql does, then, when EX holds, each is timed
// `runs` times for R-VES (evaluation_ves.py: 100 runs, prediction then gold each time).
import { birdEx, softF1, vesReward } from './bird.js';
import { execute, query } from './sqlite-exec.js';
import type { Executed } from './worker-protocol.js';

export function executeBird(file: string, gold: string, pred: string, runs: number, lim: { maxRows: number; maxBytes: number }): Executed {
  // Python's sqlite3 runs a blank statement and returns no rows; the official evaluator turns a
  // missing prediction into " " and so scores it against the gold like an empty result.
  const p = pred.trim() === '' ? { rows: [] } : query(file, pred, lim.maxRows, lim.maxBytes);
  if ('error' in p) return { ex: 0, soft_f1: 0, reward: 0, error: p.error };
  const g = query(file, gold, lim.maxRows, lim.maxBytes);
  if ('error' in g) return { ex: 0, soft_f1: 0, reward: 0, error: null, goldError: g.error };
  const ex = birdEx(p.rows, g.rows);
  const out: Executed = { ex, soft_f1: softF1(p.rows, g.rows), error: null };
  if (runs > 0) out.reward = ex ? vesReward(timeRatios(file, gold, pred, runs, lim)) : 0;
  return out;
}

/** gold time / prediction time per run, each a fresh prepare, execution and fetch of every row. */
function timeRatios(file: string, gold: string, pred: string, runs: number, lim: { maxRows: number; maxBytes: number }): number[] {
  const ratios: number[] = [];
  const time = (sql: string) => {
    const t0 = performance.now();
    execute(file, sql, lim.maxRows, lim.maxBytes);
    return performance.now() - t0;
  };
  for (let i = 0; i < runs; i++) {
    const tp = pred.trim() === '' ? 0 : time(pred);
    const tg = time(gold);
    ratios.push(tg / tp);
  }
  return ratios;
}
