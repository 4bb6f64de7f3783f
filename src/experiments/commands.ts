// CLI entry points for `flow compare`, `flow metrics diff`, `flow plot` and
// `flow report`. Each parses its own flags and returns an exit code:
// 0 ok, 1 nothing to show (unknown run, no metrics recorded), 2 usage error.

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DB } from '../store/db.js';
import { COMPARE_FORMATS, COMPARE_METRICS, type CompareFormat, type CompareMetric, compare, formatCompare } from './compare.js';
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

class UsageError extends Error {}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** Runs a command body, turning user errors into one line on stderr and an exit code. */
async function guarded(ctx: CmdContext, usage: string, body: () => Promise<void> | void): Promise<number> {
  const stderr = ctx.stderr ?? process.stderr;
  try {
    await body();
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // parseArgs explains at length; its first sentence is the useful one.
      const message = (err as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '');
      stderr.write(`${ctx.errorPrefix ?? 'flow:'} ${message} (usage: ${usage})\n`);
      return 2;
    }
    if (err instanceof RefusedError) {
      stderr.write(`${ctx.errorPrefix ?? 'flow:'} ${err.message}\n`);
      return 2;
    }
    if (err instanceof ExperimentError) {
      stderr.write(`${ctx.errorPrefix ?? 'flow:'} ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** Every flag of these commands takes a string value. */
function parse(argv: string[], options: Options): { values: Record<string, string | undefined>; positionals: string[] } {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  return { values: values as Record<string, string | undefined>, positionals };
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')} (got '${value}')`);
  }
  return value as T;
}

const COMPARE_USAGE =
  'flow compare [RUN...] [--recipe NAME] [--metric ex|em|rouge] [--format text|md|csv|json] [--items] [--ignore-provenance]';

/**
 * The table, then (text, md) what the details add: params, loss, duration, the paired
 * statistics and provenance; or, with --items, the items on which the two rows disagree.
 */
export function cmdCompare(argv: string[], ctx: CmdContext): Promise<number> {
  return guarded(ctx, COMPARE_USAGE, () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        recipe: { type: 'string', short: 'r' },
        metric: { type: 'string', short: 'm' },
        format: { type: 'string', short: 'f' },
        items: { type: 'boolean' },
        'ignore-provenance': { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.recipe && positionals.length) throw new UsageError('give run ids or --recipe, not both');
    const metric = oneOf<CompareMetric>('metric', values.metric, COMPARE_METRICS, 'ex');
    const format = oneOf<CompareFormat>('format', values.format, COMPARE_FORMATS, 'text');
    if (values.items && format !== 'text' && format !== 'md') throw new UsageError('--items prints text or md');
    const table = compare(ctx.db, { runs: positionals, recipe: values.recipe, metric });
    // Provenance is checked first, whatever is shown: numbers measured differently are refused (exit 2).
    const details = compareDetails(ctx.db, table, { ignoreProvenance: values['ignore-provenance'] });
    const warning = format === 'text' || format === 'md' ? provenanceWarning(details, format) : '';
    if (values.items) {
      ctx.stdout.write(warning + formatDisagreements(disagreements(ctx.db, table), format as 'text' | 'md'));
      return;
    }
    if (format === 'json') ctx.stdout.write(JSON.stringify({ ...table, details }, null, 2) + '\n');
    else if (format === 'csv') ctx.stdout.write(formatCompare(table, format));
    else ctx.stdout.write(warning + formatCompare(table, format) + formatDetails(table, details, format));
  });
}

const DIFF_USAGE = 'flow metrics diff RUN_A RUN_B [--all] [--metric PREFIX] [--format text|md|csv|json]';

/** argv: what follows `flow metrics diff`. The rows that changed; --all for every metric. */
export function cmdMetricsDiff(argv: string[], ctx: CmdContext): Promise<number> {
  return guarded(ctx, DIFF_USAGE, () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { metric: { type: 'string', short: 'm' }, format: { type: 'string', short: 'f' }, all: { type: 'boolean', short: 'a' } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 2) throw new UsageError(`expected two run ids, got ${positionals.length}`);
    const format = oneOf('format', values.format, COMPARE_FORMATS, 'text');
    const diff = metricsDiff(ctx.db, positionals[0]!, positionals[1]!, values.metric, !values.all);
    if (diff.compared === 0) throw new ExperimentError(values.metric ? `neither run recorded a '${values.metric}' metric` : 'neither run recorded any metrics');
    if (diff.rows.length === 0 && format === 'text') {
      ctx.stdout.write(`no metric changed between ${diff.runA} and ${diff.runB} (${diff.compared} compared; --all lists them)\n`);
      return;
    }
    ctx.stdout.write(formatDiff(diff, format));
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

const PLOT_USAGE = 'flow plot [RUN | compare [RUN...] [--recipe NAME] [--metric ex|em|rouge]] [--out DIR]';

export function cmdPlot(argv: string[], ctx: CmdContext): Promise<number> {
  return guarded(ctx, PLOT_USAGE, async () => {
    const { values, positionals } = parse(argv, {
      recipe: { type: 'string', short: 'r' },
      metric: { type: 'string', short: 'm' },
      out: { type: 'string', short: 'o' },
    });
    // Charting pulls in Vega and resvg: loaded only by the commands that draw, so `flow compare` starts fast.
    const { plotRun } = await import('./plot.js');
    let files: string[];
    if (positionals[0] === 'compare') {
      const metric = oneOf<CompareMetric>('metric', values.metric, COMPARE_METRICS, 'ex');
      const table = compare(ctx.db, { runs: positionals.slice(1), recipe: values.recipe, metric });
      const out = values.out ?? join(reportsDir(ctx), 'compare');
      files = await plotRun(ctx.db, table, out);
    } else {
      if (positionals.length > 1) throw new UsageError('expected one run id');
      if (values.recipe || values.metric) throw new UsageError('--recipe and --metric go with `flow plot compare`');
      const run = runOrLatestFinished(ctx, positionals[0], 'plotting').id;
      files = await plotRun(ctx.db, run, values.out ?? join(reportsDir(ctx), run));
    }
    ctx.stdout.write(files.map((f) => `${f}\n`).join(''));
  });
}

const REPORT_USAGE = 'flow report [RUN] [--out DIR] | flow report --compare RUN_A RUN_B [RUN...] [--out DIR] [--ignore-provenance]';

export function cmdReport(argv: string[], ctx: CmdContext): Promise<number> {
  return guarded(ctx, REPORT_USAGE, async () => {
    const { values, positionals } = parse(argv, {
      out: { type: 'string', short: 'o' },
      compare: { type: 'boolean' },
      'ignore-provenance': { type: 'boolean' },
    });
    if (values['ignore-provenance'] && !values.compare) throw new UsageError('--ignore-provenance goes with --compare');
    if (values.compare) {
      if (positionals.length < 2) throw new UsageError('--compare expects two or more run ids');
      const { compareReport } = await import('./report.js');
      const files = await compareReport(ctx.db, positionals, values.out, ctx.cacheDir, { ignoreProvenance: !!values['ignore-provenance'] });
      ctx.stdout.write(`${files.html}\n${files.md}\n`);
      return;
    }
    if (positionals.length > 1) throw new UsageError('expected one run id (or --compare A B)');
    const run = runOrLatestFinished(ctx, positionals[0], 'reporting').id;
    const { report } = await import('./report.js');
    const files = await report(ctx.db, run, values.out ?? join(reportsDir(ctx), run));
    ctx.stdout.write(`${files.html}\n${files.md}\n`);
  });
}
