// Lines shown once a run has ended: totals, each failure with its last error
// lines and log path, and the table each step published (step-summary: sql-eval's
// EX/EM by hardness, its BIRD mode's figures by difficulty), whatever its columns.

import type { ChalkInstance } from 'chalk';
import type { RunState, StepRow } from './state.js';
import { checkpointLines } from './checkpoints.js';
import { fit, formatDuration } from './format.js';
import { colorLine, failureHeadline, lastErrorLines } from './failure.js';
import { statusColor } from './step-row.js';

/** stderr lines quoted under each failure. */
export const ERROR_LINES = 3;

export interface SummaryOptions {
  columns?: number;
  labels?: Map<string, string>;
}

export function summaryLines(c: ChalkInstance, run: RunState, opts: SummaryOptions = {}): string[] {
  const end = run.end;
  if (!end) return [];
  const n = end.counts;
  const lines = [
    `${statusColor(c, end.status).bold(`Run ${end.status}`)} in ${formatDuration(end.durationMs)} · ` +
      `${n.done} ran · ${n.cached} cached · ${n.failed} failed · ${n.cancelled} cancelled · ${n.skipped} skipped · ` +
      `cache saved ${c.cyan(formatDuration(end.savedMs))}`,
  ];
  lines.push(...failureLines(c, run, opts.labels));
  lines.push(...metricsTable(c, run, opts));
  lines.push(...checkpointLines(c, run, opts));
  return lines;
}

/** Failed steps, first failure first: headline, last stderr lines, log path. */
export function failureLines(c: ChalkInstance, run: RunState, labels?: Map<string, string>): string[] {
  const failed = run.order
    .map((id) => run.row(id)!)
    .filter((r) => r.status === 'failed')
    .sort((a, b) => (a.failedAt ?? 0) - (b.failedAt ?? 0));
  const lines: string[] = [];
  for (const r of failed) {
    lines.push(c.red(`✖ ${labels?.get(r.info.id) ?? r.info.id}: ${failureHeadline(r)}`));
    for (const l of lastErrorLines(r, ERROR_LINES)) lines.push(`    ${colorLine(c, l)}`);
    if (r.logPath) lines.push(c.dim(`    log: ${r.logPath}`));
  }
  return lines;
}

/** A published row's label: `count` as it is, a metric's name in capitals (EX, EM, SOFT_F1). */
const rowLabel = (key: string) => (key === 'count' ? key : key.toUpperCase());

function cell(v: unknown): string {
  if (typeof v !== 'number') return '-';
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

/**
 * The published tables, one header per set of columns, fitted to `columns`: the name column
 * shrinks first (to the labels' width, not less than 8), then columns go from the right, except
 * the last (the overall figure, `all`), which never goes.
 */
export function metricsTable(c: ChalkInstance, run: RunState, opts: SummaryOptions = {}): string[] {
  const rows = run.order.map((id) => run.row(id)!).filter((r) => r.summary && Object.keys(r.summary.rows).length > 0);
  if (rows.length === 0) return [];
  const columns = opts.columns ?? Infinity;
  const label = (r: StepRow) => opts.labels?.get(r.info.id) ?? r.info.id;
  const cellWidth = 8;
  // '  count' after the name, or wider for a longer row label.
  const labelWidth = Math.max(7, ...rows.flatMap((r) => Object.keys(r.summary!.rows).map((k) => rowLabel(k).length + 2)));
  const natural = Math.max(...rows.map((r) => label(r).length), 'metrics'.length);
  const lines: string[] = [];
  let header: string | undefined;
  for (const r of rows) {
    const table = r.summary!;
    let levels = [...table.columns];
    const width = (idW: number) => idW + labelWidth + levels.length * cellWidth;
    let idWidth = natural;
    if (width(idWidth) > columns) idWidth = Math.max(8, columns - width(0));
    while (width(idWidth) > columns && levels.length > 1) levels.splice(levels.length - 2, 1);
    const head = `${fit('metrics', idWidth)}${' '.repeat(labelWidth)}` + levels.map((l) => l.padStart(cellWidth)).join('');
    if (head !== header) lines.push(c.bold((header = head)));
    let first = true;
    for (const [key, values] of Object.entries(table.rows)) {
      const name = fit(first ? label(r) : '', idWidth);
      first = false;
      lines.push(`${name}  ${rowLabel(key).padEnd(labelWidth - 2)}` + levels.map((l) => cell(values[l]).padStart(cellWidth)).join(''));
    }
  }
  return lines;
}
