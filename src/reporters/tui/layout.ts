// Text of the main view that is not React: the header, the step table and the
// final frame the TUI leaves in the scrollback when it exits. The live view
// (App.tsx) and the final frame share these so they never disagree.

import cliTruncate from 'cli-truncate';
import type { TuiController } from './controller.js';
import { formatDuration, progressBar } from './format.js';
import { stepLabels } from './names.js';
import { stepRowText, statusColor, tableHeader, type RowLayout } from './step-row.js';
import { summaryLines } from './summary.js';

/** The step column: as wide as the longest label, at most 40% of the terminal. */
export function rowLayout(ctl: TuiController): RowLayout {
  const { columns } = ctl.viewport;
  const infos = ctl.run.order.map((id) => ctl.run.row(id)!.info);
  const maxId = Math.max(12, Math.floor(columns * 0.4));
  const labels = stepLabels(infos, maxId);
  const gpuWidth = Math.max(0, ...[...ctl.run.steps.values()].map((r) => (r.info.gpus > 0 ? Math.max(3, r.gpus.join(',').length) : 0)));
  return {
    columns,
    gpuWidth,
    labels,
    idWidth: Math.min(maxId, Math.max(4, ...[...labels.values()].map((l) => l.length))),
  };
}

export function headerLines(ctl: TuiController): string[] {
  const { run, chalk: c } = ctl;
  const status = run.end ? run.end.status : run.started ? 'running' : 'starting';
  const elapsed = run.end ? run.end.durationMs : run.startTime !== undefined ? ctl.now() - run.startTime : undefined;
  const n = run.counts();
  const waiting = n.pending + n.queued;
  const counts: string[] = [];
  if (n.running) counts.push(c.yellow(`${n.running} running`));
  counts.push(c.green(`${n.done} done`), c.cyan(`${n.cached} cached`));
  if (n.failed) counts.push(c.red(`${n.failed} failed`));
  if (n.cancelled) counts.push(c.magenta(`${n.cancelled} cancelled`));
  if (n.skipped) counts.push(c.gray(`${n.skipped} skipped`));
  if (waiting) counts.push(`${waiting} waiting`);
  const head =
    `${c.bold('flow')} ${run.name || run.recipe || ''}  ` +
    statusColor(c, status === 'starting' ? 'starting' : status)(status) +
    (elapsed !== undefined ? `  ${formatDuration(elapsed)}` : '') +
    `  ${counts.join(' · ')}`;
  const fraction = run.fractionDone();
  const finished = run.order.length - waiting - n.running;
  const bar = progressBar(fraction, 20);
  const progress = `${run.end ? bar : c.yellow(bar)} ${Math.floor(fraction * 100)}% · ${finished}/${run.order.length} steps finished`;
  return [head, progress];
}

/** Rows of the table, scrolled to keep the selection in view; "+N more" says what is cut off. */
export function tableLines(ctl: TuiController, height: number, layout: RowLayout): string[] {
  const { run, chalk: c } = ctl;
  const order = run.order;
  const now = ctl.now();
  const lines = [c.dim(tableHeader(layout))];
  if (order.length <= height) {
    for (const id of order) lines.push(stepRowText(c, run.row(id)!, id === ctl.selectedId, now, layout));
    return lines;
  }
  const shown = Math.max(1, height - 1);
  const sel = Math.max(0, ctl.selectedId ? order.indexOf(ctl.selectedId) : 0);
  const first = Math.min(Math.max(0, sel - Math.floor(shown / 2)), order.length - shown);
  for (const id of order.slice(first, first + shown)) lines.push(stepRowText(c, run.row(id)!, id === ctl.selectedId, now, layout));
  const above = first;
  const below = order.length - first - shown;
  const more = [above ? `${above} above` : '', below ? `${below} below` : ''].filter(Boolean).join(', ');
  lines.push(c.dim(`    +${above + below} more (${more})`));
  return lines;
}

export function previousRunLines(ctl: TuiController): string[] {
  return ctl.previousRuns.map((h) => ctl.chalk.dim(`earlier: ${h}`));
}

/**
 * The frame left in the scrollback for a run that ended: every row (no
 * scrolling: the scrollback has room) and the summary with failures and EX/EM
 * tables. A session with re-runs leaves one such frame per run.
 */
export function finalFrameLines(ctl: TuiController): string[] {
  const layout = rowLayout(ctl);
  const { columns } = ctl.viewport;
  const rule = (title: string) => ctl.chalk.dim(`── ${title} ${'─'.repeat(columns)}`.slice(0, columns));
  // Rows are cut at the edge as in the live view (a wrapped row would read as two
  // steps); summary lines may wrap, so an error or a log path is never cut off.
  const rows = [...headerLines(ctl).slice(0, 1), ...tableLines(ctl, Infinity, layout)].map((l) => cliTruncate(l, columns));
  return [
    ...rows,
    rule('summary'),
    ...summaryLines(ctl.chalk, ctl.run, { columns, labels: layout.labels }),
  ];
}
