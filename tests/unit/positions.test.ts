// Source positions are found on first read (src/recipe/positions.ts), not while
// loading: whatever is read first, and however (get, iteration), they must be
// the same places, and a duplicate key anywhere must still be refused at load.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { RecipeError } from '../../src/recipe/errors.js';
import { loadRecipe } from '../../src/recipe/load.js';

function recipeFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'flow-positions-')), 'r.yml');
  writeFileSync(file, text);
  return file;
}

const TEXT = [
  'name: p', //                        1
  'steps:', //                         2
  '  a:', //                           3
  '    run: echo a > o', //            4
  '    outputs: {o: o}', //            5
  '  b:', //                           6
  '    run: cat ${steps.a.outputs.o}', // 7
  '    inputs:', //                    8
  '      - x.txt', //                  9
  '      - "y/*.txt"', //              10
  '',
].join('\n');

it('every field and key has its line and column, read by get or by iteration', () => {
  const r = loadRecipe(recipeFile(TEXT));
  expect(r.steps.b!.pos).toMatchObject({ line: 6, col: 3 });
  expect(r.positions.get('steps.b.inputs.1')).toMatchObject({ line: 10, col: 9 });
  expect(r.positions.get('steps.a.outputs.o@key')).toMatchObject({ line: 5, col: 15 });
  // A copy (as matrix expansion makes) sees every position too.
  const copy = new Map(r.positions);
  expect(copy.get('steps.b.run')).toMatchObject({ line: 7, col: 10 });
  expect(copy.size).toBe(r.positions.size);
  expect([...r.positions.keys()]).toContain('steps.a@key');
});

it('a copy made before any read is complete', () => {
  const r = loadRecipe(recipeFile(TEXT));
  expect(Object.fromEntries(r.positions)['steps.b.inputs.0']).toMatchObject({ line: 9, col: 9 });
});

it('a key twice in a nested mapping is refused at load, naming the second', () => {
  const file = recipeFile(TEXT.replace('    outputs: {o: o}', '    outputs: {o: o, o: p}'));
  expect(() => loadRecipe(file)).toThrow(RecipeError);
  try {
    loadRecipe(file);
  } catch (e) {
    expect((e as RecipeError).pos).toMatchObject({ line: 5, col: 21 });
    expect((e as RecipeError).field).toBe('steps.a.outputs.o');
    expect((e as RecipeError).message).toMatch(/"o" appears twice/);
  }
});
