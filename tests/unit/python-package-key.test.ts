// The whole flow_runtime package (every file under it, at any depth: modules, templates, the
// DeepSpeed configs) is part of every Python step's implementation version, with no list kept by
// hand: a helper a step imports, or one added later, cannot escape the key. Checked on a copy of
// python-steps/, so the test can add and change files.

import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStates } from '../../src/cache/file-state.js';
import { implDigests } from '../../src/cache/fingerprint.js';
import { sha256 } from '../../src/cache/hash.js';
import { loadPythonStepTypes } from '../../src/python/step-types.js';
import { ROOT } from '../../src/root.js';
import { openDb } from '../../src/store/db.js';

const dir = mkdtempSync(join(tmpdir(), 'flow-pykey-'));
const steps = join(dir, 'python-steps');
const pkg = join(steps, 'flow_runtime');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  cpSync(join(ROOT, 'python-steps'), steps, { recursive: true, filter: (src) => !/(__pycache__|[/\\]tests)$/.test(src) });
});

/** Each Python step type's implementation digest, read afresh (a new file-state database each time). */
async function keys(): Promise<Record<string, string>> {
  const db = openDb(join(dir, `flow-${Math.random().toString(36).slice(2)}.db`));
  try {
    const files = new FileStates(db);
    const out: Record<string, string> = {};
    for (const t of loadPythonStepTypes(dir)) out[t.name] = sha256(JSON.stringify(await implDigests(t, dir, files)));
    return out;
  } finally {
    db.close();
  }
}

/** Applies `change` and expects every Python step's key to move. */
async function expectEveryKeyMoves(change: () => void): Promise<void> {
  const before = await keys();
  expect(Object.keys(before).length).toBeGreaterThanOrEqual(6);
  change();
  const after = await keys();
  for (const [name, key] of Object.entries(before)) expect(after[name], name).not.toBe(key);
}

describe('the flow_runtime package in every Python step key', () => {
  it('a byte changed in any module of the package moves every key', async () => {
    for (const f of ['prompting.py', 'sql_clean.py', 'candidates.py', '__init__.py']) {
      await expectEveryKeyMoves(() => writeFileSync(join(pkg, f), readFileSync(join(pkg, f), 'utf8') + '#\n'));
    }
  });

  it('a module added to the package, or to a folder inside it, moves every key', async () => {
    await expectEveryKeyMoves(() => writeFileSync(join(pkg, 'new_helper.py'), 'X = 1\n'));
    await expectEveryKeyMoves(() => {
      mkdirSync(join(pkg, 'sub'), { recursive: true });
      writeFileSync(join(pkg, 'sub', 'deep.py'), 'Y = 2\n');
    });
  });

  it('the data files the package reads (the DeepSpeed configs) move every key', async () => {
    const f = join(pkg, 'configs', 'ds_zero2.json');
    await expectEveryKeyMoves(() => writeFileSync(f, readFileSync(f, 'utf8').replace('}', ' }')));
  });

  it("Python's own bytecode cache does not", async () => {
    const before = await keys();
    mkdirSync(join(pkg, '__pycache__'), { recursive: true });
    writeFileSync(join(pkg, '__pycache__', 'runtime.cpython-311.pyc'), 'bytecode');
    expect(await keys()).toEqual(before);
  });
});

// A step script that imported a helper module kept beside the scripts (outside the package) would
// have it escape its key: the helpers live in flow_runtime. flow_trackers is the one exception, on
// purpose: it only sends figures to the recipe's trackers and changes no output of a step.
it('step scripts import no helper module from outside flow_runtime', () => {
  const here = join(ROOT, 'python-steps');
  const helpers = new Set(readdirSync(here).filter((f) => f.endsWith('.py')).map((f) => f.slice(0, -3)));
  const scripts = [...helpers];
  expect(scripts).toContain('sft');
  for (const s of scripts) {
    const text = readFileSync(join(here, `${s}.py`), 'utf8');
    const imported = [...text.matchAll(/^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))/gm)].map((m) => (m[1] ?? m[2]).split('.')[0]);
    const outside = imported.filter((m) => helpers.has(m) && m !== 'flow_trackers');
    expect(outside, `${s}.py imports ${outside.join(', ')}`).toEqual([]);
  }
});
