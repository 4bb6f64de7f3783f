// Matrix expansion: a recipe with `matrix:` becomes an ordinary DAG in which
// only the steps that depend on a swept param are copied per variant. A step
// that depends on no axis (directly or through its upstream steps) stays one
// shared step, so data preparation and the like run once for all variants.
//
// Variants follow GitHub Actions semantics: the cross product of the axes,
// minus every combination matching an `exclude` entry, plus `include` entries
// that match no remaining combination.

import { RecipeError } from './errors.js';
import { nameTooLong } from './name-length.js';
import { REF_PATTERN, parseRef, refsInString } from './refs.js';
import type { MatrixDef, Recipe, SourcePos, StepDef } from './types.js';

export type Variant = Record<string, unknown>;

/**
 * The axis of per-checkpoint instances (`eval_val[ckpt=200]`, src/steps/checkpoints.ts): named
 * like a matrix axis, read by reports and trackers to place a score at its training step.
 */
export const CKPT_AXIS = 'ckpt';

/** Expands `recipe.matrix` into per-variant step instances; a recipe without matrix is returned as is. */
export function expandMatrix(recipe: Recipe): Recipe {
  if (!recipe.matrix) return recipe;
  const axes = Object.keys(recipe.matrix.axes);
  const variants = matrixVariants(recipe);
  const deps = axisDependence(recipe, axes);

  // base id -> its instances; a shared step is its own single instance with an empty variant.
  const instances: Instances = new Map();
  const shared = new Set<string>();
  for (const id of Object.keys(recipe.steps)) {
    const own = axes.filter((a) => deps.get(id)!.has(a));
    if (own.length === 0) {
      shared.add(id);
      instances.set(id, [{ id, variant: {} }]);
    } else {
      instances.set(id, distinctProjections(variants, own).map((variant) => ({ id: variantId(id, variant), variant })));
    }
  }

  const steps: Record<string, StepDef> = {};
  for (const [id, step] of Object.entries(recipe.steps)) {
    for (const inst of instances.get(id)!) {
      const long = nameTooLong(`a step name with its matrix values (${inst.id.slice(0, 40)}…)`, inst.id);
      if (long) throw new RecipeError(long, step.pos, `steps.${id}`);
    }
    if (shared.has(id)) steps[id] = step;
    else for (const inst of instances.get(id)!) steps[inst.id] = instantiate(step, inst.id, inst.variant, instances);
  }

  return { ...recipe, steps, positions: withInstancePositions(recipe, instances) };
}

/** The variant list of a recipe's matrix, every variant carrying every axis in declaration order. */
export function matrixVariants(recipe: Recipe): Variant[] {
  const m = recipe.matrix;
  if (!m) return [];
  validate(recipe, m);
  const axes = Object.keys(m.axes);
  let combos: Variant[] = [{}];
  for (const axis of axes) combos = combos.flatMap((c) => m.axes[axis]!.map((v) => ({ ...c, [axis]: v })));
  combos = combos.filter((c) => !m.exclude.some((ex) => matches(c, ex)));
  for (const inc of m.include) {
    if (combos.some((c) => matches(c, inc))) continue;
    // An include entry that leaves an axis out takes the param's own value for it.
    const full: Variant = {};
    for (const axis of axes) full[axis] = axis in inc ? inc[axis] : recipe.params[axis];
    if (!combos.some((c) => matches(c, full))) combos.push(full);
  }
  if (combos.length === 0) throw matrixError(recipe, 'matrix.exclude', 'excludes every combination; nothing to run');
  return combos;
}

/** `train` + {lora_rank: 32, finetuning: 'lora'} -> `train[lora_rank=32,finetuning=lora]`. */
export function variantId(base: string, variant: Variant): string {
  const parts = Object.entries(variant).map(([k, v]) => `${k}=${valueText(v)}`);
  return parts.length ? `${base}[${parts.join(',')}]` : base;
}

function validate(recipe: Recipe, m: MatrixDef): void {
  const axes = Object.keys(m.axes);
  if (axes.length === 0) throw matrixError(recipe, 'matrix', 'declares no axes');
  for (const axis of axes) {
    if (!(axis in recipe.params)) {
      throw matrixError(recipe, `matrix.${axis}`, `'${axis}' is not a param; declare it under params: with a default`);
    }
    const values = m.axes[axis];
    if (!Array.isArray(values) || values.length === 0) {
      throw matrixError(recipe, `matrix.${axis}`, 'must list at least one value');
    }
  }
  for (const field of ['include', 'exclude'] as const) {
    m[field].forEach((entry, i) => {
      for (const key of Object.keys(entry)) {
        if (!axes.includes(key)) {
          throw matrixError(
            recipe,
            `matrix.${field}.${i}.${key}`,
            `'${key}' is not a matrix axis (axes: ${axes.join(', ')})`,
          );
        }
      }
    });
  }
}

