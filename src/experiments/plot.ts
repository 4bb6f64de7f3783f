// `flow plot`: the charts of a run (or of a comparison) written as SVG + PNG.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CKPT_AXIS } from '../recipe/matrix.js';
import type { DB } from '../store/db.js';
import { type BarPoint, hardnessBars } from '../charts/bars.js';
import type { Chart } from '../charts/png.js';
import type { LossPoint } from '../charts/charts.js';
import { type CompareTable, compare } from './compare.js';
import { type ExecRecord, ExperimentError, executionsOf, findRun, seriesOf, variantText } from './records.js';

export interface NamedChart {
  /** File stem: 'loss', 'ex-by-hardness'. */
  name: string;
  title: string;
  chart: Chart;
}

/** The charts a run or comparison has data for: loss curves, accuracy by hardness. */
export async function buildCharts(db: DB, source: string | CompareTable): Promise<NamedChart[]> {
  let table: CompareTable | null;
  if (typeof source === 'string') {
    const run = findRun(db, source);
    table = tryCompare(db, run.id);
    source = run.id;
  } else {
    table = source;
  }
  const out: NamedChart[] = [];
  const points = lossPoints(db, source);
  if (points.length) {
    // Vega loads only for a run that has loss curves to draw.
    const { lossCurvesSpec, renderChart } = await import('../charts/charts.js');
    out.push({ name: 'loss', title: 'Training loss', chart: await renderChart(lossCurvesSpec(points)) });
  }
  if (typeof source === 'string') {
    for (const metric of ['ex', 'em'] as const) {
      const curve = checkpointPoints(db, source, metric);
      if (!curve.length) continue;
      const { lossCurvesSpec, renderChart } = await import('../charts/charts.js');
      const title = `${metric.toUpperCase()} per checkpoint`;
      out.push({ name: `${metric}-by-checkpoint`, title, chart: await renderChart(lossCurvesSpec(curve, title, metric.toUpperCase())) });
    }
  }
  // EX and EM both: a run evaluated with etype all has both, and they disagree in telling ways.
  const tables = table ? [table] : [];
  if (typeof source === 'string') {
    const em = tryCompare(db, source, 'em');
    if (em) tables.push(em);
  }
  for (const t of tables) {
    const what = t.metric === 'rouge' ? 'ROUGE' : `${t.metric.toUpperCase()} by hardness`;
    const bars: BarPoint[] = t.rows.flatMap((r) => {
      const counts = countsOf(db, r.runId, r.stepId);
      return t.columns.map((c) => ({ group: r.label, hardness: c, value: r.values[c] ?? null, count: counts?.[c] }));
    });
    const chart = hardnessBars(bars, what, t.metric.toUpperCase());
    out.push({ name: `${t.metric}-by-hardness`, title: what, chart });
  }
  return out;
}

/** Writes every chart as <name>.svg and <name>.png into outDir; returns the paths written. */
export async function plotRun(db: DB, runOrCompare: string | CompareTable, outDir: string): Promise<string[]> {
  const charts = await buildCharts(db, runOrCompare);
  if (charts.length === 0) {
    const what = typeof runOrCompare === 'string' ? `run ${runOrCompare}` : 'the comparison';
    throw new ExperimentError(`${what} recorded no training loss and no accuracies: nothing to plot`);
  }
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  for (const { name, chart } of charts) {
    const svg = join(outDir, `${name}.svg`);
    const png = join(outDir, `${name}.png`);
    writeFileSync(svg, chart.svg);
    writeFileSync(png, chart.png);
    files.push(svg, png);
  }
  return files;
}

/** Items per hardness of an evaluation (metrics.json's count), when it recorded them. */
function countsOf(db: DB, runId: string, stepId: string): Record<string, number> | undefined {
  const e = executionsOf(db, runId).find((x) => x.stepId === stepId);
  const count = e?.metrics?.count;
  if (!count || typeof count !== 'object') return undefined;
  return Object.fromEntries(Object.entries(count).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

function tryCompare(db: DB, runId: string, metric: 'ex' | 'em' = 'ex'): CompareTable | null {
  try {
    return compare(db, { runs: [runId], metric });
  } catch (err) {
    if (err instanceof ExperimentError) return null;
    throw err;
  }
}

/**
 * Loss series of a run's training steps, or of the runs and variants in a
 * comparison, each line labelled like its row.
 */
function lossPoints(db: DB, source: string | CompareTable): LossPoint[] {
  const wanted: Array<{ runId: string; variant: Record<string, unknown> | null; label?: string }> =
    typeof source === 'string'
      ? [{ runId: source, variant: null }]
      : source.rows.map((r) => ({ runId: r.runId, variant: r.variant, label: r.label }));
  const seen = new Set<string>();
  const series: Array<{ exec: ExecRecord; label: string; points: Array<{ step: number; value: number }> }> = [];
  const execsByRun = new Map<string, ExecRecord[]>();
  for (const w of wanted) {
    if (!execsByRun.has(w.runId)) execsByRun.set(w.runId, executionsOf(db, w.runId));
    for (const e of execsByRun.get(w.runId)!) {
      if (seen.has(e.id) || (e.status !== 'done' && e.status !== 'cached')) continue;
      // A comparison row's loss is the training step of the same variant (or, unswept, the run's).
      if (w.variant && !sameAxes(e.variant, w.variant)) continue;
      const points = seriesOf(db, e, 'loss');
      if (points.length === 0) continue;
      seen.add(e.id);
      series.push({ exec: e, label: w.label ?? (variantText(e.variant) || e.baseId), points });
    }
  }
  const manySteps = new Set(series.map((s) => s.exec.baseId)).size > 1;
  return series.flatMap((s) => {
    const label = manySteps ? `${s.exec.baseId} ${s.label}` : s.label;
    return s.points.map((p) => ({ series: label, step: p.step, loss: p.value }));
  });
}

/**
 * A metric of a run's per-checkpoint evaluations against the training step: one line per
 * scoring step (and matrix variant) and group, the groups as the step recorded them ({all, ...}).
 */
function checkpointPoints(db: DB, runId: string, metric: string): LossPoint[] {
  const out: LossPoint[] = [];
  for (const e of executionsOf(db, runId)) {
    const step = e.variant?.[CKPT_AXIS];
    const byGroup = e.metrics?.[metric];
    if (typeof step !== 'number' || (e.status !== 'done' && e.status !== 'cached') || !byGroup || typeof byGroup !== 'object') continue;
    const rest = Object.fromEntries(Object.entries(e.variant!).filter(([k]) => k !== CKPT_AXIS));
    const label = [e.baseId, variantText(rest)].filter(Boolean).join(' ');
    for (const [group, v] of Object.entries(byGroup)) if (typeof v === 'number') out.push({ series: `${label} ${group}`, step, loss: v });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** A training step swept over fewer axes than the eval step still belongs to its row. */
function sameAxes(execVariant: Record<string, unknown> | null, rowVariant: Record<string, unknown>): boolean {
  if (!execVariant) return false;
  return Object.entries(execVariant).every(([k, v]) => JSON.stringify(rowVariant[k]) === JSON.stringify(v));
}
