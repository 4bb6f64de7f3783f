// Runs a planned recipe: steps start as soon as their upstream steps are
// done, at most --jobs at a time (p-queue), each holding the GPU ids it asked
// for. A step whose key is found in the store is reused, not run. Keys of
// steps below a re-run step are computed once it finishes, so a re-run that
// reproduces identical outputs leaves its dependents cached.

import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import PQueue from 'p-queue';
import { keyOf, type Fingerprint } from '../cache/key.js';
import type { Entry } from '../cache/store.js';
import type { EngineEvent, StepInfo } from '../events.js';
import { UsageError } from '../recipe/errors.js';
import { executeStep } from './execute.js';
import { GpuSlots, gpuIds } from './gpus.js';
import { makePlan, upstreamDigests, type Plan, type PlanOptions } from './plan.js';
import type { Workspace } from './workspace.js';

export interface RunOptions extends PlanOptions {
  jobs: number;
  gpus?: string;
  argv: string[];
  signal: AbortSignal;
  emit(e: EngineEvent): void;
}

export interface RunResult {
  runId: string;
  status: 'done' | 'failed' | 'cancelled';
}

type StepOutcome = { status: 'ok'; entry: Entry } | { status: 'failed' | 'cancelled' | 'skipped' };

export async function runRecipe(ws: Workspace, opts: RunOptions): Promise<RunResult> {
  const plan = await makePlan(ws, opts);
  return executePlan(ws, plan, opts);
}

function stepInfos(plan: Plan): StepInfo[] {
  return plan.involved.map((id) => {
    const s = plan.steps.get(id)!;
    const def = s.prepared.def;
    return { id, type: s.prepared.type.name, needs: [...plan.graph.deps.get(id)!], gpus: def.resources.gpus, variant: def.variant };
  });
}

