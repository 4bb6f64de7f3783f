// The steps a recorded run was meant to execute, rebuilt from its recipe file
// and command line: the store records executions only, so steps that never
// started (skipped after a failure, not reached yet) are known from here.

import { parseArgs } from 'node:util';
import type { StepInfo } from '../events.js';
import { buildGraph } from '../graph/dag.js';
import { selectSteps } from '../graph/select.js';
import { loadRecipe } from '../recipe/load.js';
import { expandMatrix } from '../recipe/matrix.js';

export interface RecipeSteps {
  /** Every step of the recipe as the run's --set values expand it, in graph order. */
  all: StepInfo[];
  /** The ids the run's --only/--from/--until selected. */
  selected: Set<string>;
}

/**
 * The recipe's steps and the run's selection, from its recipe and the selection
 * and --set values on its command line; undefined when the recipe cannot be read
 * any more (moved, edited into something invalid).
 */
export function recipeSteps(recipeFile: string, argv: string[]): RecipeSteps | undefined {
  try {
    const { values } = parseArgs({
      args: argv.slice(1),
      strict: false,
      allowPositionals: true,
      options: { set: { type: 'string', multiple: true }, only: { type: 'string' }, from: { type: 'string' }, until: { type: 'string' } },
    });
    const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
    const recipe = expandMatrix(loadRecipe(recipeFile, (values.set as string[] | undefined) ?? []));
    const graph = buildGraph(recipe);
    const ids = selectSteps(recipe, graph, {
      only: list(values.only),
      from: typeof values.from === 'string' ? values.from : undefined,
      until: typeof values.until === 'string' ? values.until : undefined,
    });
    const all = graph.order.map((id) => {
      const def = recipe.steps[id]!;
      return { id, type: def.uses ?? 'run', needs: [...(graph.deps.get(id) ?? [])], gpus: def.resources.gpus, variant: def.variant };
    });
    return { all, selected: new Set(ids) };
  } catch {
    return undefined;
  }
}

/** The run's steps, in order; undefined when the recipe cannot be read any more: rows then appear as steps start. */
export function runSteps(recipeFile: string, argv: string[]): StepInfo[] | undefined {
  const r = recipeSteps(recipeFile, argv);
  return r?.all.filter((s) => r.selected.has(s.id));
}
