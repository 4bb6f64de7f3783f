// `uses: sql-eval`: scores predicted SQL against Spider gold the way the
// official test-suite evaluator does (or with its plain bugs fixed, compat: strict),
// or, with `benchmark: bird`, against BIRD questions as bird-bench's evaluation scripts do.
import { writeAtomic } from './write-atomic.js';
import { createRequire } from 'node:module';
import type { SummaryTable } from '../../src/events.js';
import type { StepRunContext, StepType } from '../../src/steps/types.js';
import { BIRD_LEVELS, type BirdMetrics, evaluateBird, renderBirdReport } from './bird-evaluate.js';
import { evaluate, type Compat, type Etype } from './evaluate.js';
import { ALL_LEVELS, renderReport, type Metrics } from './metrics.js';
import { POOL_SCHEMA, poolOptions } from './pool-options.js';
import { provenance, sqliteFilesDigest } from './provenance.js';

const step: StepType = {
  name: 'sql-eval',
  description: 'Execution accuracy and exact set match of predicted SQL on Spider-format data, per hardness level; or BIRD\'s EX, Soft-F1 and R-VES per difficulty (benchmark: bird)',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['predictions', 'gold', 'db_dir'],
    // Spider's exact match parses against tables.json; BIRD scores by execution alone.
    if: { properties: { benchmark: { const: 'bird' } }, required: ['benchmark'] },
    then: {},
    else: { required: ['tables'] },
    properties: {
      benchmark: { enum: ['spider', 'bird'], default: 'spider', description: 'spider (the test-suite evaluator) or bird (bird-bench/mini_dev evaluation/: EX, Soft-F1, R-VES by difficulty)' },
      ves_runs: { type: 'integer', minimum: 0, default: 100, description: 'bird: timed runs of prediction and gold per correct item for R-VES (the official 100); 0 = no R-VES' },
      predictions: { type: 'string', description: 'One SQL per line, or JSONL with an "sql" field; bird: also the official {"0": "SQL\\t----- bird -----\\tdb_id"} dict' },
      gold: { type: 'string', description: 'Gold file, "SQL<TAB>db_id" per line; bird: BIRD\'s dev.json (question, evidence, SQL, db_id, difficulty)' },
      db_dir: { type: 'string', description: 'Folder holding <db_id>/<db_id>.sqlite' },
      tables: { type: 'string', description: "Spider's tables.json" },
      questions: {
        type: 'string',
        description: 'Optional: the question of each gold item, in gold order (spider-sft\'s dev output, or Spider\'s dev.json); recorded in results.jsonl and shown in reports',
      },
      etype: { enum: ['all', 'exec', 'match'], default: 'all' },
      plug_value: { type: 'boolean', default: false },
      keep_distinct: { type: 'boolean', default: false },
      compat: { enum: ['test-suite', 'strict'], default: 'test-suite' },
      ...POOL_SCHEMA,
    },
  },
  outputs: {
    metrics: 'metrics.json',
    results: 'results.jsonl',
    report: 'report.md',
    chart: 'accuracy-by-hardness.svg',
    chart_png: 'accuracy-by-hardness.png',
  },
  inputs: ['predictions', 'gold', 'db_dir', 'tables', 'questions'],
  // ex and em are by hardness ({all, easy, ...}): `select:` reads their `all`.
  metrics: ['ex', 'em', 'errors', 'string_match'],
  // A cached evaluation shows the table its run published.
  summarize: (m) => (m.benchmark === 'bird' ? birdSummaryTable(m as unknown as BirdMetrics) : summaryTable(m as unknown as Metrics)),
  // Execution results depend on the SQLite library that runs the queries, not only on this code.
  async runtime() {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(':memory:');
    try {
      const { v } = db.prepare('SELECT sqlite_version() AS v').get() as { v: string };
      const pkg = createRequire(import.meta.url)('better-sqlite3/package.json') as { version: string };
      return { sqlite: `${v} (better-sqlite3 ${pkg.version})` };
    } finally {
      db.close();
    }
  },
  sources: ['steps/sql-eval', 'src/charts/bars.ts', 'src/charts/png.ts'],
  async run(ctx) {
    const w = ctx.with;
    if (w.benchmark === 'bird') return runBird(ctx);
    // The bar chart of EX/EM by hardness is drawn by the same code as `flow plot`; loaded here, so
    // that a plan that only looks at this step never loads resvg, and now, so that loading it (the
    // native module, its libc probe) happens while the workers score rather than after them.
    const charts = import('../../src/charts/bars.js');
    charts.catch(() => {}); // awaited below; an evaluation that fails first leaves it unobserved
    const pool = poolOptions(w, ctx);
    const { metrics, items, databases, missingPredictions } = await evaluate({
      ...pool,
      predictions: w.predictions as string,
      gold: w.gold as string,
      dbDir: w.db_dir as string,
      tables: w.tables as string,
      questions: w.questions as string | undefined,
      etype: (w.etype as Etype | undefined) ?? 'all',
      plugValue: (w.plug_value as boolean | undefined) ?? false,
      keepDistinct: (w.keep_distinct as boolean | undefined) ?? false,
      compat: (w.compat as Compat | undefined) ?? 'test-suite',
    });
    ctx.signal.throwIfAborted();
    const missingDb = items.filter((it) => it.missing_db).length;
    metrics.provenance = provenance({
      mode: metrics.compat as Compat,
      etype: metrics.etype as Etype,
      // The engine digested the folder for the step key (cached by file state): no second read.
      dbDigest: ctx.inputDigests?.db_dir ?? sqliteFilesDigest(w.db_dir as string, databases),
      use: databases,
      gold: w.gold as string,
      goldItems: items.length,
      flags: {
        plug_value: metrics.plug_value,
        keep_distinct: metrics.keep_distinct,
        timeout_s: pool.timeoutS,
        max_rows: pool.maxRows,
      },
      scored: items.length - missingDb,
      missingDb,
      missingPredictions,
    });
    // `groups`: what a generic comparison breaks its figures down by (flow compare reads it
    // without knowing what Spider's hardness is).
    const lines = items.map(({ partial: _p, ...it }) => JSON.stringify({ ...it, groups: { hardness: it.hardness } }));
    writeAtomic(ctx.outputs.results!, lines.join('\n') + '\n');
    writeAtomic(ctx.outputs.report!, renderReport(metrics));
    const { hardnessBarsChart } = await charts;
    let chart;
    try {
      chart = hardnessBarsChart(metrics);
    } catch {
      chart = hardnessBarsChart({ ex: { all: 0 } });
    }
    writeAtomic(ctx.outputs.chart!, chart.svg);
    writeAtomic(ctx.outputs.chart_png!, chart.png);
    ctx.artifact('chart', ctx.outputs.chart_png!);
    writeAtomic(ctx.outputs.metrics!, JSON.stringify(metrics, null, 2) + '\n');
    ctx.summary?.(summaryTable(metrics));
    if (metrics.ex) ctx.metric('ex', metrics.ex.all);
    if (metrics.em) ctx.metric('em', metrics.em.all);
  },
};

