// A Python step's manifest, python-steps/<name>.json: what the step type python:<name> is (its
// `with:` schema, outputs, inputs, GPU rules, model folders, checkpoints). Its form is itself a JSON
// Schema, schema/python-step-manifest.schema.json, checked with ajv when the step types load, so a
// misspelt or stale field stops flow with the manifest's name and the field's path.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ErrorObject } from 'ajv';
import { ROOT } from '../root.js';
import type { JsonSchema } from '../steps/types.js';
import type { GpuRule } from './gpu-rules.js';
import type { ModelField } from './model-folder.js';

export interface PythonStepManifest {
  description: string;
  /** Script file in python-steps/; default <name>.py with '-' as '_'. */
  script?: string;
  /** Requirement files, beyond requirements.txt, of an env of its own it may run in (predict's
   * requirements-vllm.txt): part of its implementation version. Its code needs no list: the step
   * script and the whole flow_runtime package are. */
  requirements?: string[];
  schema: JsonSchema;
  outputs: Record<string, string>;
  /** Outputs that exist only for some values of a field (sft: adapter for lora, model for full). */
  outputs_when?: Array<{ field: string; in: unknown[]; outputs: Record<string, string> }>;
  inputs: string[];
  gpu_options?: GpuRule[];
  /** `with:` fields naming model or adapter folders, checked at plan time (model-folder.ts). */
  models?: ModelField[];
  /** The largest model (`field`'s folder, counted from its config.json) the step runs where there is
   * no CUDA without --allow-cpu. */
  cpu_limit?: { field: string; params: number; why: string };
  /**
   * Checkpoints committed as outputs `checkpoint_<step>` when the boolean field `when` is true:
   * every `every` steps, and at `until` (fields naming step counts: save_steps, max_steps).
   */
  checkpoints?: { when: string; every: string; until: string };
  /** Names of the figures its metrics output records. */
  metrics?: string[];
}

/** A compiled check of a value against a JSON Schema (ajv's ValidateFunction, or one built from it). */
export interface SchemaCheck {
  (value: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/** Compiles a schema under a name: the composition root passes one that keeps ajv's compiled code
 * between processes (src/recipe/compiled-validator.ts), so loading the step types costs no compile. */
export type CompileSchema = (name: string, schema: object) => SchemaCheck;

export const MANIFEST_SCHEMA_FILE = join(ROOT, 'schema', 'python-step-manifest.schema.json');

/** ajv in memory: for callers that pass no compiler (tests, scripts). */
export const compileInMemory: CompileSchema = (_name, schema) => {
  const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  return new Ajv({ allErrors: true, strict: false }).compile(schema);
};

let manifestCheck: { compile: CompileSchema; check: SchemaCheck } | undefined;

function checkFor(compile: CompileSchema): SchemaCheck {
  if (manifestCheck?.compile !== compile) {
    const schema = JSON.parse(readFileSync(MANIFEST_SCHEMA_FILE, 'utf8')) as object;
    manifestCheck = { compile, check: compile('python-step-manifest', schema) };
  }
  return manifestCheck.check;
}

/** A manifest read and checked against the manifest schema; an error names the file and every broken field. */
export function readManifest(file: string, compile: CompileSchema = compileInMemory): PythonStepManifest {
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a valid step manifest: ${(e as Error).message}`);
  }
  const check = checkFor(compile);
  if (!check(m)) {
    const problems = (check.errors ?? []).map((e) => {
      const extra = e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : '';
      return `${e.instancePath || '(manifest)'}: ${e.message}${extra}`;
    });
    throw new Error(`${file}: not a valid step manifest (${MANIFEST_SCHEMA_FILE.slice(ROOT.length + 1)}): ${problems.join('; ')}`);
  }
  return m as PythonStepManifest;
}
