// Runs a planned recipe: steps start as soon as their upstream steps are
// done, at most --jobs at a time (p-queue), each holding the GPU ids it asked
// for. A slot is held from a step's start to its commit; taking the key's lock
// and making the work dir and log of up to as many more steps overlaps them.
// A step whose key is found in the store is reused, not run. Keys of steps
// below a re-run step are computed once it finishes, so a re-run that
// reproduces identical outputs leaves its dependents cached.

import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { keyOf, upstreamDigests, type Fingerprint } from '../cache/fingerprint.js';
import type { Entry } from '../cache/store.js';
import type { EngineEvent, StepInfo } from '../events.js';
import { UsageError } from '../recipe/errors.js';
import { CKPT_AXIS, variantId } from '../recipe/matrix.js';
import type { StepType } from '../steps/types.js';
import { executeStep, type RunContext } from './execute.js';
import { ExecutorPool } from './executors/index.js';
import { LOCAL } from './executors/local-machine.js';
import { stepCpus } from './cpus.js';
import { GpuSlots, gpuIds } from './gpus.js';
import { makePlan, stepSettings, type Plan, type PlanOptions, type PlannedStep } from './plan.js';
import type { StepRegistry } from '../steps/registry.js';
import { RunTally, type StepRun } from './step-run.js';
import type { Workspace } from './workspace.js';

