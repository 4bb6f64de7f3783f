// The fields of a step whose `${...}` references create dependencies (graph)
// and enter its key (cache). One definition, so the two never disagree.

import { walkRefs, type RefAt } from './refs.js';
import type { StepDef } from './types.js';

export function stepFields(step: StepDef): Record<string, unknown> {
  return { with: step.with, run: step.run, inputs: step.inputs, outputs: step.outputs, env: step.env };
}

const refsOfStep = new WeakMap<StepDef, readonly RefAt[]>();

/**
 * Every reference in a step's fields, with its field path. The graph, the analyzer and the
 * fingerprint each need them; a StepDef is not changed once loaded (a matrix variant is a new
 * one), so they are found once per step rather than once per use (a 10,000-step plan walked
 * every step's fields five times).
 */
export function stepRefs(step: StepDef): readonly RefAt[] {
  let refs = refsOfStep.get(step);
  if (!refs) refsOfStep.set(step, (refs = walkRefs(stepFields(step), '')));
  return refs;
}
/** The value at a dotted path ('lora.rank') of a nested object. */
export function getPath(obj: unknown, dotted: string): unknown {
  let cur = obj;
  for (const k of dotted.split('.')) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * Dotted paths with a `*` segment ('datasets.*.file') expanded to every index of the array there
 * ('datasets.0.file', 'datasets.1.file'), so a step type can name input files inside a list.
 */
export function expandPaths(obj: unknown, dotted: string): string[] {
  const star = dotted.indexOf('*');
  if (star < 0) return [dotted];
  const head = dotted.slice(0, Math.max(0, star - 1));
  const tail = dotted.slice(star + 1);
  const list = head ? getPath(obj, head) : obj;
  if (!Array.isArray(list)) return [];
  return list.flatMap((_, i) => expandPaths(obj, `${head ? `${head}.` : ''}${i}${tail}`));
}

/** Sets the value at a dotted path when its parent object exists. */
export function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    if (!cur[k] || typeof cur[k] !== 'object') return;
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}
