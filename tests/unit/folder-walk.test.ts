// The one folder walker (src/cache/manifest.ts) behind every commit and input digest walks
// without recursion: a wide folder (many files under one sub-folder) and a deep one digest in
// a process whose stack is small. The recursive walk overflowed it ("Maximum call stack size
// exceeded": a sub-folder's lines were spread into a call), after 39 minutes of committing a
// million files; a 100 KB stack shows the same failure with 30,000.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const WIDE = 30_000;
const DEEP = 1000;

const root = mkdtempSync(join(tmpdir(), 'flow-walk-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('digests a 30,000-file folder and a 1,000-deep one in a 100 KB stack, in both walk modes, to the manifest digest', () => {
  const expected: string[] = [];
  let deep = join(root, 'deep');
  let rel = 'deep';
  for (let i = 0; i < DEEP; i++) {
    expected.push(`${rel}/`);
    mkdirSync(deep);
    deep = join(deep, 'd');
    rel = `${rel}/d`;
  }
  writeFileSync(join(deep, '..', 'f'), '');
  expected.push(`${rel.slice(0, -2)}/f\t-\th`);
  expected.push('wide/');
  mkdirSync(join(root, 'wide'));
  for (let i = 0; i < WIDE; i++) {
    const name = `f${String(i).padStart(5, '0')}`;
    writeFileSync(join(root, 'wide', name), '');
    expected.push(`wide/${name}\t-\th`);
  }
  const walker = pathToFileURL(join(ROOT, 'dist', 'src', 'cache', 'manifest.js')).href;
  const script = `
    const { digestFolder } = await import(${JSON.stringify(walker)});
    const visit = { file: async () => 'h' };
    const store = await digestFolder(${JSON.stringify(root)}, visit);
    const inputs = await digestFolder(${JSON.stringify(root)}, visit, { inputs: true });
    process.stdout.write(JSON.stringify({ store, inputs }));`;
  const out = execFileSync(process.execPath, ['--stack-size=100', '--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const digest = createHash('sha256').update(expected.join('\n')).digest('hex');
  const want = { digest, size: 0, files: WIDE + 1 };
  expect(JSON.parse(out)).toEqual({ store: want, inputs: want });
}, 120_000);
