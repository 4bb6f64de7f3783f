// The analyzer: turns a recipe file into a checked graph of prepared steps, or
// a diagnostic naming file, line and field. `flow validate`, `dag`, `plan` and
// `run` all start here, so a recipe is judged the same way everywhere (as
// wireit's analyzer.ts does for package.json scripts).
//
// It checks what the recipe schema alone cannot: step types exist, each
// `with:` matches its type's schema, and every ${...} reference names a real
// param, step, step output or environment variable. Schema defaults are
// applied in one place, `resolveStepWith`, at analysis and again with the real
// upstream paths at execution.

import { resolve as resolvePath } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { buildGraph, type Graph } from '../graph/dag.js';
import { RecipeError } from '../recipe/errors.js';
import { expandPaths, getPath, setPath, stepRefs } from '../recipe/fields.js';
import { resolveValue, resolveWith } from '../recipe/interpolate.js';
import { compiledValidator } from '../recipe/compiled-validator.js';
import { ajvToRecipeError, loadRecipe } from '../recipe/load.js';
import { expandMatrix } from '../recipe/matrix.js';
import type { Recipe, StepDef } from '../recipe/types.js';
import { expandCheckpoints } from './checkpoints.js';
import type { StepRegistry } from './registry.js';
import { crossFieldViolation } from './cross-field.js';
import { shellStepType } from './shell.js';
import { bindShellRefs } from './shell-refs.js';
import type { StepType } from './types.js';

export interface PreparedStep {
  def: StepDef;
  type: StepType;
  /** `with:` as analysed: params and env resolved, upstream outputs as placeholders, schema defaults applied. */
  with: Record<string, unknown>;
  /** Output name -> path relative to the work dir. */
  outputs: Record<string, string>;
}

export interface Analysis {
  recipe: Recipe;
  graph: Graph;
  /** Every step, in the recipe's order. */
  steps: Map<string, PreparedStep>;
  /** Plan-time warnings: the recipe runs, but one of its choices is probably a mistake. */
  warnings: string[];
}

export type AnalysisResult = { ok: true; analysis: Analysis } | { ok: false; diagnostic: RecipeError };

const compiled = new Map<string, ValidateFunction>();

function withValidator(type: StepType): ValidateFunction {
  let v = compiled.get(type.name);
  if (!v) {
    v = compiledValidator(`step-${type.name}`, type.schema, { allErrors: false, strict: false, useDefaults: true });
    compiled.set(type.name, v);
  }
  return v;
}

function outputsOf(type: StepType, w: Record<string, unknown>): Record<string, string> {
  return typeof type.outputs === 'function' ? type.outputs(w) : type.outputs;
}

/**
 * A step's `with:` as its type receives it: references resolved through `outputPath`, input-path
 * fields made absolute against the recipe's folder, schema defaults filled in. Returns the first
 * schema error instead when it does not validate.
 */
export function resolveStepWith(
  recipe: Recipe,
  def: StepDef,
  type: StepType,
  outputPath: (step: string, output: string) => string | undefined,
  absoluteInputs = true,
): { with: Record<string, unknown>; error?: ErrorObject } {
  if (def.run !== undefined) {
    // References reach the shell as variables (shell-refs.ts), each resolved as it would be spliced.
    const bound = bindShellRefs(def.run, (ref) => String(resolveValue(recipe, ref.text, outputPath)));
    return { with: { command: bound.command, vars: bound.vars } };
  }
  const w = resolveWith(recipe, def, outputPath);
  const validate = withValidator(type);
  const ok = validate(w); // applies schema defaults
  if (absoluteInputs) makeInputsAbsolute(w, type, recipe.dir);
  return ok ? { with: w } : { with: w, error: validate.errors![0] };
}

/** Input-path fields of `w` (the type's `inputs`) made absolute against `dir`, the recipe's folder, in place. */
export function makeInputsAbsolute(w: Record<string, unknown>, type: StepType, dir: string): Record<string, unknown> {
  for (const field of type.inputs.flatMap((f) => expandPaths(w, f))) {
    const v = getPath(w, field);
    if (typeof v === 'string' && v !== '') setPath(w, field, resolvePath(dir, v));
  }
  return w;
}

/** Loads, expands and checks a recipe. */
export async function analyze(file: string, sets: string[], registry: StepRegistry): Promise<AnalysisResult> {
  try {
    return { ok: true, analysis: await analyzeOrThrow(file, sets, registry) };
  } catch (e) {
    if (e instanceof RecipeError) return { ok: false, diagnostic: e };
    throw e;
  }
}

/** As analyze(), throwing the diagnostic (a RecipeError). */
export async function analyzeOrThrow(file: string, sets: string[], registry: StepRegistry): Promise<Analysis> {
  const { recipe, warnings } = await expandRecipe(file, sets, registry);
  const graph = buildGraph(recipe);
  const steps = await prepareSteps(recipe, registry);
  return { recipe, graph, steps, warnings };
}

/** The recipe with its matrix variants and per-checkpoint instances expanded. */
async function expandRecipe(file: string, sets: string[], registry: StepRegistry) {
  const expanded = expandMatrix(loadRecipe(file, sets));
  // Step types are loaded only for the training steps whose checkpoints are read.
  return expandCheckpoints(expanded, {
    typeOf: (def) => stepTypeOf(expanded, def, registry),
    resolvedWith: (def, type) => {
      const { with: w, error } = resolveStepWith(expanded, def, type, () => undefined, false);
      return error ? undefined : w;
    },
  });
}

