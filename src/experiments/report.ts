// `flow report <run>`: a markdown report and the same report as one
// self-contained HTML file (charts embedded as data URIs), so it opens in a
// browser from disk or travels as an e-mail attachment.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { marked } from 'marked';
import type { DB } from '../store/db.js';
import { COMPARE_METRICS, type CompareTable, compare, formatCompare } from './compare.js';
import { type CompareDetails, RefusedError, compareDetails, disagreements } from './compare-details.js';
import { formatDetails, formatDisagreements, formatDuration, formatProvenance, provenanceWarning } from './compare-format.js';
import { type NamedChart, buildCharts } from './plot.js';
import { ExperimentError, type RunRecord, executionsOf, findRun, savedMsOf } from './records.js';
import { renderTable } from './table.js';
import { runSteps } from './run-steps.js';
import { WRONG_PER_HARDNESS, wrongPredictions } from './wrong.js';

export interface ReportFiles {
  html: string;
  md: string;
  /** Chart files written beside the markdown, which links to them. */
  charts: string[];
}

export async function report(db: DB, runId: string, outDir: string): Promise<ReportFiles> {
  const run = findRun(db, runId);
  const tables = COMPARE_METRICS.map((metric) => tryCompare(db, run.id, metric)).filter((t): t is CompareTable => !!t);
  const charts = await buildCharts(db, run.id);

  mkdirSync(outDir, { recursive: true });
  const chartFiles: string[] = [];
  for (const c of charts) {
    writeFileSync(join(outDir, `${c.name}.svg`), c.chart.svg);
    writeFileSync(join(outDir, `${c.name}.png`), c.chart.png);
    chartFiles.push(join(outDir, `${c.name}.svg`), join(outDir, `${c.name}.png`));
  }

  const md = reportMarkdown(db, run, tables, charts, (c) => `${c.name}.png`);
  const embedded = reportMarkdown(db, run, tables, charts, (c) => `data:image/svg+xml;base64,${Buffer.from(c.chart.svg).toString('base64')}`);
  const html = htmlPage(`${run.name}: run ${run.id}`, await marked.parse(embedded));
  const files = { md: join(outDir, 'report.md'), html: join(outDir, 'report.html'), charts: chartFiles };
  writeFileSync(files.md, md);
  writeFileSync(files.html, html);
  return files;
}

/**
 * `flow report --compare A B ...`: the runs side by side (EX/EM by hardness,
 * charts) in a folder of its own, named after the runs, so it never
 * overwrites a run's report or another comparison.
 */
export async function compareReport(
  db: DB,
  runIds: string[],
  outDir?: string,
  cacheDir = '.',
  opts: { ignoreProvenance?: boolean } = {},
): Promise<ReportFiles> {
  if (runIds.length < 2) throw new ExperimentError('--compare needs at least two runs');
  const runs = runIds.map((id) => findRun(db, id));
  const dir = outDir ?? join(cacheDir, 'reports', `compare-${runs.map((r) => r.id).join('-vs-')}`);
  const tables: CompareTable[] = [];
  for (const metric of COMPARE_METRICS) {
    try {
      tables.push(compare(db, { runs: runs.map((r) => r.id), metric }));
    } catch (err) {
      if (!(err instanceof ExperimentError)) throw err;
    }
  }
  if (tables.length === 0) throw new ExperimentError(`none of the runs ${runs.map((r) => r.id).join(', ')} recorded evaluation metrics to compare`);
  // Numbers measured differently are refused here as by `flow compare` (RefusedError, exit 2).
  const details = tables.map((t) => ({ table: t, details: compareDetails(db, t, opts) }));
  const charts: NamedChart[] = [];
  for (const t of tables) {
    for (const c of await buildCharts(db, t)) if (!charts.some((x) => x.name === c.name)) charts.push(c);
  }
  mkdirSync(dir, { recursive: true });
  const chartFiles: string[] = [];
  for (const c of charts) {
    writeFileSync(join(dir, `${c.name}.svg`), c.chart.svg);
    writeFileSync(join(dir, `${c.name}.png`), c.chart.png);
    chartFiles.push(join(dir, `${c.name}.svg`), join(dir, `${c.name}.png`));
  }
  const markdown = (imageSrc: (c: NamedChart) => string) => {
    const out = [`# Comparison: ${runs.map((r) => cell(r.id)).join(' vs ')}`, ''];
    out.push(
      renderTable(
        'md',
        ['run', 'recipe', 'status', 'started', 'duration'],
        runs.map((r) => [cell(r.id), cell(r.name), r.status, when(r.startedAt), r.endedAt === null ? 'still running' : formatDuration(r.endedAt - r.startedAt)]),
        'lllll',
      ),
    );
    out.push(...provenanceWarnings(details));
    tablesAndCharts(out, tables, charts, imageSrc);
    out.push(...comparisonSections(db, details));
    return out.join('\n');
  };
  const files = { md: join(dir, 'report.md'), html: join(dir, 'report.html'), charts: chartFiles };
  writeFileSync(files.md, markdown((c) => `${c.name}.png`));
  const embedded = markdown((c) => `data:image/svg+xml;base64,${Buffer.from(c.chart.svg).toString('base64')}`);
  writeFileSync(files.html, htmlPage(`comparison: ${runs.map((r) => r.id).join(' vs ')}`, await marked.parse(embedded)));
  return files;
}

