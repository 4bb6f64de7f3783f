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

function topoOrder(recipe: Recipe, deps: Map<string, Set<string>>): string[] {
  const ids = Object.keys(recipe.steps);
  const state = new Map<string, 'visiting' | 'done'>();
  const order: string[] = [];
  const stack: string[] = [];
  const visit = (id: string) => {
    const s = state.get(id);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(id)), id];
      const from = cycle[0]!;
      const step = recipe.steps[from]!;
      const field = edgeField(step, cycle[1]!);
      throw new RecipeError(
        `dependency cycle: ${cycle.join(' -> ')}`,
        recipe.positions.get(`steps.${step.baseId}.${field}`) ?? step.pos,
        `steps.${from}`,
      );
    }
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of deps.get(id)!) visit(d);
    stack.pop();
    state.set(id, 'done');
    order.push(id);
  };
  for (const id of ids) visit(id);
  return order;
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
