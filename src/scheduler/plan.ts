// Decides, for every step of an analysed recipe, whether its cached result can
// be reused or it must run, and why. `flow plan`, `flow run --dry-run` and
// `flow run` itself all start here.

import { isAbsolute, resolve } from 'node:path';
import { CacheLayout } from '../cache/layout.js';
import { explainChange } from '../cache/reasons.js';
import { implDigests, keyOf, localFingerprint, upstreamDigests, type Fingerprint } from '../cache/fingerprint.js';
import type { Entry } from '../cache/store.js';
import type { Graph } from '../graph/dag.js';
import { resolveNames, selectSteps, type Selection } from '../graph/select.js';
import { RecipeError, recipeErrorList, setHint, throwAll, UsageError } from '../recipe/errors.js';
import { getPath } from '../recipe/fields.js';
import type { ExecutorConfig, Recipe, ReportTo } from '../recipe/types.js';
import type { StepPlan } from '../events.js';
import { analyzeOrThrow, makeInputsAbsolute, type Analysis, type PreparedStep } from '../steps/analyze.js';
import type { StepRegistry } from '../steps/registry.js';
import type { StepMachine, StepSettings, StepType } from '../steps/types.js';
import { LOCAL, localMachine } from './executors/local-machine.js';
import { gpuIds } from './gpus.js';
import type { Workspace } from './workspace.js';

export interface PlanOptions extends Selection {
  recipeFile: string;
  sets: string[];
  force?: string[];
  forceAll?: boolean;
  /** `--executor`: the default for steps and recipes that name none. */
  executor?: string;
  /** `--gpus`: the GPU ids local steps are handed (default: CUDA_VISIBLE_DEVICES, else all). */
  gpus?: string;
  /** `--allow-cpu`: run GPU-sized work (a large model's training) where there is no GPU. */
  allowCpu?: boolean;
  /** `flow plan` only reports a damaged cached result; a run removes it (default). */
  repair?: boolean;
}

export interface PlannedStep extends StepPlan {
  prepared: PreparedStep;
  selected: boolean;
  local: Omit<Fingerprint, 'upstream'>;
  /** Known when every upstream result is known at plan time. */
  fingerprint?: Fingerprint;
  entry?: Entry;
  forced: boolean;
  /** Where it runs: steps.<id>.executor, the recipe's executor:, --executor, else local. */
  executor: ExecutorConfig;
  /** That executor's machine, as the preflight judged it. */
  machine: StepMachine;
}

export interface Plan {
  recipe: Recipe;
  graph: Graph;
  steps: Map<string, PlannedStep>;
  /** Selected steps plus the unselected upstream steps whose cached results they read, in order. */
  involved: string[];
  /** The analysis's plan-time warnings, for the reporter. */
  warnings: string[];
}

export async function makePlan(ws: Workspace, registry: StepRegistry, opts: PlanOptions): Promise<Plan> {
  return planAnalysis(ws, await analyzeOrThrow(opts.recipeFile, opts.sets, registry), opts);
}

export async function planAnalysis(ws: Workspace, analysis: Analysis, opts: PlanOptions): Promise<Plan> {
  const { recipe, graph } = analysis;
  const selected = new Set(selectSteps(recipe, graph, opts));
  const forced = new Set(opts.forceAll ? graph.order : opts.force?.length ? resolveNames(recipe, opts.force, '--force') : []);
  const impl = implDigestsOnce(ws, stepSettings(recipe, ws));
  const previous = previousExecutions(ws, recipe.name);
  const placed = await placeSteps(recipe, graph, analysis.steps, opts);
  const locals = await preflight(recipe, graph, analysis.steps, selected, impl, ws, placed);
  const steps = new Map<string, PlannedStep>();
  for (const id of graph.order) {
    const p = analysis.steps.get(id)!;
    const local = locals.get(id)!;
    const upstream = upstreamDigests(p.def, (d) => steps.get(d)!.entry);
    const fingerprint = upstream ? { ...local, upstream } : undefined;
    const key = fingerprint ? keyOf(fingerprint) : undefined;
    // Pinned before it is looked up, so no other run's --force replaces what this run reuses
    // (store/pins.ts; a no-op outside `flow run`); unpinned again if this run executes it.
    if (key) ws.store.pins.pin(key);
    const { entry: found, damaged } = key ? await ws.store.inspect(key, { repair: opts.repair ?? true }) : {};
    const isForced = forced.has(id) && selected.has(id);
    const status = found && !isForced ? 'cached' : 'run';
    if (key && status === 'run') ws.store.pins.unpin(key);
    const reasons = status === 'run' ? whyRun(previous, graph, steps, id, isForced, fingerprint ?? local, damaged) : [];
    const entry = status === 'cached' ? found : undefined;
    const { executor, machine } = placed.get(id)!;
    steps.set(id, { id, status, reasons, key, prepared: p, selected: selected.has(id), local, fingerprint, entry, forced: isForced, executor, machine });
  }
  const involved = involvedSteps(recipe, graph, steps, selected);
  // Steps outside the selection are not read: their entries need no pin.
  const read = new Set(involved.map((id) => steps.get(id)!.key));
  for (const s of steps.values()) if (s.key && s.status === 'cached' && !read.has(s.key)) ws.store.pins.unpin(s.key);
  return { recipe, graph, steps, involved, warnings: analysis.warnings };
}

