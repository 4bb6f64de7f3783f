// Why a step of a run has no execution: `flow log last merge` after train
// failed should say that merge was skipped because of train, not that the run
// "has no step merge". The store records executions only; the recipe (as the
// run's command line expanded and selected it) says which steps there were.

import { reachable } from '../graph/dag.js';
import { baseStepId } from './records.js';
import { type RecipeSteps } from './run-steps.js';

export interface StepLookup {
  /** The step ids the name stands for: itself, or every matrix instance of a bare base id. */
  ids: string[];
  /** Every step id and base id the recipe knows, for "did you mean". */
  known: Set<string>;
}

/** The recipe's step ids a name matches ('train' matches every 'train[...]'). */
export function lookupStep(steps: RecipeSteps, name: string): StepLookup {
  const ids = steps.all.filter((s) => s.id === name || baseStepId(s.id) === name).map((s) => s.id);
  const known = new Set(steps.all.flatMap((s) => [s.id, baseStepId(s.id)]));
  return { ids, known };
}

const STOPPED = new Set(['failed', 'cancelled', 'crashed']);

/**
 * One line on why `stepId` never started in the run, given the run's status and
 * the status of each step that did start.
 */
export function whyNotStarted(
  steps: RecipeSteps,
  stepId: string,
  run: { id: string; status: string },
  started: Map<string, string>,
): string {
  const head = `step ${stepId} did not start in run ${run.id}`;
  if (!steps.selected.has(stepId)) return `${head}: the run's --only/--from/--until left it out`;
  if (run.status === 'running') {
    const waiting = upstream(steps, stepId).filter((d) => started.get(d) !== 'done' && started.get(d) !== 'cached');
    return `step ${stepId} has not started yet in run ${run.id} (running${waiting.length ? `; waiting for ${waiting.join(', ')}` : ''})`;
  }
  const stoppedAbove = upstream(steps, stepId).filter((d) => STOPPED.has(started.get(d) ?? ''));
  if (stoppedAbove.length) return `${head}: skipped because ${stoppedAbove.map((d) => `${d} ${started.get(d)}`).join(', ')}`;
  const stoppedElsewhere = [...started].filter(([, s]) => STOPPED.has(s)).map(([id, s]) => `${id} ${s}`);
  if (run.status === 'cancelled') return `${head}: the run was cancelled before it`;
  if (run.status === 'crashed') return `${head}: the run crashed (flow was killed) before it`;
  if (stoppedElsewhere.length) return `${head}: the run stopped after ${stoppedElsewhere.join(', ')}`;
  return `${head}: the run ended (${run.status}) without it`;
}

/** The steps `id` needs, directly or not, in the recipe's graph order. */
function upstream(steps: RecipeSteps, id: string): string[] {
  const above = reachable([id], new Map(steps.all.map((s) => [s.id, new Set(s.needs)])));
  return steps.all.map((s) => s.id).filter((s) => above.has(s));
}
