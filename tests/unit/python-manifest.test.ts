// A Python step's manifest is checked against schema/python-step-manifest.schema.json (ajv) when the
// step types load: every shipped one passes, and a stale or misspelt field, a `with:` schema that
// accepts unknown options or a GPU rule without its reason stops flow naming the file and the field.

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readManifest } from '../../src/python/manifest.js';
import { ROOT } from '../../src/root.js';

const dir = mkdtempSync(join(tmpdir(), 'flow-manifest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const steps = join(ROOT, 'python-steps');
const sft = JSON.parse(readFileSync(join(steps, 'sft.json'), 'utf8')) as Record<string, unknown>;

function attempt(m: unknown): () => unknown {
  const file = join(dir, 'm.json');
  writeFileSync(file, JSON.stringify(m));
  return () => readManifest(file);
}

it('every shipped manifest passes', () => {
  const files = readdirSync(steps).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThanOrEqual(6);
  for (const f of files) expect(readManifest(join(steps, f)).description).toBeTruthy();
});

it('a field the manifest schema does not know (a stale "modules" list) is refused by name', () => {
  expect(attempt({ ...sft, modules: ['prompting.py'] })).toThrow(/m\.json: not a valid step manifest .*\(manifest\): must NOT have additional properties 'modules'/);
});

it('a with: schema that accepts unknown options, or none at all, is refused', () => {
  expect(attempt({ ...sft, schema: { ...(sft.schema as object), additionalProperties: true } })).toThrow(/\/schema\/additionalProperties: must be equal to constant/);
  const { schema: _schema, ...noSchema } = sft;
  expect(attempt(noSchema)).toThrow(/must have required property 'schema'/);
});

it('a GPU rule without its reason, or one that matches nothing, is refused', () => {
  expect(attempt({ ...sft, gpu_options: [{ field: 'fp16', in: [true] }] })).toThrow(/\/gpu_options\/0: must have required property 'why'/);
  expect(attempt({ ...sft, gpu_options: [{ field: 'fp16', why: 'x' }] })).toThrow(/\/gpu_options\/0: must have required property 'in'/);
});

it('a file that is not JSON says so', () => {
  const file = join(dir, 'bad.json');
  writeFileSync(file, '{ "description": ');
  expect(() => readManifest(file)).toThrow(/bad\.json: not a valid step manifest: /);
});