type Placement = Pick<PlannedStep, 'executor' | 'machine'>;

/**
 * Each step's executor and the machine it stands for. An unknown executor (--executor k8s, or one
 * named in the recipe) is refused here, so plan, run and run --dry-run refuse it alike; so is a
 * local step asking for more GPUs than --gpus gives. The executors' module loads only when a
 * recipe or --executor names one other than local: a local plan never needs it.
 */
async function placeSteps(recipe: Recipe, graph: Graph, prepared: Map<string, PreparedStep>, opts: PlanOptions): Promise<Map<string, Placement>> {
  const configOf = (def: PreparedStep['def']): ExecutorConfig => def.executor ?? recipe.executor ?? (opts.executor ? { type: opts.executor } : { type: LOCAL });
  const configs = graph.order.map((id) => [id, configOf(prepared.get(id)!.def)] as const);
  const executors = opts.executor !== undefined || configs.some(([, c]) => c.type !== LOCAL) ? await import('./executors/index.js') : undefined;
  if (executors && opts.executor !== undefined && !executors.hasExecutor(opts.executor)) {
    throw new UsageError(`--executor ${opts.executor}: expected one of ${executors.executorTypes().join(', ')}`);
  }
  const allowCpu = Boolean(opts.allowCpu);
  const here = { ...localMachine(), allowCpu };
  const gpus = gpuIds(opts.gpus);
  const placed = new Map<string, Placement>();
  for (const [id, executor] of configs) {
    const def = prepared.get(id)!.def;
    if (executors && !executors.hasExecutor(executor.type)) {
      const field = def.executor ? `steps.${def.baseId}.executor` : 'executor';
      const pos = recipe.positions.get(field) ?? recipe.positions.get(`${field}@key`) ?? def.pos;
      throw new RecipeError(`unknown executor "${executor.type}" (known: ${executors.executorTypes().join(', ')})`, pos, def.executor ? `steps.${id}.executor` : 'executor');
    }
    if (executor.type === LOCAL && gpus.length > 0 && def.resources.gpus > gpus.length) {
      throw new UsageError(`step ${id} asks for ${def.resources.gpus} GPUs but only ${gpus.length} are available (--gpus ${gpus.join(',')})`);
    }
    placed.set(id, { executor, machine: executor.type === LOCAL ? here : { ...executors!.machineOf(executor, def.resources), allowCpu } });
  }
  return placed;
}

/**
 * What can be known before anything runs, for every step: its fingerprint's local part
 * (which reads every input), and, for selected steps, whether this machine can run its
 * options (GPU-only ones). Every problem is collected and thrown together, so one attempt
 * lists them all; nothing has run yet.
 */
async function preflight(
  recipe: Recipe,
  graph: Graph,
  prepared: Map<string, PreparedStep>,
  selected: Set<string>,
  impl: (type: StepType) => Promise<Record<string, string>>,
  ws: Workspace,
  placed: Map<string, Placement>,
): Promise<Map<string, Omit<Fingerprint, 'upstream'>>> {
  const problems: RecipeError[] = [];
  const locals = new Map<string, Omit<Fingerprint, 'upstream'>>();
  // What the step's machine cannot run comes first: no input path fixes it.
  for (const id of graph.order) {
    const p = prepared.get(id)!;
    if (!selected.has(id) || !p.type.preflight) continue;
    // With its input paths as the step will get them: a preflight may look inside (a model folder).
    const w = makeInputsAbsolute(structuredClone(p.with), p.type, recipe.dir);
    for (const { field, message } of await p.type.preflight(w, placed.get(id)!.machine)) {
      const at = recipe.positions.get(`steps.${p.def.baseId}.with.${field}`) ?? recipe.positions.get(`steps.${p.def.baseId}.with`) ?? p.def.pos;
      problems.push(new RecipeError(`${message}${setHint(getPath(p.def.with, field), 'VALUE')}`, at, `steps.${id}.with.${field}`));
    }
  }
  for (const id of graph.order) {
    const p = prepared.get(id)!;
    try {
      locals.set(id, await localFingerprint(recipe, p.def, p.type, await impl(p.type), ws.files, problems.length > 0));
    } catch (e) {
      if (!(e instanceof RecipeError)) throw e;
      problems.push(e);
    }
  }
  // A sweep's variants of one step share their inputs: one line per place and problem, not per variant.
  const seen = new Set<string>();
  throwAll(problems.flatMap(recipeErrorList).filter((e) => {
    const key = `${e.pos?.file}:${e.pos?.line}:${e.pos?.col} ${e.message}`;
    return !seen.has(key) && seen.add(key);
  }));
  return locals;
}

