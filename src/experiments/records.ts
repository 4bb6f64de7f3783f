// Read-only queries over the run store that the experiment commands share:
// finding runs, their step executions and the metrics those recorded.

import { resolve } from 'node:path';
import type { DB } from '../store/db.js';
import type { ExecutionRow as ExecRow, RunRow } from '../store/records.js';
import { resolveRun, RunLookupError } from '../store/runs.js';

/** A user-facing failure (unknown run, nothing recorded): printed as one line, no stack trace. */
export class ExperimentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExperimentError';
  }
}

export interface RunRecord {
  id: string;
  recipe: string;
  name: string;
  status: string;
  startedAt: number;
  endedAt: number | null;
  params: Record<string, unknown>;
  argv: string[];
}

export interface ExecRecord {
  id: string;
  runId: string;
  stepId: string;
  /** The step id without its matrix suffix: 'train' for 'train[lora_rank=32]'. */
  baseId: string;
  stepType: string;
  variant: Record<string, unknown> | null;
  key: string | null;
  status: string;
  startedAt: number;
  endedAt: number | null;
  durationMs: number | null;
  outputs: Record<string, string> | null;
  /** The step's metrics.json; for a cache hit, the original execution's. */
  metrics: Record<string, unknown> | null;
  error: string | null;
  exitCode: number | null;
  logPath: string | null;
}

function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    recipe: r.recipe,
    name: r.name,
    status: r.status,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    params: parseJson(r.params) ?? {},
    argv: parseJson(r.argv) ?? [],
  };
}

/** A JSON column, or null when it is empty or unreadable (an old or damaged row). */
export function parseJson<T>(text: string | null): T | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

export function baseStepId(stepId: string): string {
  const i = stepId.indexOf('[');
  return i > 0 && stepId.endsWith(']') ? stepId.slice(0, i) : stepId;
}

/** A run by exact id, by a unique id prefix (users paste ids shortened), or 'last'/'latest' (store/runs.ts). */
export function findRun(db: DB, idOrPrefix: string): RunRecord {
  try {
    return toRun(resolveRun(db, idOrPrefix));
  } catch (e) {
    if (e instanceof RunLookupError) throw new ExperimentError(e.message);
    throw e;
  }
}

/**
 * What `flow plot` and `flow report` describe when no run is named: the newest run
 * that finished (status done), with the newer runs passed over (running, failed,
 * cancelled, crashed) so the command can say why it did not pick those.
 */
export function latestFinishedRun(db: DB): { run: RunRecord; passedOver: RunRecord[] } {
  const passedOver: RunRecord[] = [];
  for (const r of latestRuns(db)) {
    if (r.status === 'done') return { run: r, passedOver };
    passedOver.push(r);
  }
  if (!passedOver.length) throw new ExperimentError('no runs recorded in this cache yet');
  throw new ExperimentError(`no finished run in this cache (newest: ${passedOver[0]!.id} ${passedOver[0]!.status}); name one to use it anyway`);
}

/** Runs of a recipe, given by name or by path, oldest first. */
export function runsOfRecipe(db: DB, recipe: string): RunRecord[] {
  const rows = db
    .prepare('SELECT * FROM runs WHERE name = ? OR recipe = ? OR recipe = ? ORDER BY rowid')
    .all(recipe, recipe, resolve(recipe)) as RunRow[];
  if (rows.length === 0) throw new ExperimentError(`no runs of recipe '${recipe}' in this cache`);
  return rows.map(toRun);
}

/** All runs, newest first. */
export function latestRuns(db: DB): RunRecord[] {
  return (db.prepare('SELECT * FROM runs ORDER BY rowid DESC').all() as RunRow[]).map(toRun);
}

/** A run's executions in the order they started; cache hits carry the original's metrics. */
export function executionsOf(db: DB, runId: string): ExecRecord[] {
  const rows = db
    .prepare('SELECT * FROM executions WHERE run_id = ? ORDER BY started_at, rowid')
    .all(runId) as ExecRow[];
  return rows.map((r) => {
    let metrics = parseJson<Record<string, unknown>>(r.metrics);
    if (!metrics && r.status === 'cached') metrics = parseJson(originalOf(db, r)?.metrics ?? null);
    return {
      id: r.id,
      runId: r.run_id,
      stepId: r.step_id,
      baseId: baseStepId(r.step_id),
      stepType: r.step_type,
      variant: parseJson(r.variant),
      key: r.key,
      status: r.status,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      durationMs: r.duration_ms,
      outputs: parseJson(r.outputs),
      metrics,
      error: r.error,
      exitCode: r.exit_code,
      logPath: r.log_path,
    };
  });
}

/**
 * The execution that produced the cache entry a hit reused: the latest finished
 * one with the same key that started before the hit. Later executions of the key
 * (a --force) must not change what an old run's report says it reused.
 */
export function originalOf(db: DB, e: { key: string | null; started_at?: number; startedAt?: number }): ExecRow | undefined {
  if (!e.key) return undefined;
  const before = e.started_at ?? e.startedAt ?? Number.MAX_SAFE_INTEGER;
  return db
    .prepare("SELECT * FROM executions WHERE key = ? AND status = 'done' AND started_at <= ? ORDER BY started_at DESC, rowid DESC LIMIT 1")
    .get(e.key, before) as ExecRow | undefined;
}

/**
 * A training series ('loss' by step) of an execution. A cache hit recorded no
 * series of its own, so it shows the series of the execution it reused.
 */
export function seriesOf(db: DB, e: ExecRecord, name: string): Array<{ step: number; value: number }> {
  const q = db.prepare(
    'SELECT step, value FROM metrics WHERE exec_id = ? AND name = ? AND step IS NOT NULL ORDER BY step, time',
  );
  let rows = q.all(e.id, name) as Array<{ step: number; value: number }>;
  if (rows.length === 0 && e.status === 'cached') {
    const orig = originalOf(db, e);
    if (orig) rows = q.all(orig.id, name) as Array<{ step: number; value: number }>;
  }
  return rows;
}

/** What the cache saved on a hit: how long the original execution took. */
export function savedMsOf(db: DB, e: ExecRecord): number {
  if (e.status !== 'cached') return 0;
  return originalOf(db, e)?.duration_ms ?? 0;
}

/** `lora_rank=32 finetuning=lora` */
export function variantText(variant: Record<string, unknown> | null): string {
  if (!variant) return '';
  return Object.entries(variant)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
