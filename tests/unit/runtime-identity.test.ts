// What runs a step enters its key: a Python step run by another interpreter (or
// the same one with other packages installed), or sql-eval on another SQLite,
// never reuses a result made in the other environment.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { implDigests } from '../../src/cache/fingerprint.js';
import { pythonRuntime } from '../../src/python/runtime-identity.js';
import { ROOT } from '../../src/root.js';
import sqlEval from '../../steps/sql-eval/index.js';
import type { StepSettings } from '../../src/steps/types.js';

const dir = mkdtempSync(join(tmpdir(), 'flow-runtime-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in interpreter: a real executable whose "installed packages" the test controls. */
function interpreter(name: string, packages: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\necho '3.11.7 (main)'\necho '${packages}'\n`);
  chmodSync(p, 0o755);
  return p;
}

const settings = (py?: string): StepSettings => ({ python: { extras: [], interpreter: py }, envsDir: join(dir, 'envs') });

it('an external interpreter is identified by its path and its installed packages', async () => {
  const a = (await pythonRuntime(ROOT, settings(interpreter('py-a', 'torch==2.13.0\ntransformers==5.23.0')))).python;
  const b = (await pythonRuntime(ROOT, settings(interpreter('py-b', 'torch==2.13.0\ntransformers==5.24.0')))).python;
  const a2 = (await pythonRuntime(ROOT, settings(join(dir, 'py-a')))).python;
  expect(a).toMatch(/py-a .* packages:[0-9a-f]{16}$/);
  expect(a2).toBe(a);
  expect(b.split('packages:')[1]).not.toBe(a.split('packages:')[1]);
});

it('the managed env is identified by the base interpreter it is built from', async () => {
  const r = await pythonRuntime(ROOT, settings());
  expect(r.python).toMatch(/^managed from \/.*python/);
});

it("sql-eval's implementation digest names the SQLite that executes the queries", async () => {
  const { FileStates } = await import('../../src/cache/file-state.js');
  const { openDb } = await import('../../src/store/db.js');
  const db = openDb(join(dir, 'flow.db'));
  try {
    const impl = await implDigests(sqlEval, ROOT, new FileStates(db), settings());
    expect(impl['runtime:sqlite']).toMatch(/^3\.\d+\.\d+ \(better-sqlite3 \d+\.\d+\.\d+\)$/);
  } finally {
    db.close();
  }
});
