// src/cli/code-cache.ts: a CommonJS file run through V8's code cache. Each case
// is a fresh Node process (the data is written at exit), loading tsc's output.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'flow-code-cache-'));
const cacheDir = join(dir, 'cache');
const lib = join(dir, 'lib.cjs');
const driver = join(dir, 'driver.mjs');
writeFileSync(
  driver,
  [
    `import { requireCached, cacheStatus } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'code-cache.js')).href)};`,
    `const m = requireCached(${JSON.stringify(lib)}, ${JSON.stringify(cacheDir)});`,
    `process.stdout.write(JSON.stringify({ value: m.twice(21), path: m.path, status: cacheStatus(${JSON.stringify(lib)}) }));`,
  ].join('\n'),
);
const run = (nodeArgs: string[] = []) => JSON.parse(execFileSync(process.execPath, [...nodeArgs, driver], { encoding: 'utf8' })) as { value: number; path: string; status: string };
const dataFiles = () => readdirSync(cacheDir).filter((f) => f.endsWith('.v8'));
const intact = (file: string) => {
  const raw = readFileSync(join(cacheDir, file));
  return createHash('sha256').update(raw.subarray(32)).digest().equals(raw.subarray(0, 32));
};

it('runs the file as CommonJS, writes the data at exit, and the next process uses it', () => {
  writeFileSync(lib, "const path = require('node:path');\nexports.twice = (n) => n * 2;\nexports.path = path.basename(__filename);\n");
  expect(run()).toEqual({ value: 42, path: 'lib.cjs', status: 'none' });
  const [file] = dataFiles();
  expect(file).toMatch(/^lib\.cjs-[0-9a-f]{16}\.v8$/);
  const before = statSync(join(cacheDir, file!)).mtimeMs;
  expect(run()).toEqual({ value: 42, path: 'lib.cjs', status: 'used' });
  expect(statSync(join(cacheDir, file!)).mtimeMs).toBe(before); // taken as it was, not written again
});

it('a changed source never meets the old data: it gets a file of its own', () => {
  writeFileSync(lib, "exports.twice = (n) => n + n;\nexports.path = 'changed';\n");
  expect(run()).toEqual({ value: 42, path: 'changed', status: 'none' });
  expect(dataFiles()).toHaveLength(2);
  expect(run().status).toBe('used');
});

it('corrupt, truncated or foreign data is ignored and replaced', () => {
  const mtime = (f: string) => statSync(join(cacheDir, f)).mtimeMs;
  const [file] = dataFiles().sort((a, b) => mtime(b) - mtime(a)); // the current source's
  const path = join(cacheDir, file!);
  const good = readFileSync(path);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 10] ^= 0xff;
  const foreignPayload = Buffer.from('not V8 code cache data at all');
  const foreign = Buffer.concat([createHash('sha256').update(foreignPayload).digest(), foreignPayload]);
  for (const [bad, status] of [[flipped, 'none'], [good.subarray(0, 100), 'none'], [Buffer.alloc(0), 'none'], [foreign, 'rejected']] as const) {
    writeFileSync(path, bad);
    expect(run()).toEqual({ value: 42, path: 'changed', status });
    expect(intact(file!)).toBe(true);
    expect(run().status).toBe('used');
  }
});

it('with --enable-source-maps Node loads the file itself (its traces are mapped only then)', () => {
  expect(run(['--enable-source-maps'])).toEqual({ value: 42, path: 'changed', status: 'source maps' });
});
