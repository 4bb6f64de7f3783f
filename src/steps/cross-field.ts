// Cross-field rules of a step type's `with:` schema: `if`/`then` pairs (in the
// schema's allOf) such as "tp above 1 needs finetuning: full". ajv reports a
// failed `then` by the keyword inside it ("must be equal to constant" at
// /finetuning, or a `required` at the top), which says what to change but not
// why. Each `then` carries a `description`, the rule in words: it becomes the
// message, and the error is placed on the field the user wrote that the rule
// concerns (the field the `then` constrains, else the field that triggered the
// `if`), since a defaulted field has no place in the file.

import type { ErrorObject } from 'ajv';
import type { JsonSchema } from './types.js';

export interface CrossFieldViolation {
  /** The rule in words (the `then` schema's description). */
  message: string;
  /** `with:`-relative dotted paths to place the error on, best first. */
  fields: string[];
}

type Schema = Record<string, unknown>;

/** The rule an ajv error broke, when it was raised inside an `if`/`then` that describes itself. */
export function crossFieldViolation(schema: JsonSchema, err: ErrorObject): CrossFieldViolation | undefined {
  const parts = err.schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const at = parts.lastIndexOf('then');
  if (at < 0) return undefined;
  const owner = walk(schema as Schema, parts.slice(0, at));
  const then = owner?.then as Schema | undefined;
  if (!then || typeof then.description !== 'string') return undefined;
  // The nested object the rule sits in (an `if`/`then` under properties.lora applies to lora's fields).
  const base = parts.slice(0, at).filter((p, i, a) => a[i - 1] === 'properties');
  const prefix = (k: string) => [...base, k].join('.');
  const own = err.instancePath.split('/').slice(1).join('.');
  const missing = err.keyword === 'required' ? (err.params as { missingProperty: string }).missingProperty : undefined;
  const fields: string[] = [];
  if (missing) fields.push(own ? `${own}.${missing}` : missing);
  else if (own) fields.push(own);
  const trigger = (owner!.if as Schema | undefined)?.required;
  if (Array.isArray(trigger)) fields.push(...trigger.map((k) => prefix(String(k))));
  return { message: then.description, fields };
}

function walk(schema: Schema, path: string[]): Schema | undefined {
  let node: unknown = schema;
  for (const p of path) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node && typeof node === 'object' ? (node as Schema) : undefined;
}
