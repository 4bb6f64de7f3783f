// Denotation comparison of exec_eval.py: bag (or list, when order matters)
// equality of rows up to a permutation of columns, with Python equality.
import { pySortKey, pyEqKey, pyStrCompare, rowKey, type Row } from './py-value.js';

function unorderRowKey(row: Row): string {
  if (row.length === 1) return rowKey(row);
  // sorted(row, key=str(x)+str(type(x))) is stable, then compared with ==.
  const keyed = row.map((v, i) => ({ v, k: pySortKey(v), i }));
  keyed.sort((a, b) => pyStrCompare(a.k, b.k) || a.i - b.i);
  return rowKey(keyed.map((e) => e.v));
}

/** quick_rej: rows compared after sorting each row's values by their str key. */
function quickRej(r1: Row[], r2: Row[], orderMatters: boolean): boolean {
  const s1 = r1.map(unorderRowKey);
  const s2 = r2.map(unorderRowKey);
  if (orderMatters) return s1.every((k, i) => k === s2[i]);
  const a = new Set(s1);
  const b = new Set(s2);
  if (a.size !== b.size) return false;
  for (const k of a) if (!b.has(k)) return false;
  return true;
}

function multisetEq(k1: string[], k2: string[]): boolean {
  if (k1.length !== k2.length) return false;
  const d = new Map<string, number>();
  for (const k of k1) d.set(k, (d.get(k) ?? 0) + 1);
  for (const k of k2) {
    const n = (d.get(k) ?? 0) - 1;
    if (n < 0) return false;
    d.set(k, n);
  }
  return true;
}

/**
 * Candidate columns of result2 for each column of result1: a column can only map
 * to one whose every value occurs in it. The official code prunes with 20 random
 * rows; pruning with all rows removes only impossible permutations too, so the
 * answer is the same, deterministically.
 */
function candidateColumns(r1: Row[], r2: Row[], n: number): number[][] {
  const sets1: Set<string>[] = [];
  for (let c = 0; c < n; c++) sets1.push(new Set(r1.map((r) => pyEqKey(r[c]!))));
  const cand: number[][] = [];
  for (let c1 = 0; c1 < n; c1++) {
    const ok: number[] = [];
    for (let c2 = 0; c2 < n; c2++) {
      if (r2.every((r) => sets1[c1]!.has(pyEqKey(r[c2]!)))) ok.push(c2);
    }
    cand.push(ok);
  }
  return cand;
}

function* permutations(cand: number[][], used: boolean[] = [], prefix: number[] = []): Generator<number[]> {
  const i = prefix.length;
  if (i === cand.length) {
    yield prefix.slice();
    return;
  }
  for (const c of cand[i]!) {
    if (used[c]) continue;
    used[c] = true;
    prefix.push(c);
    yield* permutations(cand, used, prefix);
    prefix.pop();
    used[c] = false;
  }
}

export interface ResultEqOptions {
  /** test-suite: apply quick_rej exactly as the official code (it can reject equal results whose rows mix int and float). */
  quickReject: boolean;
}

export function resultEq(r1: Row[], r2: Row[], orderMatters: boolean, opts: ResultEqOptions): boolean {
  if (r1.length === 0 && r2.length === 0) return true;
  // The same rows (one query run once, as gold and as prediction): equal under any rule below.
  if (r1 === r2) return true;
  if (r1.length !== r2.length) return false;
  const n = r1[0]!.length;
  if (r2[0]!.length !== n) return false;
  if (opts.quickReject && !quickRej(r1, r2, orderMatters)) return false;
  const keys1 = r1.map(rowKey);
  const set1 = new Set(keys1);
  for (const perm of permutations(candidateColumns(r1, r2, n))) {
    const keys2 = r2.map((row) => rowKey(perm.map((c) => row[c]!)));
    if (orderMatters) {
      if (keys1.every((k, i) => k === keys2[i])) return true;
    } else {
      const set2 = new Set(keys2);
      if (set1.size === set2.size && [...set1].every((k) => set2.has(k)) && multisetEq(keys1, keys2)) return true;
    }
  }
  return false;
}
