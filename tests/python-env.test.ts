// The managed virtualenv: keyed on requirements content and Python version,
// built in a temp dir and renamed, built once under concurrent requests, reused.
// Uses a requirements file with no packages so the test is fast; the real env
// is built by the other python-*.test.ts files.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { ensurePythonEnv, envKey, pipPhase, requirementFiles, stepRequirementFiles } from '../src/python/env.js';
import { ROOT, tmp } from './helpers/python.js';

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
  expect(logs.filter((l) => l.includes('building'))).toHaveLength(1);
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
  // vLLM's pins cannot coexist with the CPU env's (docs/steps/python.md, The Python environment): the two files must differ there.
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

it('says how far a build is in a line per phase, keeps pip\'s output in a log file, and names that file on failure', async () => {
  const cacheDir = tmp('envs');
  const dir = tmp('req');
  const req = join(dir, 'requirements.txt');
  writeFileSync(req, '# no packages\n');
  const logs: string[] = [];
  const env = await ensurePythonEnv({ root: ROOT, cacheDir, requirementFiles: [req], log: (l) => logs.push(l) });
  const pipLog = join(cacheDir, 'envs', `${env.key}.build.log`);
  expect(logs).toEqual([
    expect.stringMatching(new RegExp(`^python env ${env.key}: building with Python [\\d.]+ from requirements\\.txt: resolving and downloading the packages; pip's log: ${pipLog} \\(\\d+s\\)$`)),
    expect.stringMatching(/: ready in \d+s at /),
  ]);
  // A built env keeps pip's log inside.
  expect(existsSync(pipLog)).toBe(false);
  expect(readFileSync(join(env.dir!, 'flow-build.log'), 'utf8')).toMatch(/^\$ .* -m pip install --no-input -r /m);

  // A requirement pip cannot satisfy (a wheel file that is not there: no network needed).
  writeFileSync(req, `${join(dir, 'missing-1.0-py3-none-any.whl')}\n`);
  const failed = await ensurePythonEnv({ root: ROOT, cacheDir, requirementFiles: [req], log: () => undefined }).then(() => null, (e: Error) => e);
  expect(failed?.message).toMatch(/^python env \w+: pip install failed \(exit 1\): ERROR: .*; pip's log: \S+\.build\.log$/);
  const failedLog = failed!.message.match(/pip's log: (\S+)$/)![1]!;
  expect(readFileSync(failedLog, 'utf8')).toMatch(/missing-1\.0-py3-none-any\.whl/);
});

it('turns pip\'s lines into phases', () => {
  const state = { phase: 'download' };
  expect(pipPhase('Collecting torch==2.13.0', state)).toBeUndefined();
  expect(pipPhase('Installing collected packages: a, b, c', state)).toBe('installing 3 packages');
  expect(pipPhase('Installing collected packages: a, b, c', state)).toBeUndefined();
});
