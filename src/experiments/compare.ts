// The comparison table the seed projects build by hand: one row per variant
// (or per run), one column per group the evaluation broke its metric down by
// (sql-eval: Spider's hardness levels, in the order its metrics.json lists them),
// best value per column marked.

import { breakdownOrder } from '../charts/bars.js';
import type { DB } from '../store/db.js';
import {
  ExperimentError,
  type ExecRecord,
  type RunRecord,
  executionsOf,
  findRun,
  latestRuns,
  runsOfRecipe,
  variantText,
} from './records.js';
import { renderTable } from './table.js';
import type { CompareFormat, CompareMetric } from './choices.js';

export { COMPARE_FORMATS, COMPARE_METRICS, type CompareFormat, type CompareMetric } from './choices.js';


export interface CompareOptions {
  /** Run ids (or unique prefixes): one row per evaluating step of each. */
  runs?: string[];
  /** Recipe name or path: the latest result of each variant across its runs. */
  recipe?: string;
  metric: CompareMetric;
}

export interface CompareRow {
  label: string;
  runId: string;
  recipe: string;
  stepId: string;
  variant: Record<string, unknown> | null;
  cached: boolean;
  values: Record<string, number | null>;
}

export interface CompareTable {
  metric: CompareMetric;
  /** What was compared, in words: 'run 7f3a… (sweep)', 'recipe sweep (3 runs)'. */
  source: string;
  /** What the row labels are: 'variant', 'run' or 'step'. */
  labelTitle: string;
  columns: string[];
  rows: CompareRow[];
  /** Column -> best (highest) value; every row reaching it is marked. */
  best: Record<string, number>;
}

interface Found {
  run: RunRecord;
  exec: ExecRecord;
  values: Record<string, number>;
}

/**
 * Defaults: no runs and no recipe compares the variants of the latest run that
 * recorded this metric; a recipe compares the latest result per variant
 * across all its runs; explicit runs compare every evaluation of each.
 */
export function compare(db: DB, opts: CompareOptions): CompareTable {
  const { metric } = opts;
  let found: Found[];
  let source = '';
  if (opts.runs?.length) {
    const runs = opts.runs.map((id) => findRun(db, id));
    found = runs.flatMap((run) => {
      const f = evaluations(db, run, metric);
      if (f.length === 0) throw new ExperimentError(`run ${run.id} (${run.name}) recorded no '${metric}' metrics`);
      return f;
    });
    source = runs.length === 1 ? `run ${runs[0]!.id} (${runs[0]!.name})` : `${runs.length} runs`;
  } else if (opts.recipe) {
    const runs = runsOfRecipe(db, opts.recipe);
    const latest = new Map<string, Found>();
    for (const run of runs) for (const f of evaluations(db, run, metric)) latest.set(f.exec.stepId, f);
    found = inStableOrder([...latest.values()]);
    if (found.length === 0) throw new ExperimentError(`no run of recipe '${opts.recipe}' recorded '${metric}' metrics`);
    source = `recipe ${runs[0]!.name} (latest of ${runs.length} run${runs.length === 1 ? '' : 's'})`;
  } else {
    found = [];
    for (const run of latestRuns(db)) {
      found = evaluations(db, run, metric);
      if (found.length) {
        source = `run ${run.id} (${run.name})`;
        break;
      }
    }
    if (found.length === 0) {
      throw new ExperimentError(`no run in this cache recorded '${metric}' metrics; run a recipe with an evaluation step first`);
    }
  }
  // Rows from several runs name their run, except in a recipe's table where the variant says it all.
  const manyRuns = !opts.recipe && new Set(found.map((f) => f.run.id)).size > 1;
  return buildTable(metric, source, found, manyRuns);
}

/** A run's finished executions whose metrics.json has the metric, variants in a stable order. */
function evaluations(db: DB, run: RunRecord, metric: CompareMetric): Found[] {
  const out: Found[] = [];
  for (const exec of executionsOf(db, run.id)) {
    if (exec.status !== 'done' && exec.status !== 'cached') continue;
    const m = exec.metrics?.[metric];
    if (!m || typeof m !== 'object') continue;
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && Number.isFinite(v)) values[k] = v;
    if (Object.keys(values).length) out.push({ run, exec, values });
  }
  return inStableOrder(out);
}

