// ruff over python-steps/ with pyproject.toml's settings, as CI runs it: the linter from
// python-steps/requirements-dev.txt in a small venv of its own (built once per pin, beside the test
// env), so the steps' env and its key stay as they are.

import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, testPython } from './helpers/python.js';

let ruff = '';
const dir = mkdtempSync(join(tmpdir(), 'flow-lint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ruff of requirements-dev.txt, in a venv named by that file's content. */
async function ruffBinary(): Promise<string> {
  const req = join(ROOT, 'python-steps', 'requirements-dev.txt');
  const digest = createHash('sha256').update(readFileSync(req)).digest('hex').slice(0, 12);
  const venv = join(resolve(process.env.FLOW_CACHE ?? join(ROOT, 'cache')), `test-dev-venv-${digest}`);
  const bin = join(venv, 'bin', 'ruff');
  if (existsSync(join(venv, '.complete'))) return bin;
  rmSync(venv, { recursive: true, force: true });
  await execa(await testPython(), ['-m', 'venv', venv]);
  await execa(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '-q', '-r', req]);
  writeFileSync(join(venv, '.complete'), '');
  return bin;
}

beforeAll(async () => {
  ruff = await ruffBinary();
}, 300_000);

const check = (cwd: string) => execa(ruff, ['check', '--no-cache', '--output-format', 'concise', '.'], { cwd, reject: false });

it('ruff check passes on python-steps/', async () => {
  const r = await check(join(ROOT, 'python-steps'));
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
});

it('and fails on a copy with an unused import and unsorted imports, naming file:line', async () => {
  const copy = join(dir, 'python-steps');
  mkdirSync(copy);
  copyFileSync(join(ROOT, 'python-steps', 'pyproject.toml'), join(copy, 'pyproject.toml'));
  writeFileSync(join(copy, 'bad.py'), 'import sys\nimport os\n\nprint(os.sep)\n');
  const r = await check(copy);
  expect(r.exitCode).toBe(1);
  expect(r.stdout).toMatch(/bad\.py:1:1: I001/);
  expect(r.stdout).toMatch(/bad\.py:1:8: F401 .*sys/);
});
