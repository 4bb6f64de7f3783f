// Executes one step: a fresh work dir, a log file, the step type's run(), then
// an atomic commit of its outputs into the content store. A failure or a
// cancel leaves no cache entry; the work dir stays for inspection until gc.

import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { getPath, setPath, type Fingerprint } from '../cache/key.js';
import { resolveValue, resolveWith } from '../recipe/interpolate.js';
import { MissingOutputError, type Entry } from '../cache/store.js';
import { withValidator } from '../recipe/check.js';
import type { Recipe } from '../recipe/types.js';
import type { EngineEvent } from '../events.js';
import type { StepRunContext } from '../steps/types.js';
import type { PlannedStep } from './plan.js';
import type { Workspace } from './workspace.js';
import { StepLog } from './log-file.js';
import { failpoint } from '../cache/failpoint.js';

export interface ExecuteArgs {
  ws: Workspace;
  recipe: Recipe;
  runId: string;
  step: PlannedStep;
  key: string;
  fingerprint: Fingerprint;
  reasons: string[];
  gpus: number[];
  machineGpus: number;
  /** Absolute path of an upstream output (its committed entry). */
  outputPath(step: string, output: string): string;
  /** The committed entries of the steps this one reads, checked again after it ran. */
  upstream: Entry[];
  signal: AbortSignal;
  emit(e: EngineEvent): void;
}

export type ExecuteResult =
  | { status: 'done'; entry: Entry; outputs: Record<string, string> }
  | { status: 'failed' | 'cancelled' };