async function runBird(ctx: StepRunContext): Promise<void> {
  const w = ctx.with;
  const { metrics, items } = await evaluateBird({
    ...poolOptions(w, ctx),
    predictions: w.predictions as string,
    gold: w.gold as string,
    dbDir: w.db_dir as string,
    runs: (w.ves_runs as number | undefined) ?? 100,
  });
  ctx.signal.throwIfAborted();
  writeAtomic(ctx.outputs.results!, items.map((it) => JSON.stringify(it)).join('\n') + '\n');
  writeAtomic(ctx.outputs.report!, renderBirdReport(metrics));
  const { hardnessBarsChart } = await import('../../src/charts/bars.js');
  const chart = hardnessBarsChart({ count: metrics.count, ex: metrics.ex });
  writeAtomic(ctx.outputs.chart!, chart.svg);
  writeAtomic(ctx.outputs.chart_png!, chart.png);
  ctx.artifact('chart', ctx.outputs.chart_png!);
  writeAtomic(ctx.outputs.metrics!, JSON.stringify(metrics, null, 2) + '\n');
  ctx.summary?.(birdSummaryTable(metrics));
  ctx.metric('ex', metrics.ex.all);
  ctx.metric('soft_f1', metrics.soft_f1.all);
  if (metrics.r_ves) ctx.metric('r_ves', metrics.r_ves.all);
}

/** EX, Soft-F1 and R-VES by BIRD difficulty, as a table reporters show without knowing BIRD. */
function birdSummaryTable(metrics: BirdMetrics): SummaryTable {
  const rows: SummaryTable['rows'] = { count: { ...metrics.count }, ex: { ...metrics.ex }, soft_f1: { ...metrics.soft_f1 } };
  if (metrics.r_ves) rows.r_ves = { ...metrics.r_ves };
  return { title: 'BIRD by difficulty', columns: [...BIRD_LEVELS], rows };
}

/** EX/EM by hardness level as a table reporters show without knowing Spider's levels. */
function summaryTable(metrics: Metrics): SummaryTable {
  const rows: SummaryTable['rows'] = {};
  for (const k of ['count', 'ex', 'em'] as const) {
    const per = metrics[k];
    if (per) rows[k] = Object.fromEntries(ALL_LEVELS.map((l) => [l, per[l] ?? null]));
  }
  return { title: 'accuracy by hardness', columns: [...ALL_LEVELS], rows };
}

export default step;
