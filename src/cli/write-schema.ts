// Generates schema/recipe.schema.json: the recipe schema with each step
// type's `with:` schema folded in, so editors (yaml-language-server) can
// autocomplete and check `with:` by `uses:`. Run with `npm run schema`;
// tests/schema.test.ts fails when the committed file is stale.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../root.js';
import { recipeSchema, stepSchema } from '../recipe/schema.js';
import type { StepRegistry } from '../steps/registry.js';
import { createStepRegistry } from './registry.js';

export async function buildEditorSchema(registry: StepRegistry = createStepRegistry()): Promise<object> {
  const branches = [];
  for (const name of registry.names()) {
    const type = await registry.get(name);
    branches.push({
      if: { properties: { uses: { const: name } }, required: ['uses'] },
      then: { properties: { with: { ...type.schema, description: type.description } } },
    });
  }
  const step = {
    ...stepSchema,
    properties: { ...stepSchema.properties, uses: { ...stepSchema.properties.uses, enum: registry.names() } },
    allOf: branches,
  };
  return { ...recipeSchema, properties: { ...recipeSchema.properties, steps: { ...recipeSchema.properties.steps, additionalProperties: step } } };
}

export const SCHEMA_FILE = join(ROOT, 'schema', 'recipe.schema.json');

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(SCHEMA_FILE, `${JSON.stringify(await buildEditorSchema(), null, 2)}\n`);
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
