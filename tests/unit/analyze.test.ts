// The analyzer alone (no CLI, no cache): a recipe becomes prepared steps whose
// `with:` carries the type's defaults once, or one positioned diagnostic.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { analyze } from '../../src/steps/analyze.js';
import { StepRegistry } from '../../src/steps/registry.js';
import type { StepType } from '../../src/steps/types.js';

const ROOT = resolve(import.meta.dirname, '../..');

const fake: StepType = {
  name: 'fake:train',
  description: 'a test step type',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { data: { type: 'string' }, rank: { type: 'integer', default: 8 }, mode: { enum: ['lora', 'full'], default: 'lora' } },
  },
  outputs: (w): Record<string, string> => (w.mode === 'full' ? { model: 'model' } : { adapter: 'adapter' }),
  inputs: ['data'],
  sources: [],
  run: async () => undefined,
};

const registry = new StepRegistry(ROOT, [{ load: () => [fake] }]);

function recipe(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'flow-analyze-'));
  writeFileSync(join(dir, 'r.yml'), text);
  return join(dir, 'r.yml');
}

it('prepares each step with its defaulted with: and the outputs it implies', async () => {
  const file = recipe(`name: r
params: { r: 16 }
steps:
  train:
    uses: fake:train
    with:
      data: x.json
      rank: \${params.r}
  export:
    run: cp -r \${steps.train.outputs.adapter} out
    outputs: { out: out }
`);
  const r = await analyze(file, [], registry);
  if (!r.ok) throw r.diagnostic;
  const train = r.analysis.steps.get('train')!;
  expect(train.with).toEqual({ data: 'x.json', rank: 16, mode: 'lora' });
  expect(train.outputs).toEqual({ adapter: 'adapter' });
  expect(r.analysis.graph.order).toEqual(['train', 'export']);
  expect(r.analysis.steps.get('export')!.type.name).toBe('run');
});

it('returns a diagnostic with file, line and field instead of throwing', async () => {
  const file = recipe(`name: r
steps:
  train:
    uses: fake:train
    with: { mode: full }
  export:
    run: cp -r \${steps.train.outputs.adapter} out
`);
  const r = await analyze(file, [], registry);
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.diagnostic.format()).toMatch(/r\.yml:7:\d+: steps\.export\.run: step "train" has no output "adapter" \(outputs: model\)$/);
});

it('an unknown step type lists the known ones', async () => {
  const r = await analyze(recipe('name: r\nsteps:\n  a:\n    uses: fake:trian\n'), [], registry);
  expect(!r.ok && r.diagnostic.format()).toMatch(/r\.yml:4:11: steps\.a\.uses: unknown step type "fake:trian" \(known: .*fake:train/);
});
