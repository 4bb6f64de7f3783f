// Loads a recipe and decides, for every step, whether its cached result can
// be reused or it must run, and why. `flow plan`, `flow run --dry-run` and
// `flow run` itself all start here.

import { explainChange } from '../cache/reasons.js';
import { implDigests, keyOf, localFingerprint, type Fingerprint } from '../cache/key.js';
import { resolveWith } from '../recipe/interpolate.js';
import type { Entry } from '../cache/store.js';
import { buildGraph, stepFields, type Graph } from '../graph/dag.js';
import { resolveNames, selectSteps, type Selection } from '../graph/select.js';
import { checkRecipe, type PreparedStep } from '../recipe/check.js';
import { RecipeError, UsageError } from '../recipe/errors.js';
import { loadRecipe } from '../recipe/load.js';
import { expandMatrix } from '../recipe/matrix.js';
import { walkRefs } from '../recipe/refs.js';
import type { Recipe } from '../recipe/types.js';
import type { StepPlan } from '../events.js';
import type { Workspace } from './workspace.js';

export interface PlanOptions extends Selection {
  recipeFile: string;
  sets: string[];
  force?: string[];
  forceAll?: boolean;
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
}

export interface Plan {
  recipe: Recipe;
  graph: Graph;
  steps: Map<string, PlannedStep>;
  /** Selected steps plus the unselected upstream steps whose cached results they read, in order. */
  involved: string[];
}

/** Upstream digests a step's key depends on: referenced outputs, or all outputs for needs:. */
export function upstreamDigests(recipe: Recipe, stepId: string, entryOf: (id: string) => Entry | undefined): Record<string, string> | undefined {
  const step = recipe.steps[stepId]!;
  const out: Record<string, string> = {};
  for (const { ref } of walkRefs(stepFields(step), '')) {
    if (ref.kind !== 'steps') continue;
    const e = entryOf(ref.step);
    if (!e) return undefined;
    out[`${ref.step}.${ref.output}`] = e.outputs[ref.output]!.digest;
  }
  for (const n of step.needs) {
    const e = entryOf(n);
    if (!e) return undefined;
    out[n] = e.digest;
  }
  return out;
}

export async function makePlan(ws: Workspace, opts: PlanOptions): Promise<Plan> {
  const recipe = expandMatrix(loadRecipe(opts.recipeFile, opts.sets));
  const graph = buildGraph(recipe);
  const prepared = await checkRecipe(recipe, ws.registry);
  const selected = new Set(selectSteps(recipe, graph, opts));
  const forced = new Set(opts.forceAll ? graph.order : opts.force?.length ? resolveNames(recipe, opts.force, '--force') : []);

  // Steps whose implementation can't run on this machine fail now, not an hour in.
  for (const id of selected) {
    const p = prepared.get(id)!;
    if (!p.type.preflight) continue;
    const problems = await p.type.preflight(resolveWith(recipe, p.def, () => undefined));
    if (problems.length) {
      throw new RecipeError(problems[0]!, recipe.positions.get(`steps.${p.def.baseId}.with`) ?? p.def.pos, `steps.${id}`);
    }
  }

  const implCache = new Map<string, Promise<Record<string, string>>>();
  const steps = new Map<string, PlannedStep>();
  for (const id of graph.order) {
    const p = prepared.get(id)!;
    let impl = implCache.get(p.type.name);
    if (!impl) implCache.set(p.type.name, (impl = implDigests(p.type, ws.root, ws.files)));
    const local = await localFingerprint(recipe, p.def, p.type, await impl, ws.files);
    const upstream = upstreamDigests(recipe, id, (d) => {
      const s = steps.get(d)!;
      return s.status === 'cached' ? s.entry : undefined;
    });
    const fingerprint = upstream ? { ...local, upstream } : undefined;
    const key = fingerprint ? keyOf(fingerprint) : undefined;
    const found = key ? await ws.store.inspect(key, { repair: opts.repair ?? true }) : {};
    const entry = found.entry;
    const isForced = forced.has(id) && selected.has(id);
    const status = entry && !isForced ? 'cached' : 'run';
    const reasons: string[] = [];
    if (status === 'run') {
      if (isForced) reasons.push('forced');
      if (found.damaged) reasons.push(found.damaged);
      const rerunning = [...graph.deps.get(id)!].filter((d) => steps.get(d)!.status === 'run');
      for (const d of rerunning) reasons.push(`upstream ${d} will run`);
      const prev = ws.records.lastFingerprint(recipe.file, id);
      if (!prev) reasons.push('never ran');
      else if (!isForced) {
        const diffs = explainChange(prev, fingerprint ?? local);
        if (diffs.length) reasons.push(...diffs);
        else if (!rerunning.length && !found.damaged) reasons.push('no cached result (removed by gc, or never committed)');
      }
    }
    steps.set(id, { id, status, reasons, key, prepared: p, selected: selected.has(id), local, fingerprint, entry, forced: isForced });
  }

  // An unselected upstream step must already have a cached result to read.
  const needed = new Set<string>();
  const visit = (id: string) => {
    for (const d of graph.deps.get(id)!) {
      if (selected.has(d) || needed.has(d)) continue;
      const s = steps.get(d)!;
      if (s.status !== 'cached') {
        throw new UsageError(`step ${id} needs ${d}, which is not selected and has no cached result; run it first (flow run ${recipe.file} --until ${d})`);
      }
      needed.add(d);
      visit(d);
    }
  };
  for (const id of selected) visit(id);
  const involved = graph.order.filter((id) => selected.has(id) || needed.has(id));
  return { recipe, graph, steps, involved };
}
