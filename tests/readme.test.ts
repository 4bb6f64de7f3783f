// Every YAML block in the README loads: a whole recipe passes `flow validate`, and a
// step snippet (a mapping of step ids, no `name:`) passes it inside a recipe that gives
// each step it references a stand-in shell step with the referenced outputs.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { FLOW, ROOT } from './helpers/cli.js';

const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 'flow-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const recipes = blocks.filter((b) => 'name' in (parse(b) as object));


it('the README has recipe blocks to check', () => {
  expect(recipes.length).toBeGreaterThanOrEqual(2);
});

it.each(blocks.map((b, i) => [i + 1, b] as const))('YAML block %i validates', async (i, block) => {
  const doc = parse(block) as Record<string, unknown>;
  let text = block;
  if (!('name' in doc)) {
    const stand: Record<string, { run: string; outputs: Record<string, string> }> = {};
    for (const [, step, output] of block.matchAll(/\$\{steps\.([\w-]+)\.outputs\.(\w+)\}/g)) {
      if (step! in doc) continue;
      stand[step!] ??= { run: 'true', outputs: {} };
      stand[step!]!.outputs[output!] = output!;
    }
    text = stringify({ name: `readme-block-${i}`, steps: { ...stand, ...doc } });
  }
  const file = join(dir, `block-${i}.yml`);
  writeFileSync(file, text);
  const r = await execa(process.execPath, [FLOW, 'validate', file, '--cache-dir', join(dir, 'cache')], { reject: false, cwd: ROOT });
  expect(r.exitCode, `README YAML block ${i}: ${r.stderr}`).toBe(0);
});
