// Lines shown once a run has ended: totals, failures, and the EX/EM table of
// every step whose metrics.json has the evaluation shape
// {"count":{easy,...,all},"ex":{...},"em":{...}}.

import type { ChalkInstance } from 'chalk';
import type { RunState, StepRow } from './state.js';
import { formatDuration } from './format.js';
import { statusColor } from './step-row.js';

const LEVELS = ['easy', 'medium', 'hard', 'extra', 'all'];
const ROWS: Array<[key: string, label: string]> = [
  ['count', 'count'],
  ['ex', 'EX'],
  ['em', 'EM'],
];

export function summaryLines(c: ChalkInstance, run: RunState): string[] {
  const end = run.end;
  if (!end) return [];
  const n = end.counts;
  const lines = [
    `${statusColor(c, end.status).bold(`Run ${end.status}`)} in ${formatDuration(end.durationMs)} · ` +
      `${n.done} ran · ${n.cached} cached · ${n.failed} failed · ${n.cancelled} cancelled · ${n.skipped} skipped · ` +
      `cache saved ${c.cyan(formatDuration(end.savedMs))}`,
  ];
  for (const id of run.order) {
    const r = run.row(id)!;
    if (r.status === 'failed') lines.push(c.red(`✖ ${id}: ${(r.error ?? 'failed').split('\n')[0]}`));
  }
  lines.push(...metricsTable(c, run));
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

function metricsTable(c: ChalkInstance, run: RunState): string[] {
  const rows = evalRows(run);
  if (rows.length === 0) return [];
  const idWidth = Math.max(...rows.map((r) => r.info.id.length), 'metrics'.length);
  const head = `${'metrics'.padEnd(idWidth)}        ` + LEVELS.map((l) => l.padStart(8)).join('');
  const lines = [c.bold(head)];
  for (const r of rows) {
    let first = true;
    for (const [key, label] of ROWS) {
      const values = r.metrics![key];
      if (!isLevelMap(values)) continue;
      const name = (first ? r.info.id : '').padEnd(idWidth);
      first = false;
      lines.push(`${name}  ${label.padEnd(6)}` + LEVELS.map((l) => cell(values[l]).padStart(8)).join(''));
    }
  }
  return lines;
}