export interface RunOptions {
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

/** Everything the steps of one run share. */
interface RunScope {
  ws: Workspace;
  plan: Plan;
  opts: RunOptions;
  tally: RunTally;
  gpus: GpuSlots;
  /** Steps between their lock and their commit: twice --jobs. */
  queue: PQueue;
  executors: ExecutorPool;
  outcomes: Map<string, Promise<StepOutcome>>;
  entries: Map<string, Entry>;
  /** latest/ links, made one after another as steps finish, off the steps' own path. */
  linking: Promise<unknown>;
  /** What executeStep needs of the run, the same for every step. */
  ctx: RunContext;
}

/** Plans and runs a recipe (the benchmarks' entry point; the CLI plans first to print a dry run). */
export async function runRecipe(ws: Workspace, registry: StepRegistry, opts: RunOptions & PlanOptions): Promise<RunResult> {
  return executePlan(ws, await makePlan(ws, registry, opts), opts);
}

/** The id a per-checkpoint instance's siblings share: its own without the checkpoint axis. */
function checkpointSeries(id: string, variant: Record<string, unknown>): string {
  const base = id.slice(0, id.indexOf('['));
  const rest = Object.fromEntries(Object.entries(variant).filter(([k]) => k !== CKPT_AXIS));
  return variantId(base, rest);
}

function stepInfos(plan: Plan): StepInfo[] {
  return plan.involved.map((id) => {
    const s = plan.steps.get(id)!;
    const def = s.prepared.def;
    const checkpoint = def.variant?.[CKPT_AXIS];
    return {
      id,
      type: s.prepared.type.name,
      needs: [...plan.graph.deps.get(id)!],
      gpus: def.resources.gpus,
      variant: def.variant,
      ...(typeof checkpoint === 'number' ? { checkpoint: { step: checkpoint, series: checkpointSeries(id, def.variant!) } } : {}),
    };
  });
}


/** Preflight of the executors the steps that will run use (e.g. sbatch on PATH), before anything starts.
 * Their names were checked by the plan. */
async function checkExecutors(plan: Plan, pool: ExecutorPool): Promise<void> {
  const checked = new Set<string>();
  for (const id of plan.involved) {
    const s = plan.steps.get(id)!;
    if (s.status !== 'run' || checked.has(s.executor.type)) continue;
    checked.add(s.executor.type);
    const problems = (await pool.get(s.executor).check?.()) ?? [];
    if (problems.length) throw new UsageError(`executor ${s.executor.type}: ${problems[0]}`);
  }
}

/** Steps whose processes run here, the only ones that hold this machine's GPU ids. */
function local(s: PlannedStep): boolean {
  return s.executor.type === LOCAL;
}

function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomUUID().slice(0, 6)}`;
}

function announce(scope: RunScope, started: number): void {
  const { plan, tally } = scope;
  const { runId, emit } = tally;
  emit({ type: 'run-start', runId, recipe: plan.recipe.file, name: plan.recipe.name, steps: stepInfos(plan), time: started });
  const steps = plan.involved.map((id) => {
    const s = plan.steps.get(id)!;
    return { id, status: s.status, reasons: s.reasons, key: s.key };
  });
  emit({ type: 'plan', runId, steps, time: Date.now() });
  for (const message of plan.warnings) emit({ type: 'warning', runId, message, time: Date.now() });
  if (scope.gpus.total > 0) return;
  for (const id of plan.involved) {
    const s = plan.steps.get(id)!;
    const want = s.prepared.def.resources.gpus;
    // A Slurm step's GPUs are the job's, not this machine's.
    if (s.status === 'run' && want > 0 && local(s)) emit({ type: 'warning', runId, step: id, message: `no GPU found: ${id} asks for ${want} and runs on the CPU`, time: Date.now() });
  }
}

export async function executePlan(ws: Workspace, plan: Plan, opts: RunOptions): Promise<RunResult> {
  const gpus = new GpuSlots(gpuIds(opts.gpus));
  const executors = new ExecutorPool({ cacheDir: ws.cacheDir });
  await checkExecutors(plan, executors);
  ws.records.markCrashedRuns();
  const runId = newRunId();
  ws.records.createRun({ id: runId, recipe: plan.recipe.file, name: plan.recipe.name, params: plan.recipe.params, argv: opts.argv });
  const started = Date.now();
  const entries = new Map<string, Entry>();
  // --jobs: steps running (started and not yet committed) at once.
  const slots = new PQueue({ concurrency: Math.max(1, opts.jobs) });
  const ctx: RunContext = {
    ws,
    recipe: plan.recipe,
    runId,
    signal: opts.signal,
    machineGpus: gpus.total,
    settings: stepSettings(plan.recipe, ws),
    // flow's environment when the run started: what every step's environment starts from.
    baseEnv: { ...(process.env as Record<string, string>) },
    outputPath: outputPathIn(ws, entries),
    slot: (body) => slots.add(body),
  };
  const scope: RunScope = {
    ws, plan, opts, gpus, executors, ctx, entries,
    tally: new RunTally(runId, ws.records, opts.emit),
    queue: new PQueue({ concurrency: 2 * Math.max(1, opts.jobs) }),
    outcomes: new Map(),
    linking: Promise.resolve(),
  };
  announce(scope, started);
  // Every step in flight (up to twice --jobs) and every key lock it waits for listens to the
  // run's signal: at --jobs 16 that is past Node's leak warning (10), and no leak.
  setMaxListeners(0, opts.signal);
  const onAbort = () => void Promise.all(executors.all().map((e) => e.cancelAll?.())).catch(() => undefined);
  opts.signal.addEventListener('abort', onAbort, { once: true });
  for (const id of plan.involved) scope.outcomes.set(id, runStep(scope, id));
  const settled = await Promise.allSettled([...scope.outcomes.values()]);
  opts.signal.removeEventListener('abort', onAbort);
  const crash = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  const { counts, savedMs } = scope.tally;
  const status = opts.signal.aborted ? 'cancelled' : crash || counts.failed || counts.skipped ? 'failed' : 'done';
  await ws.store.settle();
  await scope.linking;
  ws.records.finishRun(runId, status);
  opts.emit({ type: 'run-end', runId, status, durationMs: Date.now() - started, savedMs, counts, time: Date.now() });
  if (crash) throw crash.reason;
  return { runId, status };
}

function outputPathIn(ws: Workspace, entries: Map<string, Entry>): (step: string, output: string) => string {
  return (step, output) => {
    const e = entries.get(step)!;
    return join(ws.store.layout.entryDir(e.key), e.outputs[output]!.path);
  };
}

function sameDigests(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Reuses a committed result: records, emits and counts it as cached. */
function reuse(scope: RunScope, run: StepRun, entry: Entry, fingerprint: Fingerprint, type: StepType): StepOutcome {
  scope.ws.store.touch(entry.key);
  run.cached(entry, fingerprint, scope.ws.store.outputPaths(entry), type.summarize?.bind(type));
  return succeeded(scope, run.id, entry);
}

/** A step's result, run or reused: what its dependents read, and what latest/ points at. */
function succeeded(scope: RunScope, id: string, entry: Entry): StepOutcome {
  scope.entries.set(id, entry);
  // Chained, and awaited when the run ends: a link that cannot be made fails the run there.
  scope.linking = scope.linking.then(() => scope.ws.store.linkLatest(scope.plan.recipe.name, id, entry));
  scope.linking.catch(() => undefined);
  return { status: 'ok', entry };
}

/** Waits for the step's upstream steps; a failed one (or a cancel) ends this step as skipped (or cancelled). */
async function upstreamBlocked(scope: RunScope, run: StepRun): Promise<StepOutcome | undefined> {
  const deps = [...scope.plan.graph.deps.get(run.id)!];
  const depOutcomes = await Promise.all(deps.map(async (d) => [d, await scope.outcomes.get(d)!] as const));
  if (scope.opts.signal.aborted) {
    run.cancelled();
    return { status: 'cancelled' };
  }
  const bad = depOutcomes.find(([, o]) => o.status !== 'ok');
  if (!bad) return undefined;
  run.skipped(`upstream ${bad[0]} ${bad[1].status}`);
  return { status: 'skipped' };
}

async function runStep(scope: RunScope, id: string): Promise<StepOutcome> {
  const s = scope.plan.steps.get(id)!;
  const run = scope.tally.step(id, s.prepared.type.name, s.prepared.def.variant);
  const blocked = await upstreamBlocked(scope, run);
  if (blocked) return blocked;
  const upstream = upstreamDigests(s.prepared.def, (d) => scope.entries.get(d))!;
  // The plan's key stands while the upstream results it was computed from do (most steps).
  const planned = s.fingerprint && s.key !== undefined && sameDigests(s.fingerprint.upstream, upstream);
  const fingerprint = planned ? s.fingerprint! : { ...s.local, upstream };
  const key = planned ? s.key! : keyOf(fingerprint);
  if (!s.forced) {
    // The plan already looked this key up (and checked a result it found); only a key that moved is
    // looked up again here. A result another process commits meanwhile is found under the lock (runLocked).
    const hit = s.key === key ? s.entry : await pinnedLookup(scope.ws, key);
    if (hit) return reuse(scope, run, hit, fingerprint, s.prepared.type);
  }
  if (!s.selected) throw new Error(`internal: unselected step ${id} has no cached result`);
  run.queued();
  const held = scope.gpus.total > 0 && local(s) ? await scope.gpus.acquire(s.prepared.def.resources.gpus) : [];
  try {
    return await scope.queue.add(() => runLocked(scope, s, run, key, fingerprint, held));
  } finally {
    if (held.length) scope.gpus.release(held);
  }
}

/** A lookup at run time, pinned first as the plan's are (store/pins.ts); a miss is not kept pinned. */
async function pinnedLookup(ws: Workspace, key: string): Promise<Entry | undefined> {
  ws.store.pins.pin(key);
  const hit = await ws.store.lookup(key);
  if (!hit) ws.store.pins.unpin(key);
  return hit;
}

/** Under the key's lock (two flow processes never execute one key at once): reuse what appeared, else execute. */
async function runLocked(scope: RunScope, s: PlannedStep, run: StepRun, key: string, fingerprint: Fingerprint, held: number[]): Promise<StepOutcome> {
  const { ws, opts } = scope;
  if (opts.signal.aborted) {
    run.cancelled();
    return { status: 'cancelled' };
  }
  const lock = await ws.locks.acquire(key, opts.signal, (pid) =>
    opts.emit({ type: 'warning', runId: scope.tally.runId, step: s.id, message: `waiting: another flow process (pid ${pid}) is running ${s.id} with the same key`, time: Date.now() }),
  ).catch((e: unknown) => {
    if (opts.signal.aborted) return undefined; // cancelled while waiting for the other process
    throw e;
  });
  if (!lock) {
    run.cancelled();
    return { status: 'cancelled' };
  }
  try {
    // The other process may have committed it while we waited.
    if (!s.forced) {
      const hit = await pinnedLookup(ws, key);
      if (hit) return reuse(scope, run, hit, fingerprint, s.prepared.type);
    }
    const r = await executeStep({
      ctx: scope.ctx,
      job: {
        step: s,
        run,
        key,
        fingerprint,
        // Planned as cached but the key moved: an upstream step re-ran and changed its output.
        reasons: s.status === 'run' ? s.reasons : ['upstream output changed'],
        upstream: [...scope.plan.graph.deps.get(s.id)!].map((d) => scope.entries.get(d)!),
        lock,
      },
      place: {
        executor: scope.executors.get(s.executor),
        gpus: held,
        cpus: stepCpus({ asked: s.prepared.def.resources.cpus, local: s.executor.type === LOCAL, jobs: opts.jobs }),
      },
    });
    if (r.status !== 'done') return { status: r.status };
    return succeeded(scope, s.id, r.entry);
  } finally {
    lock.release();
  }
}
