// `flow metrics diff A B`: the metrics of two runs side by side, matched by
// step id (variant included), with B - A: the rows that changed, or all of them.

import { flattenMetrics, type DB } from '../store/db.js';
import { type ExecRecord, baseStepId, executionsOf, findRun, seriesOf } from './records.js';
import { type TableFormat, renderTable } from './table.js';

export interface DiffRow {
  step: string;
  metric: string;
  a: number | null;
  b: number | null;
  /** b - a; null when either side lacks the metric. */
  delta: number | null;
}

export interface MetricsDiff {
  runA: string;
  runB: string;
  rows: DiffRow[];
  /** How many metrics both runs were compared on, rows left out as unchanged included. */
  compared: number;
}

/** The final training loss's one name, as python:sft writes it into metrics.json. */
export const FINAL_LOSS = 'final_loss';

/**
 * Metrics nested deeper than this are breakdowns of breakdowns (sql-eval's partial-match
 * scores: partial.select.acc.easy, 240 of them), shown only with `all`.
 */
const SHOWN_DEPTH = 2;

/**
 * changedOnly (the default of `flow metrics diff`; --all turns it off): leave out the rows
 * whose value is the same in both runs, and the metrics deeper than SHOWN_DEPTH.
 */
export function metricsDiff(db: DB, runA: string, runB: string, metricPrefix?: string, changedOnly = false): MetricsDiff {
  const a = findRun(db, runA);
  const b = findRun(db, runB);
  const [va, vb] = pairSingles(valuesByStep(db, a.id), valuesByStep(db, b.id));
  const rows: DiffRow[] = [];
  let compared = 0;
  for (const step of union([...va.keys()], [...vb.keys()])) {
    const ma = va.get(step) ?? new Map<string, number>();
    const mb = vb.get(step) ?? new Map<string, number>();
    for (const metric of union([...ma.keys()], [...mb.keys()])) {
      if (metricPrefix && metric !== metricPrefix && !metric.startsWith(`${metricPrefix}.`)) continue;
      if (changedOnly && metric.split('.').length > SHOWN_DEPTH) continue;
      const x = ma.get(metric) ?? null;
      const y = mb.get(metric) ?? null;
      compared++;
      if (changedOnly && x === y) continue;
      rows.push({ step, metric, a: x, b: y, delta: x !== null && y !== null ? y - x : null });
    }
  }
  return { runA: a.id, runB: b.id, rows, compared };
}

/**
 * A step that ran once in each run under different variants (`eval` in a baseline run,
 * `eval[lora_rank=8]` in a sweep of one) is the same step compared: both sides are keyed
 * 'eval vs eval[lora_rank=8]' so their rows pair instead of standing apart, half empty.
 */
function pairSingles<T>(a: Map<string, T>, b: Map<string, T>): [Map<string, T>, Map<string, T>] {
  const byBase = (m: Map<string, T>) => {
    const out = new Map<string, string[]>();
    for (const id of m.keys()) out.set(baseStepId(id), [...(out.get(baseStepId(id)) ?? []), id]);
    return out;
  };
  const ba = byBase(a);
  const bb = byBase(b);
  const renameA = new Map<string, string>();
  const renameB = new Map<string, string>();
  for (const [base, ids] of ba) {
    const other = bb.get(base);
    if (ids.length !== 1 || other?.length !== 1 || ids[0] === other[0]) continue;
    const key = `${ids[0]} vs ${other[0]}`;
    renameA.set(ids[0]!, key);
    renameB.set(other[0]!, key);
  }
  // Rebuilt in order, so the paired step keeps its place among the others.
  const renamed = (m: Map<string, T>, r: Map<string, string>) => new Map([...m].map(([k, v]) => [r.get(k) ?? k, v] as const));
  return [renamed(a, renameA), renamed(b, renameB)];
}

/**
 * Step id -> metric -> value: the flattened metrics.json (measurements only, see
 * flattenMetrics). A step that logged a training loss but wrote no final_loss
 * (a user's own script reporting progress) gets its last logged loss under that name.
 */
function valuesByStep(db: DB, runId: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const e of executionsOf(db, runId)) {
    if (e.status !== 'done' && e.status !== 'cached') continue;
    const values = new Map(flattenMetrics(e.metrics ?? {}));
    const loss = finalLoss(db, e);
    if (loss !== null) values.set(FINAL_LOSS, loss);
    if (values.size) out.set(e.stepId, values);
  }
  return out;
}

/** An execution's final training loss: its metrics.json's final_loss, else the last loss it logged; null for a step that trains nothing. */
export function finalLoss(db: DB, e: ExecRecord): number | null {
  const own = e.metrics?.[FINAL_LOSS];
  return typeof own === 'number' && Number.isFinite(own) ? own : lastOf(db, e, 'loss');
}

function lastOf(db: DB, e: ExecRecord, name: string): number | null {
  const s = seriesOf(db, e, name);
  return s.length ? s[s.length - 1]!.value : null;
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])];
}

/** Short enough to read, exact enough to tell 0.8231 from 0.8234. */
function num(v: number | null, signed = false): string {
  if (v === null) return '-';
  const s = Number.isInteger(v) ? String(v) : v.toFixed(4);
  return signed && v > 0 ? `+${s}` : s;
}

export function formatDiff(diff: MetricsDiff, format: TableFormat | 'json'): string {
  if (format === 'json') return JSON.stringify(diff, null, 2) + '\n';
  if (format === 'csv') {
    return renderTable(
      'csv',
      ['step', 'metric', 'a', 'b', 'delta'],
      diff.rows.map((r) => [r.step, r.metric, String(r.a ?? ''), String(r.b ?? ''), String(r.delta ?? '')]),
    );
  }
  const rows = diff.rows.map((r) => [`${r.step} ${r.metric}`, num(r.a), num(r.b), num(r.delta, true)]);
  return renderTable(format, ['step metric', diff.runA, diff.runB, 'delta'], rows);
}
