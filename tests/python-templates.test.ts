// Template names are an enum in the sft and predict manifests, the same list as
// python-steps/flow_runtime/prompting.py's, so a typo stops the recipe at validation, before
// any model is loaded.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT, sandbox } from './helpers/cli.js';

const manifest = (name: string) => JSON.parse(readFileSync(join(ROOT, 'python-steps', `${name}.json`), 'utf8'));

describe('template names', () => {
  it('are the same enum in sft.json, predict.json and flow_runtime/prompting.py', async () => {
    const r = await execa('python3', ['-c', 'import json; from flow_runtime import prompting; print(json.dumps(prompting.TEMPLATE_NAMES))'], {
      cwd: join(ROOT, 'python-steps'),
    });
    const names = JSON.parse(r.stdout);
    expect(names).toContain('tokenizer');
    expect(manifest('sft').schema.properties.template.enum).toEqual(names);
    expect(manifest('predict').schema.properties.template.enum).toEqual(names);
  });

  it('a typo fails validation with one line naming the field', async () => {
    const s = sandbox();
    s.write('r.yml', 'name: t\nsteps:\n  predict:\n    uses: python:predict\n    with: { model: m, dev_file: d.json, template: qwen2 }\n');
    const r = await s.flow(['validate', 'r.yml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*r\.yml:5:\d+: steps\.predict\.with\.template: must be one of .*"qwen3"/);
  });
});
