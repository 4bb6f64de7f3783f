// Logging a run to the recipe's trackers (`report_to:`): after `flow run`, and again on demand with
// `flow track [RUN]` (a tracker that was down, or named after the run). The figures come from
// flow's records (src/experiments/trackers.ts) and are sent by python-steps/flow_trackers.py in
// the recipe's Python environment: TensorBoard's, MLflow's and W&B's writers are Python libraries
// (the ones the Trainer's callbacks use), and a TypeScript copy of any of their wire formats
// would be a second, unmaintained implementation. A failure to log is a warning, never a failed run.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trackerPayload } from '../experiments/trackers.js';
import { runProcess } from '../proc/process-group.js';
import { ensurePythonEnv } from '../python/env.js';
import { loadRecipe } from '../recipe/load.js';
import type { Recipe } from '../recipe/types.js';
import { stepSettings, withTrackerDefaults } from '../scheduler/plan.js';
import { cacheDirFrom, openWorkspace, type Workspace } from '../scheduler/workspace.js';
import { ExperimentError, findRun, latestFinishedRun } from '../experiments/records.js';

/** Logs a run to the recipe's trackers; returns how many logs failed (each said as a warning on stderr). */
export async function logRunToTrackers(ws: Workspace, recipe: Recipe, runId: string, warn: (line: string) => void): Promise<number> {
  if (!recipe.reportTo) return 0;
  try {
    const payload = trackerPayload(ws.db, runId, withTrackerDefaults(recipe.reportTo, ws.cacheDir), ws.store.layout.reports);
    mkdirSync(ws.store.layout.trackers, { recursive: true });
    const file = ws.store.layout.trackerPayload(runId);
    writeFileSync(file, JSON.stringify(payload, null, 2));
    const settings = stepSettings(recipe, ws);
    const { python } = await ensurePythonEnv({
      root: ws.root, cacheDir: ws.cacheDir, envsDir: settings.envsDir, extras: settings.python.extras,
      interpreter: settings.python.interpreter, log: () => {},
    });
    let failed = 0;
    const r = await runProcess({
      file: python, args: ['-m', 'flow_trackers', file], cwd: join(ws.root, 'python-steps'),
      env: { ...process.env as Record<string, string>, PYTHONPATH: join(ws.root, 'python-steps'), PYTHONUNBUFFERED: '1' },
      signal: new AbortController().signal,
      onLine: (line, stream) => {
        if (stream === 'stderr' && line.startsWith('warning: ')) {
          failed++;
          warn(line.slice('warning: '.length));
        }
      },
    });
    if (r.exitCode !== 0 && r.exitCode !== 3) {
      warn(`trackers: the logger (${python} -m flow_trackers) exited with ${r.exitCode ?? r.signal}; replay with: flow track ${runId}`);
      return failed + 1;
    }
    return failed;
  } catch (e) {
    warn(`trackers: ${(e as Error).message.split('\n')[0]}; replay with: flow track ${runId}`);
    return 1;
  }
}

/** `flow track [RUN]`: logs a recorded run (default: the newest finished) to its recipe's trackers again. */
export async function cmdTrack(run: string | undefined, o: { cacheDir?: string }): Promise<number> {
  const ws = openWorkspace(cacheDirFrom(o.cacheDir));
  try {
    let rec;
    try {
      rec = run ? findRun(ws.db, run) : latestFinishedRun(ws.db).run;
    } catch (e) {
      if (!(e instanceof ExperimentError)) throw e;
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    const recipe = loadRecipe(rec.recipe);
    if (!recipe.reportTo) {
      process.stderr.write(`error: ${rec.recipe} names no trackers (report_to:)\n`);
      return 2;
    }
    const failed = await logRunToTrackers(ws, recipe, rec.id, (l) => process.stderr.write(`warning: ${l}\n`));
    if (!failed) process.stdout.write(`logged ${rec.id} to ${Object.keys(recipe.reportTo).join(', ')}\n`);
    return failed ? 1 : 0;
  } finally {
    ws.close();
  }
}
