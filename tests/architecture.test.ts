// The engine's layers (see .dependency-cruiser.cjs and README's Layout) hold:
// no module imports a layer above its own, plugins see only the steps API,
// and no import cycle exists. The second test proves the rule bites: the
// same check over a copy of the sources with one upward import fails.

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

it('an upward import (recipe -> scheduler) fails the check', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flow-arch-'));
  scratch.push(dir);
  for (const p of ['src', 'steps', 'tsconfig.json', '.dependency-cruiser.cjs', 'package.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  writeFileSync(join(dir, 'src', 'recipe', 'upward.ts'), "import { executePlan } from '../scheduler/run.js';\nexport const x = executePlan;\n");
  const found = await violations(dir);
  expect(found.some((v) => v.rule.name === 'layer-recipe-imports-upward' && v.from === 'src/recipe/upward.ts')).toBe(true);
}, 60_000);