/** The loud line of a comparison whose numbers were measured differently (--ignore-provenance). */
function provenanceWarnings(details: Array<{ table: CompareTable; details: CompareDetails }>): string[] {
  const first = details.find((d) => d.details.provenanceDiffers.length);
  return first ? [provenanceWarning(first.details, 'md')] : [];
}

/**
 * What `flow compare` prints beside its table, per metric with right/wrong items (EX, EM):
 * params, final loss, duration, the paired interval and p-value per group, seeds,
 * provenance, and, for two evaluations, the items on which they disagree.
 */
function comparisonSections(db: DB, details: Array<{ table: CompareTable; details: CompareDetails }>): string[] {
  const out: string[] = [];
  for (const { table, details: d } of details) {
    if (table.metric === 'rouge') continue;
    if (table.rows.length < 2) {
      // One evaluation: nothing to compare, but where its number comes from still belongs beside it.
      if (d.provenance) out.push(`## ${table.metric.toUpperCase()}: provenance`, '', formatProvenance(d, 'md'));
      continue;
    }
    out.push(`## ${table.metric.toUpperCase()}: how sure`, '', formatDetails(inertTable(table), d, 'md'));
    if (table.rows.length === 2 && d.pairs[0]?.groups.length) {
      out.push(`## ${table.metric.toUpperCase()}: items on which they disagree`, '', formatDisagreements(disagreements(db, table), 'md', ITEMS_SHOWN), '');
    }
  }
  return out;
}

/** Items shown per direction in a report's per-item view (flow compare --items lists them all). */
const ITEMS_SHOWN = 20;

function tryCompare(db: DB, runId: string, metric: (typeof COMPARE_METRICS)[number]): CompareTable | null {
  try {
    return compare(db, { runs: [runId], metric });
  } catch (err) {
    if (err instanceof ExperimentError) return null;
    throw err;
  }
}

