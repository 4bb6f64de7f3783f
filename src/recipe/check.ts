// Checks what the recipe schema alone cannot: step types exist, each `with:`
// matches its type's schema, and every ${...} reference names a real param,
// step output or environment variable. Positions come from the loaded file.

import { Ajv, type ValidateFunction } from 'ajv';
import { stepFields } from '../graph/dag.js';
import { shellStepType } from '../steps/shell.js';
import type { StepRegistry } from '../steps/registry.js';
import type { StepType } from '../steps/types.js';
import { RecipeError } from './errors.js';
import { resolveWith } from './interpolate.js';
import { ajvToRecipeError } from './load.js';
import { walkRefs } from './refs.js';
import type { Recipe, StepDef } from './types.js';

export interface PreparedStep {
  def: StepDef;
  type: StepType;
  /** Output name -> path relative to the work dir. */
  outputs: Record<string, string>;
}

const ajv = new Ajv({ allErrors: false, strict: false, useDefaults: true });
const compiled = new Map<string, ValidateFunction>();

export function withValidator(type: StepType): ValidateFunction {
  let v = compiled.get(type.name);
  if (!v) {
    v = ajv.compile(type.schema);
    compiled.set(type.name, v);
  }
  return v;
}

export function outputsOf(type: StepType, w: Record<string, unknown>): Record<string, string> {
  return typeof type.outputs === 'function' ? type.outputs(w) : type.outputs;
}

export async function checkRecipe(recipe: Recipe, registry: StepRegistry): Promise<Map<string, PreparedStep>> {
  const prepared = new Map<string, PreparedStep>();
  const posOf = (step: StepDef, field: string) =>
    recipe.positions.get(`steps.${step.baseId}.${field}`) ?? recipe.positions.get(`steps.${step.baseId}.${field}@key`) ?? step.pos;

  // Types first, so references to outputs can be checked against declared names.
  for (const step of Object.values(recipe.steps)) {
    let type: StepType;
    if (step.run !== undefined) type = shellStepType(step);
    else if (!registry.has(step.uses!)) {
      throw new RecipeError(
        `unknown step type "${step.uses}" (known: ${registry.names().join(', ')})`,
        posOf(step, 'uses'),
        `steps.${step.id}.uses`,
      );
    } else type = await registry.get(step.uses!);
    prepared.set(step.id, { def: step, type, outputs: {} });
  }

  for (const id of Object.keys(recipe.steps)) {
    const p = prepared.get(id)!;
    const step = p.def;
    for (const { ref, path } of walkRefs(stepFields(step), '')) {
      const at = posOf(step, path);
      const field = `steps.${id}.${path}`;
      if (ref.kind === 'invalid') throw new RecipeError(`bad reference ${ref.text}: ${ref.why}`, at, field);
      if (ref.kind === 'params' && !(ref.name in recipe.params)) {
        const known = Object.keys(recipe.params);
        throw new RecipeError(`unknown param "${ref.name}"${known.length ? ` (params: ${known.join(', ')})` : ''}`, at, field);
      }
      if (ref.kind === 'env' && process.env[ref.name] === undefined && ref.default === undefined) {
        throw new RecipeError(`environment variable ${ref.name} is not set (set it, or write \${env.${ref.name}:-default})`, at, field);
      }
      if (ref.kind === 'steps' && !recipe.steps[ref.step]) {
        throw new RecipeError(`unknown step "${ref.step}" in ${ref.text} (steps: ${Object.keys(recipe.steps).join(', ')})`, at, field);
      }
    }
    if (step.run !== undefined) {
      p.outputs = step.outputs;
      continue;
    }
    const w = resolveWith(recipe, step, () => undefined);
    const validate = withValidator(p.type);
    if (!validate(w)) {
      const err = validate.errors![0]!;
      const rel = err.instancePath.split('/').slice(1).join('.');
      const e = ajvToRecipeError(err, `steps.${step.baseId}.with${rel ? `.${rel}` : ''}`, recipe.positions, step.pos);
      throw new RecipeError(e.message, e.pos, e.field?.replace(`steps.${step.baseId}.`, `steps.${id}.`));
    }
    p.outputs = outputsOf(p.type, w);
  }

  // Output names exist on the referenced step.
  for (const p of prepared.values()) {
    for (const { ref, path } of walkRefs(stepFields(p.def), '')) {
      if (ref.kind !== 'steps') continue;
      const up = prepared.get(ref.step)!;
      if (!(ref.output in up.outputs)) {
        const known = Object.keys(up.outputs);
        throw new RecipeError(
          `step "${ref.step}" has no output "${ref.output}" (outputs: ${known.join(', ') || 'none'})`,
          posOf(p.def, path),
          `steps.${p.def.id}.${path}`,
        );
      }
    }
  }
  return prepared;
}