/**
 * Steps in the order they first ran, each step's variants in value order (32
 * before 128): parallel steps finish in any order, tables should not.
 */
function inStableOrder(found: Found[]): Found[] {
  const firstSeen = new Map<string, number>();
  found.forEach((f, i) => firstSeen.has(f.exec.baseId) || firstSeen.set(f.exec.baseId, i));
  return found.sort(
    (a, b) => firstSeen.get(a.exec.baseId)! - firstSeen.get(b.exec.baseId)! || compareVariants(a.exec.variant, b.exec.variant),
  );
}

function compareVariants(a: Record<string, unknown> | null, b: Record<string, unknown> | null): number {
  const keys = Object.keys(a ?? b ?? {});
  for (const k of keys) {
    const x = a?.[k];
    const y = b?.[k];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x).localeCompare(String(y));
  }
  return 0;
}

function buildTable(metric: CompareMetric, source: string, found: Found[], manyRuns: boolean): CompareTable {
  const columns = breakdownOrder(found.flatMap((f) => Object.keys(f.values)));
  const manySteps = new Set(found.map((f) => f.exec.baseId)).size > 1;
  const rows: CompareRow[] = found.map(({ run, exec, values }) => {
    const parts: string[] = [];
    if (manyRuns) parts.push(`${run.id} ${run.name}`);
    if (manySteps || (!manyRuns && !exec.variant)) parts.push(exec.baseId);
    if (exec.variant) parts.push(variantText(exec.variant));
    return {
      label: parts.join(' '),
      runId: run.id,
      recipe: run.name,
      stepId: exec.stepId,
      variant: exec.variant,
      cached: exec.status === 'cached',
      values: Object.fromEntries(columns.map((c) => [c, values[c] ?? null])),
    };
  });
  const best: Record<string, number> = {};
  for (const c of columns) {
    const vals = rows.map((r) => r.values[c]).filter((v): v is number => v !== null);
    if (vals.length) best[c] = Math.max(...vals);
  }
  const labelTitle = found.some((f) => f.exec.variant) ? 'variant' : manyRuns ? 'run' : 'step';
  return { metric, source, labelTitle, columns, rows, best };
}

/** Accuracies are fractions; three decimals match the official evaluator's printout. */
function num(v: number | null): string {
  return v === null ? '-' : v.toFixed(3);
}

export function formatCompare(table: CompareTable, format: CompareFormat): string {
  if (format === 'json') return JSON.stringify(table, null, 2) + '\n';
  const isBest = (r: CompareRow, c: string) => r.values[c] !== null && r.values[c] === table.best[c] && table.rows.length > 1;
  const headers = [table.labelTitle, ...table.columns];
  if (format === 'csv') {
    return renderTable(
      'csv',
      ['label', 'run', 'recipe', 'step', ...table.columns],
      table.rows.map((r) => [r.label, r.runId, r.recipe, r.stepId, ...table.columns.map((c) => String(r.values[c] ?? ''))]),
    );
  }
  if (format === 'md') {
    const rows = table.rows.map((r) => [
      r.label,
      ...table.columns.map((c) => (isBest(r, c) ? `**${num(r.values[c] ?? null)}**` : num(r.values[c] ?? null))),
    ]);
    return renderTable('md', headers, rows);
  }
  // Text: a trailing space on unmarked cells keeps the digits aligned with the `*` ones.
  const rows = table.rows.map((r) => [
    r.label,
    ...table.columns.map((c) => (isBest(r, c) ? `${num(r.values[c] ?? null)}*` : `${num(r.values[c] ?? null)} `)),
  ]);
  // Headers take the same trailing space so they align with the digits.
  const textHeaders = [table.labelTitle, ...table.columns.map((c) => `${c} `)];
  const what = table.metric === 'rouge' ? 'ROUGE' : `${table.metric.toUpperCase()} by hardness`;
  return `${what}, ${table.source}; * best\n${renderTable('text', textHeaders, rows)}`;
}
