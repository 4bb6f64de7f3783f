// The committed editor schema must match what the step types declare today.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { buildEditorSchema, SCHEMA_FILE } from '../src/cli/write-schema.js';

it('schema/recipe.schema.json is up to date (npm run schema)', async () => {
  const committed = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'));
  expect(committed).toEqual(await buildEditorSchema());
});
