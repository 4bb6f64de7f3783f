// Figures of per-checkpoint evaluations against the training step: for each series of
// instances (`eval_val[ckpt=200]`, `[ckpt=400]`, ... share `eval_val`), each row of the table
// they published (EX, EM; not the counts) and each of its columns (the breakdown the step
// chose, and `all`): a sparkline over the checkpoints, the first and last value, and the best.
// Nothing here knows what is measured: rows, columns and checkpoints come from the events.

import type { ChalkInstance } from 'chalk';
import { fit, sparkline } from './format.js';
import type { RunState, StepRow } from './state.js';

interface Point {
  step: number;
  row: StepRow;
}

/** The series of scored checkpoints, in run-start order, each sorted by training step. */
export function checkpointSeries(run: RunState): Map<string, Point[]> {
  const series = new Map<string, Point[]>();
  for (const id of run.order) {
    const row = run.row(id)!;
    const ck = row.info.checkpoint;
    if (!ck || !row.summary) continue;
    const points = series.get(ck.series) ?? [];
    points.push({ step: ck.step, row });
    series.set(ck.series, points);
  }
  for (const points of series.values()) points.sort((a, b) => a.step - b.step);
  return series;
}

const value = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(3) : '-');

/**
 * Lines under a heading, one per series, row and column, e.g.
 * `eval_val  EX all     ▁▅█  200 0.412 → 600 0.551  best 0.551 at 600`. Empty when no
 * checkpoint was scored.
 */
export function checkpointLines(c: ChalkInstance, run: RunState, opts: { columns?: number } = {}): string[] {
  const series = [...checkpointSeries(run)].filter(([, points]) => points.length > 0);
  if (series.length === 0) return [];
  const width = opts.columns ?? Infinity;
  const nameWidth = Math.min(24, Math.max(8, ...series.map(([name]) => name.length)));
  const sparkWidth = Math.min(12, Math.max(...series.map(([, points]) => points.length)));
  const lines = [c.bold('per checkpoint (training step)')];
  for (const [name, points] of series) {
    const table = points[points.length - 1]!.row.summary!;
    const rows = Object.keys(table.rows).filter((k) => k !== 'count');
    const colWidth = Math.max(...table.columns.map((col) => col.length));
    let first = true;
    for (const key of rows) {
      for (const col of table.columns) {
        const values = points.map((p) => p.row.summary?.rows[key]?.[col]);
        const numbers = values.filter((v): v is number => typeof v === 'number');
        if (numbers.length === 0) continue;
        const best = points[values.indexOf(Math.max(...numbers))]!;
        const head = fit(first ? name : '', nameWidth);
        first = false;
        const a = points[0]!;
        const z = points[points.length - 1]!;
        const text =
          `${head}  ${key.toUpperCase()} ${col.padEnd(colWidth)}  ${sparkline(numbers, sparkWidth).padEnd(sparkWidth)}  ` +
          `${a.step} ${value(values[0])} → ${z.step} ${value(values[values.length - 1])}  best ${value(Math.max(...numbers))} at ${best.step}`;
        lines.push(text.length > width ? fit(text, width) : text);
      }
    }
  }
  return lines;
}