/** Implementation digests (sources and runtime), computed once per step type. */
function implDigestsOnce(ws: Workspace, settings: StepSettings): (type: StepType) => Promise<Record<string, string>> {
  const cache = new Map<string, Promise<Record<string, string>>>();
  return (type) => {
    let impl = cache.get(type.name);
    if (!impl) cache.set(type.name, (impl = implDigests(type, ws.root, ws.files, settings)));
    return impl;
  };
}

/** The recipe settings steps read from their context (FLOW_PYTHON stays the user's way to pick an interpreter). */
export function stepSettings(recipe: Recipe, ws: Workspace): StepSettings {
  const py = recipe.python?.interpreter ?? (process.env.FLOW_PYTHON || undefined);
  return {
    python: { extras: recipe.python?.extras ?? [], interpreter: py && py.includes('/') && !isAbsolute(py) ? resolve(recipe.dir, py) : py },
    envsDir: ws.store.layout.envs,
    ...(recipe.reportTo ? { reportTo: withTrackerDefaults(recipe.reportTo, ws.cacheDir), recipeName: recipe.name } : {}),
  };
}


/** `report_to:` with TensorBoard's folder defaulted to <cache>/tensorboard. */
export function withTrackerDefaults(r: ReportTo, cacheDir: string): ReportTo {
  return r.tensorboard ? { ...r, tensorboard: { dir: r.tensorboard.dir ?? new CacheLayout(cacheDir).tensorboard } } : r;
}

/** Asked one by one, this many steps' last fingerprints cost less than reading them all at once. */
const ONE_BY_ONE = 32;

/** What the records say of a step's earlier executions, for the reasons it runs. */
interface History {
  /** The fingerprint of its last good (done or cached) execution. */
  fingerprint(id: string): Fingerprint | undefined;
  /** The status of its latest execution of any kind ('failed', 'crashed', …), or undefined if none. */
  lastStatus(id: string): string | undefined;
}

/**
 * The fingerprint of each step's last good execution, for the reasons a step runs: a query
 * per step for the first few asked (a plan where one step changed, over a long history), then
 * one query for all (a plan where thousands run: 10,000 queries were a tenth of such a plan).
 * The latest statuses are one query, made only when a step has no good execution.
 */
function previousExecutions(ws: Workspace, recipeName: string): History {
  let asked = 0;
  let all: Map<string, string> | undefined;
  let statuses: Map<string, string> | undefined;
  return {
    fingerprint(id) {
      if (!all && ++asked <= ONE_BY_ONE) return ws.records.lastFingerprint<Fingerprint>(recipeName, id);
      all ??= ws.records.lastFingerprintsJson(recipeName);
      const json = all.get(id);
      return json === undefined ? undefined : (JSON.parse(json) as Fingerprint);
    },
    lastStatus(id) {
      statuses ??= ws.records.lastStatuses(recipeName);
      return statuses.get(id);
    },
  };
}

/** A step with no good execution: it never ran, or its last attempt did not succeed ("never ran" would be wrong). */
function noResultYet(history: History, id: string): string {
  const last = history.lastStatus(id);
  if (last === undefined || last === 'done' || last === 'cached') return 'never ran';
  // 'running': another run is at it now, or one that died and has not yet been marked crashed.
  return last === 'running' ? 'last attempt did not finish' : `last attempt ${last}`;
}

/** Why a step will run: forced, an upstream step runs, never ran (or its last attempt failed), or what changed in its fingerprint. */
function whyRun(
  previous: History,
  graph: Graph,
  steps: Map<string, PlannedStep>,
  id: string,
  isForced: boolean,
  fingerprint: Fingerprint | Omit<Fingerprint, 'upstream'>,
  damaged: string | undefined,
): string[] {
  const reasons: string[] = [];
  if (isForced) reasons.push('forced');
  if (damaged) reasons.push(damaged);
  const rerunning = [...graph.deps.get(id)!].filter((d) => steps.get(d)!.status === 'run');
  for (const d of rerunning) reasons.push(`upstream ${d} will run`);
  const prev = previous.fingerprint(id);
  if (!prev) reasons.push(noResultYet(previous, id));
  else if (!isForced) {
    const diffs = explainChange(prev, fingerprint);
    if (diffs.length) reasons.push(...diffs);
    else if (!rerunning.length && !damaged) reasons.push('no cached result (removed by gc, or never committed)');
  }
  return reasons;
}

/** Selected steps plus the unselected upstream steps they read; an unselected one must be cached already. */
function involvedSteps(recipe: Recipe, graph: Graph, steps: Map<string, PlannedStep>, selected: Set<string>): string[] {
  const needed = new Set<string>();
  const visit = (id: string) => {
    for (const d of graph.deps.get(id)!) {
      if (selected.has(d) || needed.has(d)) continue;
      if (steps.get(d)!.status !== 'cached') {
        throw new UsageError(`step ${id} needs ${d}, which is not selected and has no cached result; run it first (flow run ${recipe.file} --until ${d})`);
      }
      needed.add(d);
      visit(d);
    }
  };
  for (const id of selected) visit(id);
  return graph.order.filter((id) => selected.has(id) || needed.has(id));
}
