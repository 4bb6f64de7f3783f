// The line reporter: used when stdout is not a terminal (CI, pipes) or with
// --ui plain. One line per state change, step output prefixed by step id.

import { Chalk } from 'chalk';
import type { EngineEvent, Reporter } from '../events.js';
import { formatDuration, formatNumber, summaryLines, tableOfMetrics } from './format.js';
import { stepLabels } from './tui/names.js';

const PROGRESS_EVERY_MS = 5000;

export function createPlainReporter(opts: { color: boolean; out?: NodeJS.WritableStream; logs?: boolean }): Reporter {
  const out = opts.out ?? process.stdout;
  const c = new Chalk({ level: opts.color ? 1 : 0 });
  const w = (s: string) => out.write(`${s}\n`);
  let width = 8;
  const pad = (id: string) => id.padEnd(width);
  // Every table a step published (step-summary; a cached step's comes from its recorded metrics),
  // in the order they came, shown at the end labelled by step and variant; a step that published
  // none but wrote figures by group in its metrics.json gets those.
  const tables = new Map<string, { title: string; lines: string[] }>();
  const fromMetrics = (step: string, metrics: Record<string, unknown> | undefined) => {
    const table = tables.has(step) ? undefined : tableOfMetrics(metrics);
    if (table) tables.set(step, { title: table.title, lines: summaryLines(table) });
  };
  let labels = new Map<string, string>();
  // Progress is printed at each tenth of the way, and at most once per PROGRESS_EVERY_MS of a
  // step (counted from its start, by event time): a CI log shows a long step moving, and a step
  // of a few seconds, whose done line comes next anyway, prints none.
  const lastTenth = new Map<string, number>();
  const lastPrinted = new Map<string, number>();

  return {
    onEvent(e: EngineEvent) {
      switch (e.type) {
        case 'run-start':
          width = Math.max(8, ...e.steps.map((s) => s.id.length));
          labels = stepLabels(e.steps);
          w(c.bold(`flow: ${e.name} — run ${e.runId}, ${e.steps.length} step${e.steps.length === 1 ? '' : 's'}`));
          break;
        case 'step-cached':
          w(`${c.dim('·')} ${pad(e.step)} ${c.dim(`cached (saves ${formatDuration(e.savedMs)})`)}`);
          fromMetrics(e.step, e.metrics);
          break;
        case 'step-start':
          lastPrinted.set(e.step, e.time);
          w(`${c.cyan('▶')} ${pad(e.step)} ${c.cyan('running')}${e.gpus.length ? ` on GPU ${e.gpus.join(',')}` : ''}${e.reasons.length ? c.dim(` — ${e.reasons.join('; ')}`) : ''}`);
          break;
        case 'step-progress': {
          const p = e.progress;
          if (!p.total) break;
          const tenth = Math.floor((10 * p.current) / p.total);
          if (tenth <= (lastTenth.get(e.step) ?? 0) || e.time - (lastPrinted.get(e.step) ?? 0) < PROGRESS_EVERY_MS) break;
          lastTenth.set(e.step, tenth);
          lastPrinted.set(e.step, e.time);
          const values = Object.entries(p.values ?? {})
            .map(([k, v]) => `${k} ${formatNumber(v)}`)
            .join(', ');
          w(`${c.dim(`  ${pad(e.step)} │`)} ${c.cyan(`${formatNumber(p.current)}/${formatNumber(p.total)}${p.unit ? ` ${p.unit}` : ''}`)}${values ? ` ${c.dim(values)}` : ''}`);
          break;
        }
        case 'step-log':
          if (opts.logs !== false && !e.detail) w(`${c.dim(`  ${pad(e.step)} │`)} ${e.line}`);
          break;
        case 'step-done':
          w(`${c.green('✓')} ${pad(e.step)} ${c.green('done')} in ${formatDuration(e.durationMs)}`);
          fromMetrics(e.step, e.metrics);
          break;
        case 'step-failed':
          w(`${c.red('✗')} ${pad(e.step)} ${c.red('failed')}: ${e.error}${e.logPath ? c.dim(` (log: ${e.logPath})`) : ''}`);
          break;
        case 'step-cancelled':
          w(`${c.yellow('■')} ${pad(e.step)} ${c.yellow('cancelled')}`);
          break;
        case 'step-skipped':
          w(`${c.dim('-')} ${pad(e.step)} ${c.dim(`skipped: ${e.reason}`)}`);
          break;
        case 'step-summary':
          tables.set(e.step, { title: e.table.title, lines: summaryLines(e.table) });
          break;
        case 'step-state':
          w(`${c.dim(`  ${pad(e.step)} │`)} ${c.dim(`${e.executor}${e.jobId ? ` job ${e.jobId}` : ''}: ${e.state}${e.detail ? ` (${e.detail})` : ''}`)}`);
          break;
        case 'error':
          break; // printed on stderr by the CLI
        case 'warning':
          w(c.yellow(`warning: ${e.step ? `${e.step}: ` : ''}${e.message}`));
          break;
        case 'run-end': {
          const n = e.counts;
          const parts = [`${n.done} ran`, `${n.cached} cached`];
          if (n.failed) parts.push(`${n.failed} failed`);
          if (n.skipped) parts.push(`${n.skipped} skipped`);
          if (n.cancelled) parts.push(`${n.cancelled} cancelled`);
          const colour = e.status === 'done' ? c.green : e.status === 'failed' ? c.red : c.yellow;
          for (const [step, table] of tables) {
            w('');
            w(c.bold(`${labels.get(step) ?? step}: ${table.title}`));
            for (const line of table.lines) w(`  ${line}`);
          }
          w(colour(`run ${e.status} in ${formatDuration(e.durationMs)}: ${parts.join(', ')}${e.savedMs ? `; cache saved ${formatDuration(e.savedMs)}` : ''}`));
          break;
        }
        default:
          break;
      }
    },
    close: () => Promise.resolve(),
  };
}