function reportMarkdown(
  db: DB,
  run: RunRecord,
  tables: CompareTable[],
  charts: NamedChart[],
  imageSrc: (c: NamedChart) => string,
): string {
  const execs = executionsOf(db, run.id);
  const cached = execs.filter((e) => e.status === 'cached');
  const savedMs = cached.reduce((sum, e) => sum + savedMsOf(db, e), 0);
  const out: string[] = [`# ${cell(run.name)}: run ${cell(run.id)}`, ''];

  const summary: string[][] = [
    ['recipe', run.recipe],
    ['status', run.status],
    ['started', when(run.startedAt)],
    ['duration', run.endedAt === null ? 'still running' : formatDuration(run.endedAt - run.startedAt)],
    ['steps', `${execs.length} (${cached.length} from cache, saving ${formatDuration(savedMs)})`],
    ['command', `flow ${run.argv.join(' ')}`],
  ];
  out.push(renderTable('md', ['run', ''], summary.map(([k, v]) => [k!, cell(v!)]), 'll'));

  const params = Object.entries(run.params);
  if (params.length) {
    out.push('## Parameters', '');
    out.push(renderTable('md', ['param', 'value'], params.map(([k, v]) => [cell(k), cell(typeof v === 'string' ? v : JSON.stringify(v))]), 'll'));
  }

  // Steps that never started (skipped after a failure, or the run was cancelled) left no
  // execution: the recipe says which they were.
  const ran = new Set(execs.map((e) => e.stepId));
  const notRun = (runSteps(run.recipe, run.argv) ?? []).filter((s) => !ran.has(s.id));
  out.push('## Steps', '');
  out.push(
    renderTable(
      'md',
      ['step', 'type', 'status', 'duration', 'saved by cache'],
      [
        ...execs.map((e) => [
          cell(e.stepId),
          cell(e.stepType),
          e.status,
          e.durationMs === null ? '-' : formatDuration(e.durationMs),
          e.status === 'cached' ? formatDuration(savedMsOf(db, e)) : '',
        ]),
        ...notRun.map((s) => [cell(s.id), cell(s.type), 'not run', '-', '']),
      ],
      'lllrr',
    ),
  );

  tablesAndCharts(out, tables, charts, imageSrc);
  // A run's own variants side by side: its report is always written, so differing provenance is
  // marked, not refused, and a comparison flow cannot make is said in a line.
  try {
    const details = tables.map((t) => ({ table: t, details: compareDetails(db, t, { ignoreProvenance: true }) }));
    out.push(...provenanceWarnings(details), ...comparisonSections(db, details));
  } catch (err) {
    if (!(err instanceof RefusedError)) throw err;
    out.push(`No comparison of the variants: ${cell(err.message)}`, '');
  }

  out.push(...wrongPredictions(execs, WRONG_PER_HARDNESS));

  const failed = execs.filter((e) => e.status === 'failed' || e.status === 'crashed' || e.status === 'cancelled');
  if (failed.length || (run.status !== 'done' && notRun.length)) {
    out.push('## Failures', '');
    for (const e of failed) {
      const exit = e.exitCode !== null && e.exitCode !== 0 ? ` (exit ${e.exitCode})` : '';
      out.push(`- **${cell(e.stepId)}** ${e.status}${exit}: ${cell((e.error ?? e.status).split('\n')[0]!)}`);
      if (e.logPath) out.push(`  log: \`${e.logPath.replace(/`/g, "'")}\``);
    }
    for (const s of notRun) out.push(`- **${cell(s.id)}** not run: the run ${cell(run.status)} before it could start`);
    out.push('');
  }
  return out.join('\n');
}

/** Labels and column names come from recipes and metrics.json files: escape them like any user text. */
/** The metric tables (best per column in bold) and the charts: the same sections in a run's and a comparison's report. */
function tablesAndCharts(out: string[], tables: CompareTable[], charts: NamedChart[], imageSrc: (c: NamedChart) => string): void {
  for (const t of tables) {
    const what = t.metric === 'rouge' ? 'ROUGE' : `${t.metric.toUpperCase()} by hardness`;
    out.push(`## ${what}`, '', 'Best per column in bold.', '', formatCompare(inertTable(t), 'md'));
  }
  if (charts.length) {
    out.push('## Charts', '');
    for (const c of charts) out.push(`![${cell(c.title)}](${imageSrc(c)})`, '');
  }
}

function inertTable(t: CompareTable): CompareTable {
  const rekey = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [cell(k), v]));
  return {
    ...t,
    columns: t.columns.map(cell),
    best: rekey(t.best),
    rows: t.rows.map((r) => ({ ...r, label: cell(r.label), values: rekey(r.values) })),
  };
}

/** Text safe inside a markdown table cell, and inert once rendered to HTML. */
function cell(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function when(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${cell(title)}</title>
<style>
  body { font-family: system-ui, "DejaVu Sans", sans-serif; max-width: 1000px; margin: 2rem auto; padding: 0 1rem; color: #222; }
  table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
  th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; }
  th { background: #f4f4f4; }
  td { font-variant-numeric: tabular-nums; }
  img { width: 100%; height: auto; display: block; margin: 1rem 0; }
  td.sql { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85em; }
  code { background: #f4f4f4; padding: 0 0.2rem; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}
