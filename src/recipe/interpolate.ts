// Substitutes `${...}` references in recipe values. A string that is exactly
// one reference takes the referenced value's type (`rank: ${params.r}` stays a
// number); a reference inside a longer string is spliced in as text.

import { REF_PATTERN, parseRef, type Ref } from './refs.js';
import type { Recipe, StepDef } from './types.js';

export type RefResolver = (ref: Ref) => unknown;

export function interpolate(value: unknown, resolve: RefResolver): unknown {
  if (typeof value === 'string') return interpolateString(value, resolve);
  if (Array.isArray(value)) return value.map((v) => interpolate(v, resolve));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, resolve);
    return out;
  }
  return value;
}

function interpolateString(s: string, resolve: RefResolver): unknown {
  const whole = /^\$\{([^}]*)\}$/.exec(s);
  if (whole) return resolve(parseRef(whole[1]!, s));
  return s.replace(REF_PATTERN, (text, inner: string) => {
    const v = resolve(parseRef(inner, text));
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
}

function refValue(recipe: Recipe, ref: Ref): unknown {
  if (ref.kind === 'params') return recipe.params[ref.name];
  // An unset variable without a default was refused at plan time (check.ts).
  if (ref.kind === 'env') return process.env[ref.name] ?? ref.default ?? '';
  return ref.text;
}

/**
 * A recipe value with every reference resolved: params, env, and upstream outputs
 * through `outputPath` (undefined while unknown, e.g. at plan time, which leaves a placeholder path).
 */
export function resolveValue(recipe: Recipe, value: unknown, outputPath: (step: string, output: string) => string | undefined): unknown {
  return interpolate(value, (ref) => {
    if (ref.kind === 'steps') return outputPath(ref.step, ref.output) ?? `/flow/steps/${ref.step}/outputs/${ref.output}`;
    return refValue(recipe, ref);
  });
}

/** A step's `with:` resolved; input-path fields are left relative here (the runner makes them absolute). */
export function resolveWith(
  recipe: Recipe,
  step: StepDef,
  outputPath: (step: string, output: string) => string | undefined,
): Record<string, unknown> {
  return resolveValue(recipe, step.with, outputPath) as Record<string, unknown>;
}
