// Which steps a run executes: --only, --from, --until. A name matches a step
// id exactly ('train[lora_rank=32]') or every matrix instance of a base id ('train').

import { UsageError } from '../recipe/errors.js';
import { didYouMean } from '../recipe/suggest.js';
import type { Recipe } from '../recipe/types.js';
import { reachable, type Graph } from './dag.js';

export interface Selection {
  only?: string[];
  from?: string;
  until?: string;
}

export function resolveNames(recipe: Recipe, names: string[], flag: string): string[] {
  const out: string[] = [];
  for (const name of names) {
    const hits = Object.values(recipe.steps)
      .filter((s) => s.id === name || s.baseId === name)
      .map((s) => s.id);
    if (!hits.length) {
      const ids = Object.keys(recipe.steps);
      const bases = new Set(Object.values(recipe.steps).map((s) => s.baseId));
      throw new UsageError(`${flag} ${name}: no such step (steps: ${ids.join(', ')})${didYouMean(name, new Set([...bases, ...ids]))}`);
    }
    out.push(...hits);
  }
  return out;
}

/** The selected step ids, in graph order. */
export function selectSteps(recipe: Recipe, graph: Graph, sel: Selection): string[] {
  let chosen = new Set(graph.order);
  if (sel.only?.length) {
    chosen = new Set(resolveNames(recipe, sel.only, '--only'));
  } else {
    if (sel.from) {
      const starts = resolveNames(recipe, [sel.from], '--from');
      const down = reachable(starts, graph.dependents);
      starts.forEach((s) => down.add(s));
      chosen = new Set([...chosen].filter((s) => down.has(s)));
    }
    if (sel.until) {
      const ends = resolveNames(recipe, [sel.until], '--until');
      const up = reachable(ends, graph.deps);
      ends.forEach((s) => up.add(s));
      chosen = new Set([...chosen].filter((s) => up.has(s)));
    }
  }
  return graph.order.filter((s) => chosen.has(s));
}
