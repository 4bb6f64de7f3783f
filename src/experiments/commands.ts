// The bodies of `flow compare`, `flow metrics diff`, `flow plot` and `flow report`,
// given options commander has parsed (src/cli/experiments.ts). Each returns an exit
// code: 0 ok, 1 nothing to show (unknown run, no metrics recorded), 2 usage error.

import { join } from 'node:path';
import { UsageError } from '../recipe/errors.js';
import type { DB } from '../store/db.js';
import { type CompareFormat, type CompareMetric, compare, formatCompare } from './compare.js';
import { RefusedError, compareDetails, disagreements } from './compare-details.js';
import { formatDetails, formatDisagreements, provenanceWarning } from './compare-format.js';
import { formatDiff, metricsDiff } from './metrics-diff.js';
import { ExperimentError, findRun, latestFinishedRun, type RunRecord } from './records.js';

interface Writable {
  write(s: string): unknown;
}

export interface CmdContext {
  db: DB;
  cacheDir: string;
  stdout: Writable;
  /** Defaults to process.stderr. */
  stderr?: Writable;
  /** Default output folder of plot/report/compare (the cache store's reports/); defaults to <cacheDir>/reports. */
  reportsDir?: string;
  /** What error lines start with: the CLI passes 'error:' like every other command; default 'flow:'. */
  errorPrefix?: string;
}

const reportsDir = (ctx: CmdContext) => ctx.reportsDir ?? join(ctx.cacheDir, 'reports');

/** Runs a command body, turning user errors into one line on stderr and an exit code. */
async function guarded(ctx: CmdContext, body: () => Promise<void> | void): Promise<number> {
  const say = (message: string) => (ctx.stderr ?? process.stderr).write(`${ctx.errorPrefix ?? 'flow:'} ${message}\n`);
  try {
    await body();
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof RefusedError) {
      say(err.message);
      return 2;
    }
    if (err instanceof ExperimentError) {
      say(err.message);
      return 1;
    }
    throw err;
  }
}

export interface CompareOptions {
  recipe?: string;
  metric: CompareMetric;
  format: CompareFormat;
  items?: boolean;
  ignoreProvenance?: boolean;
}

/**
 * The table, then (text, md) what the details add: params, loss, duration, the paired
 * statistics and provenance; or, with --items, the items on which the two rows disagree.
 */
export function compareCommand(runs: string[], o: CompareOptions, ctx: CmdContext): Promise<number> {
  return guarded(ctx, () => {
    if (o.recipe && runs.length) throw new UsageError('give run ids or --recipe, not both');
    const format = o.format;
    if (o.items && format !== 'text' && format !== 'md') throw new UsageError('--items prints text or md');
    const table = compare(ctx.db, { runs, recipe: o.recipe, metric: o.metric });
    // Provenance is checked first, whatever is shown: numbers measured differently are refused (exit 2).
    const details = compareDetails(ctx.db, table, { ignoreProvenance: o.ignoreProvenance });
    const warning = format === 'text' || format === 'md' ? provenanceWarning(details, format) : '';
    if (o.items) {
      ctx.stdout.write(warning + formatDisagreements(disagreements(ctx.db, table), format as 'text' | 'md'));
      return;
    }
    if (format === 'json') ctx.stdout.write(JSON.stringify({ ...table, details }, null, 2) + '\n');
    else if (format === 'csv') ctx.stdout.write(formatCompare(table, format));
    else ctx.stdout.write(warning + formatCompare(table, format) + formatDetails(table, details, format));
  });
}

export interface DiffOptions {
  metric?: string;
  format: CompareFormat;
  all?: boolean;
}

/** The rows that changed between two runs; --all for every metric. */
export function metricsDiffCommand(runA: string, runB: string, o: DiffOptions, ctx: CmdContext): Promise<number> {
  return guarded(ctx, () => {
    const diff = metricsDiff(ctx.db, runA, runB, o.metric, !o.all);
    if (diff.compared === 0) throw new ExperimentError(o.metric ? `neither run recorded a '${o.metric}' metric` : 'neither run recorded any metrics');
    if (diff.rows.length === 0 && o.format === 'text') {
      ctx.stdout.write(`no metric changed between ${diff.runA} and ${diff.runB} (${diff.compared} compared; --all lists them)\n`);
      return;
    }
    ctx.stdout.write(formatDiff(diff, o.format));
  });
}

/**
 * The run named, else the newest finished one, said on stderr (stdout keeps the
 * file paths for scripts) with the newer runs it passed over and why.
 */
function runOrLatestFinished(ctx: CmdContext, ref: string | undefined, doing: string): RunRecord {
  if (ref !== undefined) return findRun(ctx.db, ref);
  const { run, passedOver } = latestFinishedRun(ctx.db);
  const named = passedOver.slice(0, 3).map((r) => `${r.id} (${r.status})`);
  if (passedOver.length > 3) named.push(`${passedOver.length - 3} more`);
  const skipped = named.length ? `; passed over newer ${named.join(', ')}` : '';
  (ctx.stderr ?? process.stderr).write(`${doing} run ${run.id} (${run.name}), the newest finished run${skipped}\n`);
  return run;
}

export interface PlotOptions {
  recipe?: string;
  /** Undefined unless given: it goes with `flow plot compare` only. */
  metric?: CompareMetric;
  out?: string;
}

/** args: `[RUN]` or `compare [RUN...]`. */
export function plotCommand(args: string[], o: PlotOptions, ctx: CmdContext): Promise<number> {
  return guarded(ctx, async () => {
    // Charting pulls in Vega and resvg: loaded only by the commands that draw, so `flow compare` starts fast.
    const { plotRun } = await import('./plot.js');
    let files: string[];
    if (args[0] === 'compare') {
      const table = compare(ctx.db, { runs: args.slice(1), recipe: o.recipe, metric: o.metric ?? 'ex' });
      files = await plotRun(ctx.db, table, o.out ?? join(reportsDir(ctx), 'compare'));
    } else {
      if (args.length > 1) throw new UsageError('expected one run id');
      if (o.recipe || o.metric) throw new UsageError('--recipe and --metric go with `flow plot compare`');
      const run = runOrLatestFinished(ctx, args[0], 'plotting').id;
      files = await plotRun(ctx.db, run, o.out ?? join(reportsDir(ctx), run));
    }
    ctx.stdout.write(files.map((f) => `${f}\n`).join(''));
  });
}

export interface ReportOptions {
  out?: string;
  compare?: boolean;
  ignoreProvenance?: boolean;
}

export function reportCommand(runs: string[], o: ReportOptions, ctx: CmdContext): Promise<number> {
  return guarded(ctx, async () => {
    if (o.ignoreProvenance && !o.compare) throw new UsageError('--ignore-provenance goes with --compare');
    if (o.compare) {
      if (runs.length < 2) throw new UsageError('--compare expects two or more run ids');
      const { compareReport } = await import('./report.js');
      const files = await compareReport(ctx.db, runs, o.out, ctx.cacheDir, { ignoreProvenance: !!o.ignoreProvenance });
      ctx.stdout.write(`${files.html}\n${files.md}\n`);
      return;
    }
    if (runs.length > 1) throw new UsageError('expected one run id (or --compare A B)');
    const run = runOrLatestFinished(ctx, runs[0], 'reporting').id;
    const { report } = await import('./report.js');
    const files = await report(ctx.db, run, o.out ?? join(reportsDir(ctx), run));
    ctx.stdout.write(`${files.html}\n${files.md}\n`);
  });
}
