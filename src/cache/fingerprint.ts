// A step's cache key is the SHA-256 of its fingerprint: everything that can
// change what the step produces, and nothing else (after wireit's
// fingerprint.ts). Each field is documented on the interface below.
//
// Paths of upstream outputs never enter the key, their content does: a step
// whose upstream re-ran but produced identical bytes stays cached (early
// cut-off). What does NOT enter it, on purpose: the executor (local or Slurm
// produce the same bytes), resources (GPU count changes speed, not results),
// the run id and every absolute path of the cache.

import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { RecipeError, setHint, throwAll } from '../recipe/errors.js';
import { resolveValue, resolveWith } from '../recipe/interpolate.js';
import { expandPaths, getPath, stepFields, stepRefs } from '../recipe/fields.js';
import { walkRefs } from '../recipe/refs.js';
import type { Recipe, StepDef } from '../recipe/types.js';
import type { StepSettings, StepType } from '../steps/types.js';
import { absolute, dirPrefix, type FileStates } from './file-state.js';
import { canonicalJson, sha256 } from './hash.js';

export const FINGERPRINT_VERSION = 1;

export interface Fingerprint {
  /** The fingerprint format version, bumped when this composition changes (so old keys miss, not collide). */
  v: number;
  /** The step type: 'python:sft', 'spider-sft', or 'run' for shell steps. */
  type: string;
  /** Content digest of each of the step type's source files (folders expand): editing sft.py re-runs train. */
  impl: Record<string, string>;
  /** The step's with/run/inputs/outputs/env as written in the recipe, references unresolved. */
  fields: Record<string, unknown>;
  /** The value of every ${params.X} the step references (and only those: other params do not touch it). */
  params: Record<string, unknown>;
  /** The value of every ${env.X} the step references; null when unset. */
  env: Record<string, string | null>;
  /** Content digest of every input file or folder: `with:` fields the type declares as paths, `inputs:` globs. */
  inputs: Record<string, string>;
  /** Content digest of every upstream output the step references ('train.adapter'), or of a whole result for `needs:`. */
  upstream: Record<string, string>;
}

/** The digests `upstreamDigests` needs of an upstream result (a cache entry). */
export interface UpstreamResult {
  /** Digest of the whole result (all outputs). */
  digest: string;
  outputs: Record<string, { digest: string }>;
}

export function keyOf(fp: Fingerprint): string {
  return sha256(canonicalJson(fp)).slice(0, 40);
}

/** Digest per source file of a step type (folders expand to their files). */
export async function implDigests(type: StepType, root: string, files: FileStates, settings?: StepSettings): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const src of type.sources) {
    const abs = resolve(root, src);
    const d = await files.digest(abs);
    out[src] = d.digest;
  }
  // The environment that runs the code is part of the implementation (step type's `runtime`).
  if (type.runtime && settings) for (const [k, v] of Object.entries(await type.runtime(settings))) out[`runtime:${k}`] = v;
  return out;
}

function mentionsStepId(step: StepDef): boolean {
  const mentions = (t: string | undefined) => t !== undefined && t.includes('FLOW_STEP_ID');
  return mentions(step.run) || Object.values(step.env).some(mentions);
}

