// Lines shown once a run has ended: totals, each failure with its last error
// lines and log path, and the EX/EM table of every step whose metrics.json has
// the evaluation shape {"count":{easy,...,all},"ex":{...},"em":{...}}.

import type { ChalkInstance } from 'chalk';
import type { RunState, StepRow } from './state.js';
import { fit, formatDuration } from './format.js';
import { colorLine, failureHeadline, lastErrorLines } from './failure.js';
import { statusColor } from './step-row.js';

const LEVELS = ['easy', 'medium', 'hard', 'extra', 'all'];
/** Dropped in this order when the table is wider than the terminal; `all` always stays. */
const DROP_ORDER = ['extra', 'hard', 'medium', 'easy'];
const ROWS: Array<[key: string, label: string]> = [
  ['count', 'count'],
  ['ex', 'EX'],
  ['em', 'EM'],
];
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

function isLevelMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function evalRows(run: RunState): StepRow[] {
  return run.order
    .map((id) => run.row(id)!)
    .filter((r) => r.metrics && (isLevelMap(r.metrics.ex) || isLevelMap(r.metrics.em)));
}

function cell(v: unknown): string {
  if (typeof v !== 'number') return '-';
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

/**
 * The EX/EM table, fitted to `columns`: the name column shrinks first (to the
 * labels' width, not less than 8), then hardness columns go from the right,
 * `extra` first; `all` never goes.
 */
export function metricsTable(c: ChalkInstance, run: RunState, opts: SummaryOptions = {}): string[] {
  const rows = evalRows(run);
  if (rows.length === 0) return [];
  const columns = opts.columns ?? Infinity;
  const label = (r: StepRow) => opts.labels?.get(r.info.id) ?? r.info.id;
  const cellWidth = 8;
  const labelWidth = 7; // '  count' after the name
  let levels = [...LEVELS];
  const width = (idW: number) => idW + labelWidth + levels.length * cellWidth;
  const natural = Math.max(...rows.map((r) => label(r).length), 'metrics'.length);
  let idWidth = natural;
  if (width(idWidth) > columns) idWidth = Math.max(8, columns - width(0));
  for (const drop of DROP_ORDER) {
    if (width(idWidth) <= columns) break;
    levels = levels.filter((l) => l !== drop);
  }
  const head = `${fit('metrics', idWidth)}${' '.repeat(labelWidth)}` + levels.map((l) => l.padStart(cellWidth)).join('');
  const lines = [c.bold(head)];
  for (const r of rows) {
    let first = true;
    for (const [key, rowLabel] of ROWS) {
      const values = r.metrics![key];
      if (!isLevelMap(values)) continue;
      const name = fit(first ? label(r) : '', idWidth);
      first = false;
      lines.push(`${name}  ${rowLabel.padEnd(labelWidth - 2)}` + levels.map((l) => cell(values[l]).padStart(cellWidth)).join(''));
    }
  }
  return lines;
}
