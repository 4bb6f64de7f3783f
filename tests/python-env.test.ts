// The managed virtualenv: keyed on requirements content and Python version,
// built in a temp dir and renamed, built once under concurrent requests, reused.
// Uses a requirements file with no packages so the test is fast; the real env
// is built by the other python-*.test.ts files.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { ensurePythonEnv, envKey, requirementFiles, stepRequirementFiles } from '../src/python/env.js';
import { ROOT, tmp } from './python-helpers.js';

it('builds an env once, even when asked twice at the same time, then reuses it', async () => {
  const cacheDir = tmp('envs');
  const dir = tmp('req');
  // Same content at two paths: the same key, but two separate requests (no in-process memo).
  const a = join(dir, 'a', 'requirements.txt');
  const b = join(dir, 'b', 'requirements.txt');
  for (const f of [a, b]) {
    await execa('mkdir', ['-p', join(f, '..')]);
    writeFileSync(f, '# no packages\n');
  }
  const logs: string[] = [];
  const [x, y] = await Promise.all([
    ensurePythonEnv({ root: ROOT, cacheDir, requirementFiles: [a], log: (l) => logs.push(l) }),
    ensurePythonEnv({ root: ROOT, cacheDir, requirementFiles: [b], log: (l) => logs.push(l) }),
  ]);
  expect(x.key).toBe(y.key);
  expect([x.created, y.created].sort()).toEqual([false, true]);
  expect(logs.filter((l) => l.includes('creating'))).toHaveLength(1);
  expect(x.dir).toBe(join(cacheDir, 'envs', x.key));
  // Renamed into place: no temp dir or lock left, and the moved env runs.
  expect(readdirSync(join(cacheDir, 'envs'))).toEqual([x.key]);
  const r = await execa(x.python, ['-c', 'import sys; print(sys.prefix)']);
  expect(r.stdout.trim()).toBe(x.dir);

  // Other content: another key.
  writeFileSync(a, '# no packages, edited\n');
  const z = await ensurePythonEnv({ root: ROOT, cacheDir, requirementFiles: [a] });
  expect(z.key).not.toBe(x.key);
  expect(z.created).toBe(true);
  expect(existsSync(join(z.dir!, 'flow-env.json'))).toBe(true);
});

it('keys on the interpreter version too', () => {
  const files = requirementFiles(ROOT);
  expect(envKey('3.11.7', 'linux-x86_64', files)).not.toBe(envKey('3.12.1', 'linux-x86_64', files));
  expect(envKey('3.11.7', 'linux-x86_64', files)).toBe(envKey('3.11.7', 'linux-x86_64', files));
});

it('adds extras from requirements-<extra>.txt and rejects unknown ones', async () => {
  const root = tmp('root');
  await execa('mkdir', ['-p', join(root, 'python-steps')]);
  for (const f of ['requirements.txt', 'requirements-extra.txt']) writeFileSync(join(root, 'python-steps', f), '# none\n');
  expect(requirementFiles(root, ['extra']).map((f) => f.split('/').pop())).toEqual(['requirements.txt', 'requirements-extra.txt']);
  expect(() => requirementFiles(root, ['tpu'])).toThrow(/python\.extras: unknown extra 'tpu'/);
});

it('gives predict with engine: vllm an env of its own, from requirements-vllm.txt alone', () => {
  const names = (w: Record<string, unknown>) => stepRequirementFiles(ROOT, [], w).map((f) => f.split('/').pop());
  expect(names({ engine: 'vllm', model: 'm' })).toEqual(['requirements-vllm.txt']);
  expect(names({ engine: 'hf' })).toEqual(['requirements.txt']);
  expect(names({ finetuning: 'lora' })).toEqual(['requirements.txt']);
  // vLLM's pins cannot coexist with the CPU env's (README, Python steps): the two files must differ there.
  const pin = (f: string, pkg: string) => readFileSync(join(ROOT, 'python-steps', f), 'utf8').match(new RegExp(`^${pkg}==(\\S+)$`, 'm'))?.[1];
  expect(pin('requirements-vllm.txt', 'vllm')).toBe('0.32.0');
  expect(pin('requirements-vllm.txt', 'transformers')).not.toBe(pin('requirements.txt', 'transformers'));
  expect(pin('requirements-vllm.txt', 'torch')).toBe(pin('requirements.txt', 'torch'));
});

it('uses a given interpreter as is, and refuses one that does not run', async () => {
  const env = await ensurePythonEnv({ root: ROOT, cacheDir: tmp('envs'), interpreter: 'python3' });
  expect(env).toMatchObject({ python: 'python3', key: 'external', created: false });
  await expect(ensurePythonEnv({ root: ROOT, cacheDir: tmp('envs'), interpreter: '/nonexistent/python' })).rejects.toThrow(
    /python: cannot run '\/nonexistent\/python'/,
  );
});