export async function executeStep(a: ExecuteArgs): Promise<ExecuteResult> {
  const { ws, recipe, step, runId } = a;
  const def = step.prepared.def;
  const type = step.prepared.type;
  const execId = randomUUID();
  const workDir = ws.store.newExecDir(execId);
  const logPath = ws.store.logPath(execId);
  await mkdir(workDir, { recursive: true });
  await mkdir(dirname(logPath), { recursive: true });
  const log = new StepLog(logPath);
  const started = Date.now();
  const now = () => Date.now();

  const outputs = Object.fromEntries(Object.entries(step.prepared.outputs).map(([n, rel]) => [n, join(workDir, rel)]));
  const resolveRef = (v: unknown) => resolveValue(recipe, v, a.outputPath);

  let w: Record<string, unknown>;
  if (def.run !== undefined) {
    w = { command: resolveRef(def.run) };
  } else {
    w = resolveWith(recipe, def, a.outputPath);
    for (const field of type.inputs) {
      const v = getPath(w, field);
      if (typeof v === 'string' && v !== '') setPath(w, field, resolve(recipe.dir, v));
    }
    withValidator(type)(w); // applies schema defaults
  }

  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  for (const [k, v] of Object.entries(def.env)) env[k] = String(resolveRef(v));
  for (const [n, p] of Object.entries(outputs)) env[`FLOW_OUTPUT_${n.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = p;
  Object.assign(env, {
    FLOW_STEP_ID: def.id,
    FLOW_STEP_KEY: a.key,
    FLOW_RUN_ID: runId,
    FLOW_CACHE_DIR: ws.cacheDir,
    FLOW_RECIPE_DIR: recipe.dir,
  });
  // Python steps read the recipe's `python:` settings from here (run() sees no recipe).
  if (recipe.python?.extras?.length) env.FLOW_PYTHON_EXTRAS = recipe.python.extras.join(',');
  const py = recipe.python?.interpreter;
  if (py) env.FLOW_PYTHON = py.includes('/') ? resolve(recipe.dir, py) : py;
  // On a GPU machine a step gets exactly the GPUs it was handed; on a CPU machine nothing changes.
  if (a.machineGpus > 0) env.CUDA_VISIBLE_DEVICES = a.gpus.join(',');

  ws.records.startExecution({
    id: execId,
    runId,
    stepId: def.id,
    stepType: type.name,
    variant: def.variant,
    key: a.key,
    logPath,
    fingerprint: a.fingerprint,
    gpus: a.gpus,
  });
  a.emit({ type: 'step-start', runId, step: def.id, key: a.key, execId, reasons: a.reasons, gpus: a.gpus, logPath, time: now() });

  const lastValue = new Map<string, number>();
  const longLine = { stdout: 0, stderr: 0 };
  const ctx: StepRunContext = {
    stepId: def.id,
    workDir,
    with: w,
    outputs,
    signal: a.signal,
    gpus: a.gpus,
    env,
    root: ws.root,
    log(line, stream = 'stdout', partial = false) {
      log.write(line, partial);
      // Reporters see the first piece of an over-long line and a note at its end, not the flood.
      const piece = longLine[stream];
      longLine[stream] = partial ? piece + line.length : 0;
      if (piece === 0) a.emit({ type: 'step-log', runId, step: def.id, stream, line, time: now() });
      else if (!partial) a.emit({ type: 'step-log', runId, step: def.id, stream, line: `[… a line of ${piece + line.length} characters; whole in the log]`, time: now() });
    },
    progress(p) {
      // A series point is kept when its value moves: trainers repeat the last logged loss on every step.
      for (const [name, value] of Object.entries(p.values ?? {})) {
        if (!Number.isFinite(value) || lastValue.get(name) === value) continue;
        lastValue.set(name, value);
        ws.records.addMetric(execId, name, value, p.current);
      }
      a.emit({ type: 'step-progress', runId, step: def.id, progress: p, time: now() });
    },
    metric(name, value) {
      ws.records.addMetric(execId, name, value, null);
      a.emit({ type: 'step-metric', runId, step: def.id, name, value, time: now() });
    },
    artifact(name, path) {
      a.emit({ type: 'step-artifact', runId, step: def.id, name, path, time: now() });
    },
  };

  try {
    try {
      await type.run(ctx);
    } finally {
      await checkInputs(ws, a.upstream);
    }
    if (a.signal.aborted) throw new Error('cancelled');
    const durationMs = Date.now() - started;
    let metrics: unknown;
    if ('metrics' in outputs) {
      try {
        metrics = JSON.parse(await readFile(outputs.metrics!, 'utf8'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`output metrics is not valid JSON: ${(e as Error).message}`);
      }
    }
    const entry = await ws.store.commit(a.key, def.id, execId, workDir, step.prepared.outputs, durationMs, { replace: step.forced });
    failpoint('execute:committed');
    const paths = ws.store.outputPaths(entry);
    ws.records.finishExecution(execId, { status: 'done', durationMs, outputs: paths, metrics });
    log.close();
    await rm(workDir, { recursive: true, force: true });
    a.emit({ type: 'step-done', runId, step: def.id, key: a.key, durationMs, outputs: paths, metrics: metrics as Record<string, unknown> | undefined, time: now() });
    return { status: 'done', entry, outputs: paths };
  } catch (e) {
    const durationMs = Date.now() - started;
    log.close();
    if (a.signal.aborted) {
      ws.records.finishExecution(execId, { status: 'cancelled', durationMs, error: 'cancelled' });
      a.emit({ type: 'step-cancelled', runId, step: def.id, time: now() });
      return { status: 'cancelled' };
    }
    const err = e as Error & { exitCode?: number | null };
    const message = e instanceof MissingOutputError || err.name === 'StepError' ? err.message : (err.stack ?? String(e));
    ws.records.finishExecution(execId, { status: 'failed', durationMs, exitCode: err.exitCode ?? null, error: message });
    a.emit({ type: 'step-failed', runId, step: def.id, durationMs, exitCode: err.exitCode ?? null, error: message.split('\n')[0]!, logPath, time: now() });
    return { status: 'failed' };
  }
}

/**
 * A step must not change what it was given: its upstream entries are stat-checked again
 * after it ran. A damaged one is invalidated (and its objects quarantined) by the store,
 * and this step fails, so nothing built on altered bytes is committed.
 */
async function checkInputs(ws: Workspace, upstream: Entry[]): Promise<void> {
  for (const e of upstream) {
    const r = await ws.store.inspect(e.key);
    if (r.damaged) throw new InputModifiedError(`modified its input in place (${e.stepId}): ${r.damaged.replace(/^cached result damaged: /, '')}; the upstream result was invalidated and re-runs next time`);
  }
}

class InputModifiedError extends Error {
  override name = 'StepError';
}

