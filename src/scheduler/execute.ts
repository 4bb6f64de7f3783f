// Executes one step: a fresh work dir, a log file, the step type's run() with
// its context, then an atomic commit of its outputs into the content store
// (which consumes the work dir).
// A failure or a cancel leaves no cache entry; the work dir stays for
// inspection until gc. Every outcome goes through the step's StepRun.

import { randomUUID } from 'node:crypto';
import { rmSync, statfsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failpoint } from '../cache/failpoint.js';
import type { Fingerprint } from '../cache/fingerprint.js';
import { MissingOutputError, type Entry } from '../cache/store.js';
import type { FailureReason } from '../events.js';
import { environmentError } from '../proc/env-error.js';
import type { Lock } from '../store/locks.js';
import { getPath } from '../recipe/fields.js';
import { resolveValue } from '../recipe/interpolate.js';
import { parseRef } from '../recipe/refs.js';
import type { Recipe } from '../recipe/types.js';
import { resolveStepWith } from '../steps/analyze.js';
import type { Executor } from '../steps/process-spec.js';
import type { StepRunContext, StepSettings } from '../steps/types.js';
import type { PlannedStep } from './plan.js';
import type { StepRun } from './step-run.js';
import { StepLog } from './log-file.js';
import type { Workspace } from './workspace.js';

/** What every step of one run shares: built once per run. */
export interface RunContext {
  ws: Workspace;
  recipe: Recipe;
  runId: string;
  signal: AbortSignal;
  /** The GPUs this machine has (0: CPU only, CUDA_VISIBLE_DEVICES is left alone). */
  machineGpus: number;
  settings: StepSettings;
  /** flow's own environment, read once per run (each read of process.env is a call into C++). */
  baseEnv: Record<string, string>;
  /** Absolute path of an upstream output (its committed entry). */
  outputPath(step: string, output: string): string;
  /** Runs the step, from its start to its commit, in one of --jobs' slots. */
  slot<T>(body: () => Promise<T>): Promise<T>;
}

/** The step to execute: what it is, its key and why it runs, and what it reads. */
export interface StepJob {
  step: PlannedStep;
  run: StepRun;
  key: string;
  fingerprint: Fingerprint;
  reasons: string[];
  /** The committed entries of the steps this one reads, checked again after it ran. */
  upstream: Entry[];
  /** The key's execution lock, released when the result is indexed. */
  lock: Lock;
}

/** Where the step runs and what it holds there. */
export interface Placement {
  executor: Executor;
  gpus: number[];
  /** The CPU cores the step is given (scheduler/cpus.ts). */
  cpus?: number;
}

export interface ExecuteArgs {
  ctx: RunContext;
  job: StepJob;
  place: Placement;
}

export type ExecuteResult = { status: 'done'; entry: Entry } | { status: 'failed' | 'cancelled' };

/** One execution's scratch: its id, work dir, log and absolute output paths. */
interface Execution {
  id: string;
  workDir: string;
  logPath: string;
  log: StepLog;
  outputs: Record<string, string>;
}

export async function executeStep(a: ExecuteArgs): Promise<ExecuteResult> {
  // The work dir and log are made before a slot is free, while other steps' bodies run.
  const x = openExecution(a);
  const w = resolveStepWith(a.ctx.recipe, a.job.step.prepared.def, a.job.step.prepared.type, a.ctx.outputPath).with;
  return a.ctx.slot(async () => {
    try {
      if (a.ctx.signal.aborted) throw new Error('cancelled');
      a.job.run.start({ execId: x.id, key: a.job.key, fingerprint: a.job.fingerprint, reasons: a.job.reasons, gpus: a.place.gpus, logPath: x.logPath });
      try {
        await a.job.step.prepared.type.run(stepContext(a, x, w));
      } finally {
        await checkInputs(a.ctx.ws, a.job.upstream);
      }
      if (x.log.error) throw x.log.error;
      if (a.ctx.signal.aborted) throw new Error('cancelled');
      return await commitExecution(a, x);
    } catch (e) {
      x.log.close();
      if (a.ctx.signal.aborted) {
        a.job.run.cancelled();
        return { status: 'cancelled' };
      }
      // A full disk fails this step in one line whatever it was doing (its own write, its log,
      // its commit); the other steps go on as after any failure.
      const failure = failureOf(x.log.error && environmentError(x.log.error) ? x.log.error : e);
      if (diskFull(x.workDir)) {
        // Its partial outputs are what filled the disk: kept for inspection as usual, they would
        // fail every later write of this run, its own records included.
        rmSync(x.workDir, { recursive: true, force: true });
        const own = failure.message.startsWith('no space left') ? '' : `${failure.message}; `;
        failure.message = `${own}no space left on the device: its partial outputs were removed to make room (\`flow gc\` frees more)`;
      }
      a.job.run.failed({ ...failure, logPath: x.logPath });
      return { status: 'failed' };
    }
  });
}

function openExecution(a: ExecuteArgs): Execution {
  const id = randomUUID();
  const workDir = a.ctx.ws.store.makeExecDir(id);
  const logPath = a.ctx.ws.store.layout.logPath(id);
  const outputs = Object.fromEntries(Object.entries(a.job.step.prepared.outputs).map(([n, rel]) => [n, join(workDir, rel)]));
  return { id, workDir, logPath, log: new StepLog(logPath), outputs };
}

