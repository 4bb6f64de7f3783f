// The Python steps' own unit tests (python-steps/tests, pytest) in the managed env, so
// `npm test` runs them too: runtime defaults and validation, latest checkpoint, dtypes,
// collator, DeepSpeed configs.

import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { ROOT, testPython } from './helpers/python.js';

it('pytest python-steps/tests passes', async () => {
  const python = await testPython();
  const r = await execa(python, ['-m', 'pytest', join(ROOT, 'python-steps', 'tests'), '-q', '-p', 'no:cacheprovider'], {
    cwd: ROOT,
    reject: false,
    env: { PYTHONDONTWRITEBYTECODE: '1' },
  });
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toMatch(/\d+ passed/);
}, 600_000);
