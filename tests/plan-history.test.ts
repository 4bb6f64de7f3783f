// `flow plan` explains a re-run from the step's history, which is keyed by the
// recipe's name and the step's id, not by the recipe file's path: a moved
// checkout, or a second clone on the same cache, keeps its reasons.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sandbox } from './helpers/cli.js';

it('plan reasons survive a moved checkout', async () => {
  const s = sandbox();
  const recipe = (n: number) => `name: moved\nparams: { n: ${n} }\nsteps:\n  a:\n    run: echo \${params.n} > a.txt\n    outputs: { out: a.txt }\n`;
  mkdirSync(join(s.dir, 'old'));
  mkdirSync(join(s.dir, 'new'));
  writeFileSync(join(s.dir, 'old', 'r.yml'), recipe(1));
  expect((await s.flow(['run', 'old/r.yml', '--ui', 'json'])).code).toBe(0);
  writeFileSync(join(s.dir, 'new', 'r.yml'), recipe(2));
  const plan = await s.flow(['plan', 'new/r.yml']);
  expect(plan.code).toBe(0);
  expect(plan.stdout).toMatch(/a\s+will run: param n changed 1 → 2/);
  expect(plan.stdout).not.toMatch(/never ran/);
});