/** The child environment: flow's own, the step's env:, FLOW_* variables and the GPUs it holds. */
function stepEnv(a: ExecuteArgs, x: Execution): Record<string, string> {
  const def = a.job.step.prepared.def;
  const env: Record<string, string> = { ...a.ctx.baseEnv };
  for (const [k, v] of Object.entries(def.env)) env[k] = String(resolveValue(a.ctx.recipe, v, a.ctx.outputPath));
  for (const [n, p] of Object.entries(x.outputs)) env[`FLOW_OUTPUT_${n.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = p;
  Object.assign(env, {
    FLOW_STEP_ID: def.id,
    FLOW_STEP_KEY: a.job.key,
    FLOW_RUN_ID: a.ctx.runId,
    FLOW_CACHE_DIR: a.ctx.ws.cacheDir,
    FLOW_RECIPE_DIR: a.ctx.recipe.dir,
  });
  // On a GPU machine a step gets exactly the GPUs it was handed; on a CPU machine nothing changes.
  if (a.ctx.machineGpus > 0) env.CUDA_VISIBLE_DEVICES = a.place.gpus.join(',');
  return env;
}

function stepContext(a: ExecuteArgs, x: Execution, w: Record<string, unknown>): StepRunContext {
  const run = a.job.run;
  const longLine = { stdout: 0, stderr: 0 };
  return {
    stepId: a.job.step.prepared.def.id,
    runId: a.ctx.runId,
    workDir: x.workDir,
    with: w,
    inputDigests: inputDigests(a),
    outputs: x.outputs,
    signal: a.ctx.signal,
    gpus: a.place.gpus,
    env: stepEnv(a, x),
    root: a.ctx.ws.root,
    checkpointDir: a.ctx.ws.store.layout.checkpointDir(a.job.key),
    resources: a.job.step.prepared.def.resources,
    machine: a.job.step.machine,
    cpus: a.place.cpus,
    settings: a.ctx.settings,
    exec: (spec) => a.place.executor.exec({ ...spec, onState: (s) => (run.executorState(s), spec.onState?.(s)) }),
    log(line, stream = 'stdout', partial = false, detail = false) {
      x.log.write(line, partial);
      // Reporters see the first piece of an over-long line and a note at its end, not the flood.
      const piece = longLine[stream];
      longLine[stream] = partial ? piece + line.length : 0;
      if (piece === 0) run.log(line, stream, detail);
      else if (!partial) run.log(`[… a line of ${piece + line.length} characters; whole in the log]`, stream, detail);
    },
    progress: (p) => run.progress(p),
    metric: (name, value) => run.metric(name, value),
    artifact: (name, path) => run.artifact(name, path),
    summary: (table) => run.summary(table),
  };
}

/** The digests of the step's input fields, from its fingerprint (see StepRunContext.inputDigests). */
function inputDigests(a: ExecuteArgs): Record<string, string> {
  const { def, type } = a.job.step.prepared;
  const out: Record<string, string> = {};
  for (const field of type.inputs) {
    const own = a.job.fingerprint.inputs[`with.${field}`];
    if (own !== undefined) {
      out[field] = own;
      continue;
    }
    const raw = getPath(def.with, field);
    const whole = typeof raw === 'string' ? /^\$\{([^}]*)\}$/.exec(raw) : null;
    if (!whole) continue;
    const ref = parseRef(whole[1]!, raw as string);
    const upstream = ref.kind === 'steps' ? a.job.fingerprint.upstream[`${ref.step}.${ref.output}`] : undefined;
    if (upstream !== undefined) out[field] = upstream;
  }
  return out;
}

/** An output named `metrics` is the execution's metrics (a JSON file), whatever the step type. */
async function readMetrics(outputs: Record<string, string>): Promise<unknown> {
  if (!('metrics' in outputs)) return undefined;
  try {
    return JSON.parse(await readFile(outputs.metrics!, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`output metrics is not valid JSON: ${(e as Error).message}`);
  }
}

async function commitExecution(a: ExecuteArgs, x: Execution): Promise<ExecuteResult> {
  const { ws } = a.ctx;
  const def = a.job.step.prepared.def;
  const metrics = await readMetrics(x.outputs);
  x.log.close();
  // The execution's record, the index row and the lock's release are one database commit.
  const entry = await ws.store.commit(a.job.key, def.id, x.id, x.workDir, a.job.step.prepared.outputs, a.job.run.elapsed(), {
    replace: a.job.step.forced,
    record: (e) => {
      a.job.run.done({ key: a.job.key, outputs: ws.store.outputPaths(e), metrics });
      // Pinned in the commit's own transaction: the steps below read it (store/pins.ts).
      ws.store.pins.pin(a.job.key);
      a.job.lock.release();
    },
  });
  failpoint('execute:committed');
  return { status: 'done', entry };
}

/** Whether the file system holding `dir` has (next to) no room left: under 1 MiB free. */
function diskFull(dir: string): boolean {
  try {
    const st = statfsSync(dir);
    return st.bavail * st.bsize < 1 << 20;
  } catch {
    return false;
  }
}

/** How a step's error is reported: a user-facing one or one of the environment as its message, an unexpected one with its stack. */
export function failureOf(e: unknown): { reason: FailureReason; message: string; exitCode: number | null } {
  const err = e as Error & { exitCode?: number | null; reason?: FailureReason };
  if (e instanceof MissingOutputError) return { reason: 'missing-output', message: err.message, exitCode: null };
  // A full disk, a database another process holds: what to do, in one line, not the library's stack.
  const env = environmentError(e);
  if (env) return { reason: 'internal', message: env, exitCode: null };
  // By name too: a plugin may bring its own copy of the steps API.
  if (err?.name === 'StepError') return { reason: err.reason ?? 'user-error', message: err.message, exitCode: err.exitCode ?? null };
  return { reason: 'internal', message: err?.stack ?? String(e), exitCode: err?.exitCode ?? null };
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
