// BIRD's official scoring (bird-bench/mini_dev evaluation/): EX as set equality of result rows,
// Soft-F1 with rows paired by position, and R-VES from the gold/prediction time ratio, bucketed
// after 3σ trimming. Each function follows its Python original step by step, with Python's value
// equality (py-value.ts), so a verdict is the official one; tests/sql-eval-bird.test.ts checks them
// against verdicts the official scripts gave (tests/fixtures/bird).
import { pyEqKey, rowKey, type Row } from './py-value.js';

export const DIFFICULTIES = ['simple', 'moderate', 'challenging'] as const;
export type Difficulty = (typeof DIFFICULTIES)[number];

/** evaluation_ex.py calculate_ex: set(predicted) == set(ground_truth). */
export function birdEx(pred: Row[], gold: Row[]): 0 | 1 {
  const p = new Set(pred.map(rowKey));
  const g = new Set(gold.map(rowKey));
  if (p.size !== g.size) return 0;
  for (const k of p) if (!g.has(k)) return 0;
  return 1;
}

/** Rows without duplicates, first occurrence kept (Python's list(dict.fromkeys(rows))). */
function dedupe(rows: Row[]): Row[] {
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = rowKey(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** evaluation_f1.py calculate_row_match: a row's values matched as members, whatever their column. */
function rowMatch(pred: Row, gold: Row): [number, number, number] {
  const g = new Set(gold.map(pyEqKey));
  const p = new Set(pred.map(pyEqKey));
  let matches = 0;
  let predOnly = 0;
  let truthOnly = 0;
  for (const v of pred) if (g.has(pyEqKey(v))) matches++;
  else predOnly++;
  for (const v of gold) if (!p.has(pyEqKey(v))) truthOnly++;
  const n = gold.length;
  return [matches / n, predOnly / n, truthOnly / n];
}

/** evaluation_f1.py calculate_f1_score. */
export function softF1(predicted: Row[], groundTruth: Row[]): number {
  if (predicted.length === 0 && groundTruth.length === 0) return 1.0;
  const pred = dedupe(predicted);
  const gold = dedupe(groundTruth);
  const match: number[] = [];
  const predOnly: number[] = [];
  const truthOnly: number[] = [];
  gold.forEach((g, i) => {
    if (i >= pred.length) {
      match.push(0);
      truthOnly.push(1);
      return;
    }
    const [m, p, t] = rowMatch(pred[i]!, g);
    match.push(m);
    predOnly.push(p);
    truthOnly.push(t);
  });
  for (let i = 0; i < pred.length - gold.length; i++) {
    match.push(0);
    predOnly.push(1);
    truthOnly.push(0);
  }
  // Python's sum() adds left to right from 0.
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const tp = sum(match);
  const fp = sum(predOnly);
  const fn = sum(truthOnly);
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** numpy's pairwise summation (np.add.reduce over float64), so mean and std round as numpy's do. */
export function pairwiseSum(a: readonly number[], lo = 0, n = a.length): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[lo + i]!;
    return res;
  }
  if (n <= 128) {
    const r = a.slice(lo, lo + 8) as number[];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[lo + i + j]!;
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[lo + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** evaluation_ves.py clean_abnormal: the values strictly within 3 population σ of the mean. */
export function cleanAbnormal(xs: readonly number[]): number[] {
  const n = xs.length;
  const mean = pairwiseSum(xs) / n;
  const std = Math.sqrt(pairwiseSum(xs.map((x) => (x - mean) * (x - mean))) / n);
  return xs.filter((x) => x < mean + 3 * std && x > mean - 3 * std);
}

/**
 * evaluation_ves.py iterated_execute_sql's reward for one item whose results are equal, from the
 * gold/prediction time ratio of each run. Where the official code raises (a prediction timed at 0,
 * every ratio trimmed away when all are equal) its execute_model scores 0, and so does this.
 */
export function vesReward(ratios: readonly number[]): number {
  if (ratios.length === 0 || ratios.some((r) => !Number.isFinite(r))) return 0;
  const kept = cleanAbnormal(ratios);
  if (kept.length === 0) return 0;
  const ratio = kept.reduce((a, b) => a + b, 0) / kept.length;
  if (ratio === 0) return 0;
  if (ratio >= 2) return 1.25;
  if (ratio >= 1) return 1;
  if (ratio >= 0.5) return 0.75;
  if (ratio >= 0.25) return 0.5;
  return 0.25;
}

/** evaluation_ves.py compute_ves: the mean of sqrt(reward), in percent as the official prints it. */
export function rVes(rewards: readonly number[]): number {
  let total = 0;
  for (const r of rewards) total += Math.sqrt(r) * 100;
  return rewards.length === 0 ? 0 : total / rewards.length;
}
