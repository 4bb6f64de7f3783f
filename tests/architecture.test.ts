// The engine's layers (see .dependency-cruiser.cjs and docs/architecture.md, Layers) hold:
// no module imports a layer above its own, plugins see only the steps API,
// and no import cycle exists, type-only imports included. The other tests prove
// the rules bite: the same check over a copy of the sources with one upward
// import, or with two modules importing each other's types, fails.

import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

async function violations(cwd: string): Promise<Violation[]> {
  const r = await execa(process.execPath, [DEPCRUISE, 'src', 'steps', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
    cwd,
    reject: false,
  });
  const out = JSON.parse(r.stdout) as { summary: { violations: Violation[] } };
  return out.summary.violations;
}

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

it('src/ imports follow the layers, with no cycle', async () => {
  const found = await violations(ROOT);
  expect(found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
}, 60_000);

/** A copy of the sources the check reads, to break on purpose. */
function copy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flow-arch-'));
  scratch.push(dir);
  for (const p of ['src', 'steps', 'tsconfig.json', '.dependency-cruiser.cjs', 'package.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  return dir;
}

it('an upward import (recipe -> scheduler) fails the check', async () => {
  const dir = copy();
  writeFileSync(join(dir, 'src', 'recipe', 'upward.ts'), "import { executePlan } from '../scheduler/run.js';\nexport const x = executePlan;\n");
  const found = await violations(dir);
  expect(found.some((v) => v.rule.name === 'layer-recipe-imports-upward' && v.from === 'src/recipe/upward.ts')).toBe(true);
}, 60_000);

it('two modules importing only each other\'s types fail the check as a cycle', async () => {
  const dir = copy();
  writeFileSync(join(dir, 'src', 'graph', 'cycle-a.ts'), "import type { B } from './cycle-b.js';\nexport interface A { b?: B }\n");
  writeFileSync(join(dir, 'src', 'graph', 'cycle-b.ts'), "import type { A } from './cycle-a.js';\nexport interface B { a?: A }\n");
  const found = await violations(dir);
  const cycles = found.filter((v) => v.rule.name === 'no-circular').map((v) => `${v.from} -> ${v.to}`);
  expect(cycles).toEqual([expect.stringMatching(/^src\/graph\/cycle-[ab]\.ts -> src\/graph\/cycle-[ab]\.ts$/)]);
}, 60_000);
