// The step graph: edges from `${steps.X.outputs.Y}` references and `needs:`,
// a topological order, and cycle detection that prints the cycle.

import { RecipeError } from '../recipe/errors.js';
import { stepRefs } from '../recipe/fields.js';
import type { Recipe, StepDef } from '../recipe/types.js';

export interface Graph {
  /** Step ids in a dependency-respecting order (ties keep recipe order). */
  order: string[];
  deps: Map<string, Set<string>>;
  dependents: Map<string, Set<string>>;
}

export function buildGraph(recipe: Recipe): Graph {
  const deps = new Map<string, Set<string>>();
  const dependents = new Map<string, Set<string>>();
  for (const id of Object.keys(recipe.steps)) {
    deps.set(id, new Set());
    dependents.set(id, new Set());
  }
  for (const step of Object.values(recipe.steps)) {
    const add = (dep: string, field: string) => {
      if (!recipe.steps[dep]) {
        const known = Object.keys(recipe.steps).join(', ');
        throw new RecipeError(
          `unknown step "${dep}" (steps: ${known})`,
          recipe.positions.get(`steps.${step.baseId}.${field}`) ?? step.pos,
          `steps.${step.id}.${field}`,
        );
      }
      if (dep === step.id) {
        throw new RecipeError('a step cannot depend on itself', recipe.positions.get(`steps.${step.baseId}.${field}`) ?? step.pos, `steps.${step.id}.${field}`);
      }
      deps.get(step.id)!.add(dep);
      dependents.get(dep)!.add(step.id);
    };
    for (const { ref, path } of stepRefs(step)) {
      if (ref.kind === 'steps') add(ref.step, path);
    }
    step.needs.forEach((n, i) => add(n, `needs.${i}`));
  }
  const order = topoOrder(recipe, deps);
  return { order, deps, dependents };
}

/**
 * Depth-first topological order, with an explicit stack rather than recursion: a chain of
 * thousands of steps must not need thousands of JS stack frames. A back edge is a cycle.
 */
function topoOrder(recipe: Recipe, deps: Map<string, Set<string>>): string[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const order: string[] = [];
  for (const root of Object.keys(recipe.steps)) {
    if (state.has(root)) continue;
    // The path being walked (what a cycle is read from), each step with its deps still to visit.
    const path: string[] = [root];
    const pending: Array<Iterator<string>> = [deps.get(root)!.values()];
    state.set(root, 'visiting');
    while (path.length) {
      const next = pending[pending.length - 1]!.next();
      if (next.done) {
        const id = path.pop()!;
        pending.pop();
        state.set(id, 'done');
        order.push(id);
        continue;
      }
      const d = next.value;
      const s = state.get(d);
      if (s === 'done') continue;
      if (s === 'visiting') throw cycleError(recipe, [...path.slice(path.indexOf(d)), d]);
      state.set(d, 'visiting');
      path.push(d);
      pending.push(deps.get(d)!.values());
    }
  }
  return order;
}

function cycleError(recipe: Recipe, cycle: string[]): RecipeError {
  const from = cycle[0]!;
  const step = recipe.steps[from]!;
  const field = edgeField(step, cycle[1]!);
  return new RecipeError(`dependency cycle: ${cycle.join(' -> ')}`, recipe.positions.get(`steps.${step.baseId}.${field}`) ?? step.pos, `steps.${from}`);
}

/** The last field of `step` that makes it depend on `dep` (found again only to place a cycle error). */
function edgeField(step: StepDef, dep: string): string {
  const i = step.needs.lastIndexOf(dep);
  if (i >= 0) return `needs.${i}`;
  return [...stepRefs(step)].reverse().find(({ ref }) => ref.kind === 'steps' && ref.step === dep)?.path ?? '';
}

/** All steps reachable from `start` through `edges` (excluding start). */
export function reachable(start: Iterable<string>, edges: Map<string, Set<string>>): Set<string> {
  const seen = new Set<string>();
  const todo = [...start];
  while (todo.length) {
    for (const n of edges.get(todo.pop()!) ?? []) {
      if (!seen.has(n)) {
        seen.add(n);
        todo.push(n);
      }
    }
  }
  return seen;
}