/**
 * `path` is the field as written in YAML (axes sit directly under matrix:).
 * The message itself carries file, place and field, so it reads the same
 * whether printed by RecipeError.format() or as a plain Error.
 */
function matrixError(recipe: Recipe, path: string, message: string): RecipeError {
  // The closest recorded position: the field's key, the field, else its nearest parent.
  let pos: SourcePos | undefined;
  for (let p = path; p && !pos; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    pos = recipe.positions.get(`${p}@key`) ?? recipe.positions.get(p);
  }
  const where = pos ? `${recipe.file}:${pos.line}:${pos.col}` : recipe.file;
  return new RecipeError(`${where}: ${path}: ${message}`);
}

function matches(combo: Variant, partial: Variant): boolean {
  return Object.entries(partial).every(([k, v]) => k in combo && sameValue(combo[k], v));
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function valueText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function distinctProjections(variants: Variant[], axes: string[]): Variant[] {
  const seen = new Map<string, Variant>();
  for (const v of variants) {
    const p: Variant = {};
    for (const a of axes) p[a] = v[a];
    const key = JSON.stringify(p);
    if (!seen.has(key)) seen.set(key, p);
  }
  return [...seen.values()];
}

/** Step id -> the axes it depends on, directly or through any upstream step. */
function axisDependence(recipe: Recipe, axes: string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const visiting = new Set<string>();
  const visit = (id: string): Set<string> => {
    const done = out.get(id);
    if (done) return done;
    const step = recipe.steps[id];
    // Unknown steps and cycles are reported by the graph check; here they add nothing.
    if (!step || visiting.has(id)) return new Set();
    visiting.add(id);
    const deps = new Set<string>();
    for (const ref of stepRefs(step)) {
      if (ref.kind === 'params' && axes.includes(ref.name)) deps.add(ref.name);
      if (ref.kind === 'steps') for (const a of visit(ref.step)) deps.add(a);
    }
    for (const need of step.needs) for (const a of visit(need)) deps.add(a);
    visiting.delete(id);
    out.set(id, deps);
    return deps;
  };
  for (const id of Object.keys(recipe.steps)) visit(id);
  return out;
}

function stepRefs(step: StepDef) {
  const strings: string[] = [];
  collectStrings(step.with, strings);
  if (step.run !== undefined) strings.push(step.run);
  strings.push(...step.inputs, ...Object.values(step.outputs), ...Object.values(step.env));
  return strings.flatMap(refsInString);
}

function collectStrings(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) collectStrings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectStrings(v, out);
}

type Instances = Map<string, Array<{ id: string; variant: Variant }>>;

function instantiate(step: StepDef, id: string, variant: Variant, instances: Instances): StepDef {
  // The upstream instance that agrees with this variant on every axis they share.
  const upstream = (base: string): string => {
    const list = instances.get(base);
    if (!list) return base;
    const hit = list.find((inst) => matches(variant, inst.variant));
    return hit ? hit.id : base;
  };
  const subst = (s: string): string =>
    s.replace(REF_PATTERN, (text, inner: string) => {
      const ref = parseRef(inner, text);
      if (ref.kind === 'params' && ref.name in variant) return valueText(variant[ref.name]);
      if (ref.kind === 'steps' && upstream(ref.step) !== ref.step) {
        return `\${steps.${upstream(ref.step)}.outputs.${ref.output}}`;
      }
      return text;
    });
  // In `with:`, a value that is exactly one axis reference keeps the axis value's type.
  const substTyped = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const whole = /^\$\{([^}]*)\}$/.exec(value);
      if (whole) {
        const ref = parseRef(whole[1]!, value);
        if (ref.kind === 'params' && ref.name in variant) return variant[ref.name];
      }
      return subst(value);
    }
    if (Array.isArray(value)) return value.map(substTyped);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substTyped(v)]));
    }
    return value;
  };
  const mapValues = (r: Record<string, string>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, subst(v)]));
  return {
    ...step,
    id,
    baseId: step.baseId || step.id,
    variant,
    with: substTyped(step.with) as Record<string, unknown>,
    ...(step.run !== undefined ? { run: subst(step.run) } : {}),
    inputs: step.inputs.map(subst),
    outputs: mapValues(step.outputs),
    env: mapValues(step.env),
    needs: step.needs.map(upstream),
  };
}

/** Instances answer position look-ups under their own id ('steps.train[r=1].with.x') like their base. */
function withInstancePositions(recipe: Recipe, instances: Instances): Recipe['positions'] {
  const positions = new Map(recipe.positions);
  for (const [base, list] of instances) {
    const prefix = `steps.${base}`;
    for (const inst of list) {
      if (inst.id === base) continue;
      for (const [key, pos] of recipe.positions) {
        if (key === prefix || key.startsWith(`${prefix}.`) || key.startsWith(`${prefix}@`)) positions.set(`steps.${inst.id}${key.slice(prefix.length)}`, pos);
      }
    }
  }
  return positions;
}