/**
 * Loads, expands and builds the graph only, with no step checked: `flow dag`. Per-checkpoint
 * instances are drawn too (the step types of the steps whose checkpoints are read say which).
 */
export async function analyzeGraph(file: string, sets: string[], registry: StepRegistry): Promise<{ recipe: Recipe; graph: Graph }> {
  const { recipe } = await expandRecipe(file, sets, registry);
  return { recipe, graph: buildGraph(recipe) };
}

function posOf(recipe: Recipe, step: StepDef, field: string) {
  return recipe.positions.get(`steps.${step.baseId}.${field}`) ?? recipe.positions.get(`steps.${step.baseId}.${field}@key`) ?? step.pos;
}

async function stepTypeOf(recipe: Recipe, step: StepDef, registry: StepRegistry): Promise<StepType> {
  if (step.run !== undefined) return shellStepType(step);
  if (!registry.has(step.uses!)) {
    throw new RecipeError(`unknown step type "${step.uses}" (known: ${registry.names().join(', ')})`, posOf(recipe, step, 'uses'), `steps.${step.id}.uses`);
  }
  return registry.get(step.uses!);
}

function checkRefs(recipe: Recipe, step: StepDef): void {
  for (const { ref, path } of stepRefs(step)) {
    // Only placed when wrong: positions are found on first use (recipe/positions.ts).
    const at = () => posOf(recipe, step, path);
    const field = `steps.${step.id}.${path}`;
    if (ref.kind === 'invalid') throw new RecipeError(`bad reference ${ref.text}: ${ref.why}`, at(), field);
    if (ref.kind === 'params' && !(ref.name in recipe.params)) {
      const known = Object.keys(recipe.params);
      throw new RecipeError(`unknown param "${ref.name}"${known.length ? ` (params: ${known.join(', ')})` : ''}`, at(), field);
    }
    if (ref.kind === 'env' && process.env[ref.name] === undefined && ref.default === undefined) {
      throw new RecipeError(`environment variable ${ref.name} is not set (set it, or write \${env.${ref.name}:-default})`, at(), field);
    }
    if (ref.kind === 'steps' && !recipe.steps[ref.step]) {
      throw new RecipeError(`unknown step "${ref.step}" in ${ref.text} (steps: ${Object.keys(recipe.steps).join(', ')})`, at(), field);
    }
  }
}

function prepareOne(recipe: Recipe, step: StepDef, type: StepType): PreparedStep {
  checkRefs(recipe, step);
  if (step.run !== undefined) return { def: step, type, with: { command: step.run }, outputs: step.outputs };
  const { with: w, error } = resolveStepWith(recipe, step, type, () => undefined, false);
  if (error) throw withError(recipe, step, type, error);
  return { def: step, type, with: w, outputs: outputsOf(type, w) };
}

/** A schema error of a step's `with:`, placed in the file (a matrix copy's field named by its own id). */
function withError(recipe: Recipe, step: StepDef, type: StepType, error: ErrorObject): RecipeError {
  const at = `steps.${step.baseId}.with`;
  const rule = crossFieldViolation(type.schema, error);
  if (rule) {
    const written = (f: string) => recipe.positions.get(`${at}.${f}`) ?? recipe.positions.get(`${at}.${f}@key`);
    const field = rule.fields.find((f) => written(f)) ?? rule.fields[0];
    const pos = (field !== undefined ? written(field) : undefined) ?? posOf(recipe, step, 'with');
    return new RecipeError(rule.message, pos, `steps.${step.id}.with${field !== undefined ? `.${field}` : ''}`);
  }
  const rel = error.instancePath.split('/').slice(1).join('.');
  const e = ajvToRecipeError(error, `${at}${rel ? `.${rel}` : ''}`, recipe.positions, step.pos);
  return new RecipeError(e.message, e.pos, e.field?.replace(`steps.${step.baseId}.`, `steps.${step.id}.`));
}

/** Output names a step references exist on the referenced step. */
function checkOutputNames(recipe: Recipe, prepared: Map<string, PreparedStep>): void {
  for (const p of prepared.values()) {
    for (const { ref, path } of stepRefs(p.def)) {
      if (ref.kind !== 'steps') continue;
      const up = prepared.get(ref.step)!;
      if (!(ref.output in up.outputs)) {
        const known = Object.keys(up.outputs);
        throw new RecipeError(
          `step "${ref.step}" has no output "${ref.output}" (outputs: ${known.join(', ') || 'none'})`,
          posOf(recipe, p.def, path),
          `steps.${p.def.id}.${path}`,
        );
      }
    }
  }
}

export async function prepareSteps(recipe: Recipe, registry: StepRegistry): Promise<Map<string, PreparedStep>> {
  // Types first, so references to outputs can be checked against declared names.
  const types = new Map<string, StepType>();
  for (const step of Object.values(recipe.steps)) types.set(step.id, await stepTypeOf(recipe, step, registry));
  const prepared = new Map<string, PreparedStep>();
  for (const step of Object.values(recipe.steps)) prepared.set(step.id, prepareOne(recipe, step, types.get(step.id)!));
  checkOutputNames(recipe, prepared);
  return prepared;
}
