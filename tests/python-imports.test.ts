// python-steps/ has no import circle (scripts/python-import-cycles.py, the Python side's
// no-circular rule): every import counts, a function-local one too, since that only moves the
// circle to run time. The second test proves the check bites on such a circle, the third that a
// package's modules importing each other through the package are no circle.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, testPython } from './helpers/python.js';

const CHECK = join(ROOT, 'scripts', 'python-import-cycles.py');
let python = '';
const scratch = mkdtempSync(join(tmpdir(), 'flow-pyimports-'));
beforeAll(async () => {
  python = await testPython();
}, 600_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function circles(dir?: string): Promise<{ code: number; found: Array<Array<{ from: string; to: string; at: string }>> }> {
  const r = await execa(python, [CHECK, ...(dir ? [dir] : [])], { reject: false });
  return { code: r.exitCode ?? -1, found: JSON.parse(r.stdout) };
}

function tree(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

it('python-steps/ has no import circle', async () => {
  const r = await circles();
  expect(r.found.map((c) => c.map((e) => `${e.at}: ${e.from} -> ${e.to}`).join('; '))).toEqual([]);
  expect(r.code).toBe(0);
});

it('a circle closed by a function-local import is found, naming each import', async () => {
  const dir = tree('circle', {
    'pkg/__init__.py': 'from .data import read\n',
    'pkg/data.py': 'def read():\n    from helper import encode\n    return encode\n',
    'helper.py': 'from pkg import UserError\n\ndef encode():\n    pass\n',
  });
  const r = await circles(dir);
  expect(r.code).toBe(1);
  expect(r.found).toEqual([[
    { from: 'helper', to: 'pkg', at: 'helper.py:1' },
    { from: 'pkg', to: 'pkg.data', at: 'pkg/__init__.py:1' },
    { from: 'pkg.data', to: 'helper', at: 'pkg/data.py:2' },
  ]]);
});

it("a package's modules importing each other's names is no circle", async () => {
  const dir = tree('siblings', {
    'pkg/__init__.py': 'from .data import read\nfrom .errors import UserError\n',
    'pkg/data.py': 'from .errors import UserError\nfrom pkg.errors import UserError as E\n\ndef read():\n    pass\n',
    'pkg/errors.py': 'class UserError(Exception):\n    pass\n',
    'step.py': 'from pkg import read\n',
  });
  expect(await circles(dir)).toEqual({ code: 0, found: [] });
});
