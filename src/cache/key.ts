// A step's cache key is the SHA-256 of its fingerprint: everything that can
// change what the step produces, and nothing else.
//
//   v         the fingerprint format version (bumped when this composition changes)
//   type      step type ('python:sft', 'spider-sft', 'run')
//   impl      content digest of each of the step type's source files
//   fields    the step's with/run/inputs/outputs/env as written, references unresolved
//   params    the value of every ${params.X} the step references
//   env       the value of every ${env.X} the step references
//   inputs    content digest of every input file or folder (with: path fields, inputs: globs)
//   upstream  content digest of every upstream output it references (or all outputs, for needs:)
//
// Paths of upstream outputs never enter the key, their content does: a step
// whose upstream re-ran but produced identical bytes stays cached.

import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { stepFields } from '../graph/dag.js';
import { RecipeError } from '../recipe/errors.js';
import { resolveValue, resolveWith } from '../recipe/interpolate.js';
import { walkRefs } from '../recipe/refs.js';
import type { Recipe, StepDef } from '../recipe/types.js';
import type { StepType } from '../steps/types.js';
import type { FileStates } from './file-state.js';
import { canonicalJson, sha256 } from './hash.js';

export const FINGERPRINT_VERSION = 1;

export interface Fingerprint {
  v: number;
  type: string;
  impl: Record<string, string>;
  fields: Record<string, unknown>;
  params: Record<string, unknown>;
  env: Record<string, string | null>;
  inputs: Record<string, string>;
  upstream: Record<string, string>;
}

export function keyOf(fp: Fingerprint): string {
  return sha256(canonicalJson(fp)).slice(0, 40);
}

/** Digest per source file of a step type (folders expand to their files). */
export async function implDigests(type: StepType, root: string, files: FileStates): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const src of type.sources) {
    const abs = resolve(root, src);
    const d = await files.digest(abs);
    out[src] = d.digest;
  }
  return out;
}

/** The parts of a fingerprint known before any upstream step has run. */
export async function localFingerprint(
  recipe: Recipe,
  step: StepDef,
  type: StepType,
  impl: Record<string, string>,
  files: FileStates,
): Promise<Omit<Fingerprint, 'upstream'>> {
  const fields = stepFields(step);
  const params: Record<string, unknown> = {};
  const env: Record<string, string | null> = {};
  for (const { ref } of walkRefs(fields, '')) {
    if (ref.kind === 'params') params[ref.name] = recipe.params[ref.name];
    if (ref.kind === 'env') env[ref.name] = process.env[ref.name] ?? ref.default ?? null;
  }
  const inputs: Record<string, string> = {};
  const resolvedWith = resolveWith(recipe, step, () => undefined);
  for (const field of type.inputs) {
    const value = getPath(resolvedWith, field);
    // An upstream output is tracked by its content digest in `upstream`, not here.
    if (typeof value !== 'string' || value === '' || hasStepRef(getPath(step.with, field))) continue;
    const abs = resolve(recipe.dir, value);
    try {
      inputs[`with.${field}`] = (await files.digest(abs)).digest;
    } catch {
      throw new RecipeError(
        `input not found: ${abs}`,
        recipe.positions.get(`steps.${step.baseId}.with.${field}`) ?? step.pos,
        `steps.${step.id}.with.${field}`,
      );
    }
  }
  for (const [i, pattern] of step.inputs.entries()) {
    const p = String(resolveValue(recipe, pattern, () => undefined));
    const at = recipe.positions.get(`steps.${step.baseId}.inputs.${i}`) ?? step.pos;
    if (isDynamicPattern(p)) {
      const matches = await glob(p, { cwd: recipe.dir, absolute: true, onlyFiles: false, dot: false });
      if (!matches.length) throw new RecipeError(`no file matches ${p}`, at, `steps.${step.id}.inputs.${i}`);
      for (const m of matches.sort()) inputs[`inputs.${relative(recipe.dir, m)}`] = (await files.digest(m)).digest;
    } else {
      const abs = isAbsolute(p) ? p : resolve(recipe.dir, p);
      if (!existsSync(abs)) throw new RecipeError(`input not found: ${abs}`, at, `steps.${step.id}.inputs.${i}`);
      inputs[`inputs.${p}`] = (await files.digest(abs)).digest;
    }
  }
  return { v: FINGERPRINT_VERSION, type: type.name, impl, fields, params, env, inputs };
}

function hasStepRef(v: unknown): boolean {
  return typeof v === 'string' && [...walkRefs(v, '')].some(({ ref }) => ref.kind === 'steps');
}


export function getPath(obj: unknown, dotted: string): unknown {
  let cur = obj;
  for (const k of dotted.split('.')) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

export function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    if (!cur[k] || typeof cur[k] !== 'object') return;
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}
