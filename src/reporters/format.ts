// Small formatting helpers shared by the text reporters and CLI commands.

import prettyMs from 'pretty-ms';
import type { SummaryTable } from '../events.js';

/**
 * A duration as every flow output writes it (pretty-ms): `45ms`, `12.3s`, `4m 5s`, `2h 3m`; the
 * experiments' tables and reports (src/experiments/compare-format.ts) use the same rule.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  // One decimal of a second under a minute, two units at most.
  return prettyMs(ms, { secondsDecimalDigits: ms < 60_000 ? 1 : 0, keepDecimalsOnWholeSeconds: true, unitCount: 2 });
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** A step's published summary table (e.g. sql-eval's accuracy by hardness) as aligned text lines. */
export function summaryLines(table: SummaryTable): string[] {
  const cell = (row: string, v: number | null | undefined) => (typeof v !== 'number' ? '-' : row === 'count' ? String(v) : v.toFixed(3));
  const lines = [`${''.padEnd(6)}${table.columns.map((l) => l.padStart(8)).join('')}`];
  for (const [row, values] of Object.entries(table.rows)) {
    lines.push(`${row.toUpperCase().padEnd(6)}${table.columns.map((l) => cell(row, values[l]).padStart(8)).join('')}`);
  }
  return lines;
}

// Made on first use: the first Intl formatter costs ~25 ms of ICU start-up, which a run
// that never prints a number should not pay.
let grouped: Intl.NumberFormat | undefined;

/**
 * A number as every reporter prints it: thousands grouped (`12,620`, never
 * `1.262e+4`), four significant digits below 1000 (`0.7322`), exponent form only
 * for tiny values such as learning rates (`2.0e-4`).
 */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1000 || Number.isInteger(n)) return (grouped ??= new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })).format(n);
  if (abs < 1e-2) return n.toExponential(1);
  return n.toPrecision(4).replace(/\.?0+$/, '');
}

/**
 * The table of a step that published none (a shell step writing its own metrics.json): each
 * top-level figure broken down by group ({"ex": {"a": 0.5, "all": 0.4}}) is a row, the groups
 * the columns in the order written. Undefined when the metrics hold no such figure.
 */
export function tableOfMetrics(metrics: Record<string, unknown> | undefined): SummaryTable | undefined {
  const rows: SummaryTable['rows'] = {};
  for (const [key, value] of Object.entries(metrics ?? {})) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
    const cells = Object.entries(value);
    if (cells.every(([, v]) => v === null || typeof v === 'number') && cells.some(([, v]) => typeof v === 'number')) {
      rows[key] = value as Record<string, number | null>;
    }
  }
  const columns = [...new Set(Object.values(rows).flatMap((r) => Object.keys(r)))];
  return columns.length ? { title: 'metrics', columns, rows } : undefined;
}

/** A step's executor state in one phrase: "slurm job 12 PENDING (Resources)", "slurm job 12 RUNNING on node1". */
export function formatJobState(j: { executor: string; jobId?: string; state: string; detail?: string }): string {
  const detail = j.detail ? (j.detail.startsWith('on ') ? ` ${j.detail}` : ` (${j.detail})`) : '';
  return `${j.executor}${j.jobId ? ` job ${j.jobId}` : ''} ${j.state}${detail}`;
}