/** The parts of a fingerprint known before any upstream step has run. */
export async function localFingerprint(
  recipe: Recipe,
  step: StepDef,
  type: StepType,
  impl: Record<string, string>,
  files: FileStates,
  /** Only check that the inputs exist (a plan that already failed): no digest is worth its reading. */
  checkOnly = false,
): Promise<Omit<Fingerprint, 'upstream'>> {
  const digest = async (abs: string) => {
    if (!checkOnly) return (await files.digest(abs)).digest;
    if (!existsSync(abs)) throw new Error(`not found: ${abs}`);
    return '';
  };
  const fields = stepFields(step);
  const params: Record<string, unknown> = {};
  const env: Record<string, string | null> = {};
  for (const { ref } of stepRefs(step)) {
    if (ref.kind === 'params') params[ref.name] = recipe.params[ref.name];
    if (ref.kind === 'env') env[ref.name] = process.env[ref.name] ?? ref.default ?? null;
  }
  // A step whose command reads its own id can print it: two steps with the same text would
  // otherwise share one result. Only such steps key on their id, so renaming any other step,
  // or two steps running one command, still share (a program reading it unseen: pass it in run:).
  if (mentionsStepId(step)) env.FLOW_STEP_ID = step.id;
  const inputs: Record<string, string> = {};
  // Every missing input is reported, not only the first: a recipe moved to a new machine
  // usually lacks several (the model, the data), and each costs the user one more attempt.
  const missing: RecipeError[] = [];
  const resolvedWith = resolveWith(recipe, step, () => undefined);
  for (const field of type.inputs.flatMap((f) => expandPaths(resolvedWith, f))) {
    const value = getPath(resolvedWith, field);
    const raw = getPath(step.with, field);
    // An upstream output is tracked by its content digest in `upstream`, not here.
    if (typeof value !== 'string' || value === '' || hasStepRef(raw)) continue;
    const abs = resolve(recipe.dir, value);
    try {
      inputs[`with.${field}`] = await digest(abs);
    } catch {
      missing.push(
        new RecipeError(
          `input not found: ${abs}${setHint(raw, 'PATH')}`,
          recipe.positions.get(`steps.${step.baseId}.with.${field}`) ?? step.pos,
          `steps.${step.id}.with.${field}`,
        ),
      );
    }
  }
  // tinyglobby (with fdir and picomatch) loads only for a step that has `inputs:`: most plans have none.
  if (step.inputs.length) {
    const { glob, isDynamicPattern } = await import('tinyglobby');
    for (const [i, pattern] of step.inputs.entries()) {
      const p = String(resolveValue(recipe, pattern, () => undefined));
      const at = () => recipe.positions.get(`steps.${step.baseId}.inputs.${i}`) ?? step.pos;
      if (isDynamicPattern(p)) {
        const matches = await glob(p, { cwd: recipe.dir, absolute: true, onlyFiles: false, dot: false });
        if (!matches.length) missing.push(new RecipeError(`no file matches ${p}${setHint(pattern, 'PATH')}`, at(), `steps.${step.id}.inputs.${i}`));
        matches.sort();
        if (checkOnly) for (const m of matches) inputs[`inputs.${relative(recipe.dir, m)}`] = await digest(m);
        else {
          const digests = await files.digestMany(matches);
          const under = dirPrefix(recipe.dir);
          // relative() normalises both paths per call; a normal match under the recipe's folder is a suffix.
          const rel = (m: string) => (m.startsWith(under) && absolute(m) === m ? m.slice(under.length) : relative(recipe.dir, m));
          matches.forEach((m, j) => (inputs[`inputs.${rel(m)}`] = digests[j]!.digest));
        }
      } else {
        const abs = isAbsolute(p) ? p : resolve(recipe.dir, p);
        if (!existsSync(abs)) missing.push(new RecipeError(`input not found: ${abs}${setHint(pattern, 'PATH')}`, at(), `steps.${step.id}.inputs.${i}`));
        else inputs[`inputs.${p}`] = await digest(abs);
      }
    }
  }
  throwAll(missing);
  return { v: FINGERPRINT_VERSION, type: type.name, impl, fields, params, env, inputs };
}

function hasStepRef(v: unknown): boolean {
  return typeof v === 'string' && walkRefs(v, '').some(({ ref }) => ref.kind === 'steps');
}

/**
 * Upstream digests a step's key depends on: referenced outputs, or whole results for needs:.
 * Undefined while some upstream result is not known yet (it has still to run).
 */
export function upstreamDigests(step: StepDef, resultOf: (id: string) => UpstreamResult | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const { ref } of stepRefs(step)) {
    if (ref.kind !== 'steps') continue;
    const e = resultOf(ref.step);
    if (!e) return undefined;
    out[`${ref.step}.${ref.output}`] = e.outputs[ref.output]!.digest;
  }
  for (const n of step.needs) {
    const e = resultOf(n);
    if (!e) return undefined;
    out[n] = e.digest;
  }
  return out;
}
