// Grouping an item's candidate queries by execution result, inside a worker
// process (item-worker.ts), for the sql-vote step: each distinct text runs once
// per database file through the same read-only connection, limits and cache as
// the evaluator's queries (sqlite-exec.ts), and two texts fall in one group when
// their results are equal on every file under the evaluator's result equality
// (result-eq.ts). Only group numbers and error messages leave the worker.
import { orderByTopLevel } from './sql-text.js';
import { query, type ExecLimits } from './sqlite-exec.js';
import { resultEq } from './result-eq.js';
import type { Row } from './py-value.js';

export interface Grouped {
  /** Per query: its group (numbered from 0 in order of first appearance), or null when it failed. */
  group: Array<number | null>;
  /** Per query: why it failed to run, or null. */
  errors: Array<string | null>;
}

/**
 * `skip[i]` holds the reason a query is not run (it was killed for time in an earlier try).
 * `onRunning(i)` is called before query i runs, so that the parent knows which one to blame
 * when it must kill the process.
 */
export function groupByResult(files: string[], sqls: string[], skip: Array<string | null>, lim: ExecLimits, onRunning?: (i: number) => void): Grouped {
  const results: Array<Row[][] | null> = [];
  const errors: Array<string | null> = [];
  for (let i = 0; i < sqls.length; i++) {
    if (skip[i]) {
      results.push(null);
      errors.push(skip[i]!);
      continue;
    }
    onRunning?.(i);
    const perFile: Row[][] = [];
    let error: string | null = null;
    for (const file of files) {
      const r = query(file, sqls[i]!, lim.maxRows, lim.maxBytes);
      if ('error' in r) {
        error = r.error;
        break;
      }
      perFile.push(r.rows);
    }
    results.push(error === null ? perFile : null);
    errors.push(error);
  }
  // Results compare in order only when both queries order their outermost result.
  const ordered = sqls.map(orderByTopLevel);
  const reps: number[] = [];
  const group = results.map((res, i) => {
    if (res === null) return null;
    for (let g = 0; g < reps.length; g++) {
      const j = reps[g]!;
      const orderMatters = ordered[i]! && ordered[j]!;
      if (res.every((rows, f) => resultEq(results[j]![f]!, rows, orderMatters, { quickReject: false }))) return g;
    }
    reps.push(i);
    return reps.length - 1;
  });
  return { group, errors };
}
