// One line of the step table: status, time, cache, GPUs, then whatever detail
// the step's state calls for (progress bar, saved time, error, plan reasons).

import type { ChalkInstance } from 'chalk';
import type { RowStatus, StepRow } from './state.js';
import { progressRate } from './state.js';
import { formatJobState } from '../format.js';
import { fit, formatDuration, formatNumber, progressBar, sparkline } from './format.js';
import { failureHeadline, lastErrorLines } from './failure.js';

const ICON: Record<RowStatus, string> = {
  pending: '·',
  queued: '○',
  running: '●',
  done: '✔',
  cached: '↺',
  failed: '✖',
  cancelled: '⊘',
  skipped: '-',
};

export function statusColor(c: ChalkInstance, status: RowStatus | 'starting'): ChalkInstance {
  switch (status) {
    case 'cached':
      return c.cyan;
    case 'running':
      return c.yellow;
    case 'done':
      return c.green;
    case 'failed':
      return c.red;
    case 'cancelled':
      return c.magenta;
    default:
      return c.gray;
  }
}

export interface RowLayout {
  idWidth: number;
  /** Display label per step id (see names.ts); the id itself when absent. */
  labels?: Map<string, string>;
  /** 0 when no step of the run asks for GPUs: the column is left out. */
  gpuWidth: number;
  columns: number;
}

export function tableHeader(layout: RowLayout): string {
  const gpu = layout.gpuWidth ? ' ' + fit('GPU', layout.gpuWidth) : '';
  return `    ${fit('STEP', layout.idWidth)} ${fit('STATUS', 9)} ${fit('TIME', 7)} ${fit('CACHE', 5)}${gpu} PROGRESS`;
}

/** Cells before the detail column: marker, icon, id, status, time, cache, gpu, and the spaces between. */
function fixedWidth(layout: RowLayout): number {
  return 4 + layout.idWidth + 1 + 9 + 1 + 7 + 1 + 5 + (layout.gpuWidth ? layout.gpuWidth + 1 : 0) + 1;
}

export function stepRowText(c: ChalkInstance, r: StepRow, selected: boolean, now: number, layout: RowLayout): string {
  const color = statusColor(c, r.status);
  const time =
    r.status === 'running' && r.startTime !== undefined
      ? formatDuration(now - r.startTime)
      : r.durationMs !== undefined
        ? formatDuration(r.durationMs)
        : '';
  const cache = r.cacheHit === true ? 'hit' : r.cacheHit === false ? 'miss' : '';
  const gpus = r.gpus.length ? r.gpus.join(',') : '';
  const id = fit(layout.labels?.get(r.info.id) ?? r.info.id, layout.idWidth);
  const cells = [
    selected ? c.bold('▸') : ' ',
    color(ICON[r.status]),
    selected ? c.bold.inverse(id) : id,
    color(fit(r.status, 9)),
    fit(time, 7),
    r.cacheHit ? c.cyan(fit(cache, 5)) : fit(cache, 5),
  ];
  if (layout.gpuWidth) cells.push(fit(gpus, layout.gpuWidth));
  const head = cells.join(' ');
  const detail = rowDetail(c, r, Math.max(10, layout.columns - fixedWidth(layout)), layout.columns >= WIDE);
  return detail ? `${head} ${detail}` : head;
}

/** From this many columns on, rows also carry lr, tok/s and the loss sparkline. */
export const WIDE = 100;
/** Fewer loss points than this draw a sparkline that means nothing. */
export const SPARK_MIN_POINTS = 8;

function rowDetail(c: ChalkInstance, r: StepRow, width: number, wide: boolean): string {
  switch (r.status) {
    case 'cached':
      return c.dim(`saved ${formatDuration(r.savedMs ?? 0)}`);
    case 'failed': {
      const headline = failureHeadline(r);
      const last = lastErrorLines(r, 1)[0]?.trim();
      return c.red(headline + (last && !headline.includes(last) ? ` · ${last}` : ''));
    }
    case 'running': {
      // A cluster job: its id and Slurm state (PENDING with reason, RUNNING on node) beside any progress.
      const job = r.job ? c.dim(formatJobState(r.job)) : '';
      if (!r.progress) return job || c.dim('starting…');
      return job ? `${progressText(c, r, width, wide)}  ${job}` : progressText(c, r, width, wide);
    }
    case 'skipped':
      return c.dim(r.skipReason ?? '');
    case 'pending':
    case 'queued':
      return r.reasons.length ? c.dim(r.reasons.join('; ')) : '';
    default:
      return r.progress ? progressText(c, r, width, wide) : '';
  }
}

/**
 * Most telling first, since the row is cut at the terminal's edge: bar, count,
 * ETA, loss, the rate (one, in the progress unit); lr, tok/s and the sparkline
 * only on wide terminals.
 */
function progressText(c: ChalkInstance, r: StepRow, width: number, wide: boolean): string {
  const p = r.progress!;
  const unit = p.unit ?? '';
  const parts: string[] = [];
  const rate = progressRate(r);
  if (p.total !== undefined && p.total > 0) {
    const barWidth = Math.min(24, Math.max(5, Math.floor(width / 8)));
    const bar = progressBar(p.current / p.total, barWidth);
    parts.push(r.status === 'running' ? c.yellow(bar) : bar);
    // The unit shows with the rate; here it would push the loss off narrow screens.
    parts.push(`${formatNumber(p.current)}/${formatNumber(p.total)}`);
  } else {
    parts.push(`${formatNumber(p.current)}${unit ? ' ' + unit : ''}`);
  }
  const running = rate !== undefined && rate > 0 && r.status === 'running';
  if (running && p.total !== undefined && p.total > p.current) {
    parts.push(`ETA ${formatDuration(((p.total - p.current) / rate) * 1000)}`);
  }
  const loss = p.values?.loss;
  if (loss !== undefined) {
    const spark = wide && r.loss.length >= SPARK_MIN_POINTS ? ' ' + c.cyan(sparkline(r.loss.values(), 16)) : '';
    parts.push(`loss ${formatNumber(loss)}${spark}`);
  }
  if (running) parts.push(`${formatNumber(rate)} ${unit || 'it'}/s`);
  for (const [name, value] of Object.entries(p.values ?? {})) {
    if (name === 'loss') continue;
    if (name === 'lr' || name === 'tokens_per_s') {
      if (wide) parts.push(name === 'lr' ? `lr ${formatNumber(value)}` : `${formatNumber(value)} tok/s`);
    } else if (!name.endsWith('_per_s')) parts.push(`${name} ${formatNumber(value)}`);
    // Other rates are left out: a row shows one rate, in one unit.
  }
  return parts.join('  ');
}
