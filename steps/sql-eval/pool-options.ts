// The worker pool's settings as a SQL step's `with:` names them (sql-eval, its BIRD mode,
// sql-vote): their schema with the defaults, and the options each step hands its pool. One copy,
// so the three steps cannot drift apart on a time limit or a row cap.

import type { StepRunContext } from '../../src/steps/types.js';
import { itemProgress } from './progress.js';

/** What every run over the worker pool takes (sql-eval, its BIRD mode, sql-vote). */
export interface PoolRunOptions {
  timeoutS: number;
  maxRows: number;
  workers?: number;
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
  warn?(message: string): void;
}

/** The `with:` fields of the pool, spread into each SQL step's schema. */
export const POOL_SCHEMA = {
  timeout_s: { type: 'number', exclusiveMinimum: 0, default: 30, description: 'Time limit per query and database file' },
  max_rows: { type: 'integer', minimum: 1, default: 100000, description: 'Rows a query may return before it counts as an error' },
  workers: { type: 'integer', minimum: 1, description: 'SQL worker processes (default: one per core)' },
} as const;

/** The pool's options from a step's `with:` (defaults where a caller left them out) and its run context. */
export function poolOptions(w: Record<string, unknown>, ctx: Pick<StepRunContext, 'signal' | 'progress' | 'log'>): PoolRunOptions {
  return {
    timeoutS: (w.timeout_s as number | undefined) ?? POOL_SCHEMA.timeout_s.default,
    maxRows: (w.max_rows as number | undefined) ?? POOL_SCHEMA.max_rows.default,
    workers: w.workers as number | undefined,
    signal: ctx.signal,
    onProgress: itemProgress(ctx),
    warn: (m) => ctx.log(`warning: ${m}`, 'stderr'),
  };
}