export async function executePlan(ws: Workspace, plan: Plan, opts: RunOptions): Promise<RunResult> {
  const { recipe } = plan;
  const gpus = new GpuSlots(gpuIds(opts.gpus));
  for (const id of plan.involved) {
    const want = plan.steps.get(id)!.prepared.def.resources.gpus;
    if (gpus.total > 0 && want > gpus.total) {
      throw new UsageError(`step ${id} asks for ${want} GPUs but only ${gpus.total} are available (--gpus ${gpus.ids.join(',')})`);
    }
  }
  ws.records.markCrashedRuns();
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomUUID().slice(0, 6)}`;
  ws.records.createRun({ id: runId, recipe: recipe.file, name: recipe.name, params: recipe.params, argv: opts.argv });
  const started = Date.now();
  const emit = opts.emit;
  emit({ type: 'run-start', runId, recipe: recipe.file, name: recipe.name, steps: stepInfos(plan), time: started });
  emit({
    type: 'plan',
    runId,
    steps: plan.involved.map((id) => {
      const s = plan.steps.get(id)!;
      return { id, status: s.status, reasons: s.reasons, key: s.key };
    }),
    time: Date.now(),
  });
  if (gpus.total === 0) {
    for (const id of plan.involved) {
      const s = plan.steps.get(id)!;
      if (s.status === 'run' && s.prepared.def.resources.gpus > 0) {
        emit({ type: 'warning', runId, step: id, message: `no GPU found: ${id} asks for ${s.prepared.def.resources.gpus} and runs on the CPU`, time: Date.now() });
      }
    }
  }

  const queue = new PQueue({ concurrency: Math.max(1, opts.jobs) });
  const outcomes = new Map<string, Promise<StepOutcome>>();
  const counts = { done: 0, cached: 0, failed: 0, cancelled: 0, skipped: 0 };
  let savedMs = 0;
  const entries = new Map<string, Entry>();
  const outputPath = (step: string, output: string) => join(ws.store.entryDir(entries.get(step)!.key), entries.get(step)!.outputs[output]!.path);

  const cached = (id: string, entry: Entry, fingerprint: Fingerprint): StepOutcome => {
    const s = plan.steps.get(id)!;
    const paths = ws.store.outputPaths(entry);
    ws.store.touch(entry.key);
    const orig = ws.records.recordCached({
      id: randomUUID(),
      runId,
      stepId: id,
      stepType: s.prepared.type.name,
      variant: s.prepared.def.variant,
      key: entry.key,
      fingerprint,
      outputs: paths,
      originalExecId: entry.execId,
    });
    counts.cached++;
    savedMs += entry.durationMs;
    emit({ type: 'step-cached', runId, step: id, key: entry.key, savedMs: entry.durationMs, outputs: paths, metrics: orig.metrics as Record<string, unknown> | undefined, time: Date.now() });
    entries.set(id, entry);
    return { status: 'ok', entry };
  };

  const runStep = async (id: string): Promise<StepOutcome> => {
    const s = plan.steps.get(id)!;
    const depOutcomes = await Promise.all([...plan.graph.deps.get(id)!].map(async (d) => [d, await outcomes.get(d)!] as const));
    const bad = depOutcomes.find(([, o]) => o.status !== 'ok');
    if (bad || opts.signal.aborted) {
      const reason = bad ? `upstream ${bad[0]} ${bad[1].status}` : 'run cancelled';
      if (opts.signal.aborted) {
        counts.cancelled++;
        emit({ type: 'step-cancelled', runId, step: id, time: Date.now() });
        return { status: 'cancelled' };
      }
      counts.skipped++;
      emit({ type: 'step-skipped', runId, step: id, reason, time: Date.now() });
      return { status: 'skipped' };
    }
    const upstream = upstreamDigests(recipe, id, (d) => entries.get(d))!;
    const fingerprint = { ...s.local, upstream };
    const key = keyOf(fingerprint);
    if (!s.forced) {
      const hit = await ws.store.lookup(key);
      if (hit) return cached(id, hit, fingerprint);
    }
    if (!s.selected) throw new Error(`internal: unselected step ${id} has no cached result`);
    emit({ type: 'step-queued', runId, step: id, time: Date.now() });
    const want = s.prepared.def.resources.gpus;
    const held = gpus.total > 0 ? await gpus.acquire(want) : [];
    try {
      return await queue.add(async (): Promise<StepOutcome> => {
        if (opts.signal.aborted) {
          counts.cancelled++;
          emit({ type: 'step-cancelled', runId, step: id, time: Date.now() });
          return { status: 'cancelled' };
        }
        const lock = await ws.locks.acquire(key, opts.signal, (pid) =>
          emit({ type: 'warning', runId, step: id, message: `waiting: another flow process (pid ${pid}) is running ${id} with the same key`, time: Date.now() }),
        );
        try {
          // The other process may have committed it while we waited.
          if (!s.forced) {
            const hit = await ws.store.lookup(key);
            if (hit) return cached(id, hit, fingerprint);
          }
          const r = await executeStep({
            ws,
            recipe,
            runId,
            step: s,
            key,
            fingerprint,
            // Planned as cached but the key moved: an upstream step re-ran and changed its output.
            reasons: s.status === 'run' ? s.reasons : ['upstream output changed'],
            gpus: held,
            machineGpus: gpus.total,
            outputPath,
            upstream: [...plan.graph.deps.get(id)!].map((d) => entries.get(d)!),
            signal: opts.signal,
            emit,
          });
          if (r.status === 'done') {
            counts.done++;
            entries.set(id, r.entry);
            return { status: 'ok', entry: r.entry };
          }
          counts[r.status]++;
          return { status: r.status };
        } finally {
          lock.release();
        }
      });
    } finally {
      if (held.length) gpus.release(held);
    }
  };

  for (const id of plan.involved) outcomes.set(id, runStep(id));
  const settled = await Promise.allSettled([...outcomes.values()]);
  const crash = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  const status = opts.signal.aborted ? 'cancelled' : crash || counts.failed || counts.skipped ? 'failed' : 'done';
  await linkLatest(ws, recipe.name, entries);
  ws.records.finishRun(runId, status);
  emit({ type: 'run-end', runId, status, durationMs: Date.now() - started, savedMs, counts, time: Date.now() });
  if (crash) throw crash.reason;
  return { runId, status };
}

/**
 * <cache>/latest/<recipe>/<step> points at each step's result in this run, cache hits
 * included, for people looking for outputs. Relative links, so a moved cache stays valid;
 * made once at the end of the run rather than per step.
 */
async function linkLatest(ws: Workspace, recipeName: string, entries: Map<string, Entry>): Promise<void> {
  if (!entries.size) return;
  const dir = join(ws.cacheDir, 'latest', recipeName);
  await mkdir(dir, { recursive: true });
  for (const [stepId, entry] of entries) {
    const tmp = join(dir, `.${stepId}.${process.pid}.tmp`);
    await rm(tmp, { force: true });
    await symlink(relative(dir, ws.store.entryDir(entry.key)), tmp);
    await rename(tmp, join(dir, stepId));
  }
}
