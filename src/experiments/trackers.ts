// What flow logs to a recipe's trackers (`report_to:`), built from its records of a run: the
// params, the recipe text, every figure each step recorded (a metric by group, e.g. sql-eval's
// ex.easy ... ex.all, as `<step>/<metric>/<group>`), at the training step of the checkpoint it
// scored (the `ckpt` of a per-checkpoint instance; 0 otherwise), and each training series
// (`flow/<step>/loss`, which is there for a cached training step too). From
// records, not from the live event stream, so `flow track RUN` replays exactly what a run logged
// (a tracker that was down, a server set up later). python-steps/flow_trackers.py sends it.
//
// One flow run is one tracker run; a sweep is one per matrix variant, grouped by the run id.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DB } from '../store/db.js';
import { CKPT_AXIS } from '../recipe/matrix.js';
import type { ReportTo } from '../recipe/types.js';
import { executionsOf, findRun, originalOf, type ExecRecord } from './records.js';


export interface TrackerScalar {
  tag: string;
  step: number;
  value: number;
}

export interface TrackerRun {
  /** `<run id>`, or `<run id>[axis=value,...]` for a variant of a sweep. */
  name: string;
  flow_run: string;
  recipe: string;
  params: Record<string, unknown>;
  recipe_text: string;
  scalars: TrackerScalar[];
  links: Record<string, string>;
}

export interface TrackerPayload {
  report_to: ReportTo;
  runs: TrackerRun[];
}

export function trackerPayload(db: DB, runId: string, reportTo: ReportTo, reportsDir: string): TrackerPayload {
  const run = findRun(db, runId);
  const execs = executionsOf(db, run.id).filter((e) => e.status === 'done' || e.status === 'cached');
  const matrixOf = (e: ExecRecord) => Object.fromEntries(Object.entries(e.variant ?? {}).filter(([k]) => k !== CKPT_AXIS));
  const variants = new Map<string, Record<string, unknown>>();
  for (const e of execs) {
    const v = matrixOf(e);
    if (Object.keys(v).length) variants.set(JSON.stringify(v), v);
  }
  if (!variants.size) variants.set('{}', {});
  const recipeText = existsSync(run.recipe) ? readFileSync(run.recipe, 'utf8') : '';
  const report = join(reportsDir, run.id, 'report.html');
  return {
    report_to: reportTo,
    runs: [...variants.values()].map((v) => {
      // A shared step (no variant) belongs to every variant's tracker run.
      const mine = execs.filter((e) => Object.entries(matrixOf(e)).every(([k, x]) => JSON.stringify(v[k]) === JSON.stringify(x)));
      const suffix = Object.entries(v).map(([k, x]) => `${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`).join(',');
      return {
        name: suffix ? `${run.id}[${suffix}]` : run.id,
        flow_run: run.id,
        recipe: run.name,
        params: { ...run.params, ...v },
        recipe_text: recipeText,
        // In training-step order: the per-checkpoint evaluations finish in any order, and a tracker
        // shows a tag's points in the order they were logged.
        scalars: mine.flatMap((e) => [...figures(e), ...series(db, e)]).sort((a, b) => a.step - b.step),
        links: { report: existsSync(report) ? report : `flow report ${run.id}`, flow_run: run.id },
      };
    }),
  };
}

/** A step's recorded metrics as scalars: numbers, and objects of numbers (a metric by group). */
function figures(e: ExecRecord): TrackerScalar[] {
  const ckpt = e.variant?.[CKPT_AXIS];
  const step = typeof ckpt === 'number' ? ckpt : 0;
  const out: TrackerScalar[] = [];
  for (const [k, v] of Object.entries(e.metrics ?? {})) {
    if (typeof v === 'number' && Number.isFinite(v)) out.push({ tag: `${e.baseId}/${k}`, step, value: v });
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [g, x] of Object.entries(v)) if (typeof x === 'number' && Number.isFinite(x)) out.push({ tag: `${e.baseId}/${k}/${g}`, step, value: x });
    }
  }
  return out;
}

/** The step's training series (loss by step, ...) as the engine recorded them. */
function series(db: DB, e: ExecRecord): TrackerScalar[] {
  // A cache hit recorded no series: the execution that made the result did.
  const source = e.status === 'cached' ? originalOf(db, e)?.id : e.id;
  if (!source) return [];
  const rows = db.prepare('SELECT name, step, value FROM metrics WHERE exec_id = ? AND step IS NOT NULL ORDER BY name, step, time').all(source) as Array<{ name: string; step: number; value: number }>;
  // Under flow/: the Trainer's own callback logs `train/loss` to the same tracker run.
  return rows.filter((r) => Number.isFinite(r.value)).map((r) => ({ tag: `flow/${e.baseId}/${r.name}`, step: r.step, value: r.value }));
}
