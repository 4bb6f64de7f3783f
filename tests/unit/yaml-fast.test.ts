// Recipes are read with js-yaml first (src/recipe/yaml-fast.ts) and with the yaml
// library where that one must decide. Whatever js-yaml accepts must come out
// exactly as the yaml library (YAML 1.2 core schema) reads it, or cache keys
// would depend on which reader ran.

import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import { readYamlFast } from '../../src/recipe/yaml-fast.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** Plain scalars whose type differs between YAML 1.1, js-yaml's own schemas and YAML 1.2 core. */
const SCALARS = [
  '0o17', '017', '0x1F', '0x1f', '0b101', '1_000', '+12', '-0', '00', '1e3', '1E-3', '.5', '-.5', '1.', '1.0', '1.50',
  '.inf', '-.Inf', '+.INF', '.nan', '.NaN', 'NaN', 'inf', '~', 'null', 'Null', 'NULL', 'nUll', '', 'true', 'True', 'TRUE',
  'tRue', 'false', 'yes', 'no', 'on', 'off', 'y', 'n', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '12:30', '1:20:30',
  '0.1e+5', '1e', 'e1', '- 1', '9007199254740993', '123456789012345678901234567890', '0o8', '0xG', '<<', '=', '!', '"quoted 12"', "'single 0o17'",
];

it('every plain scalar resolves as the yaml library resolves it', () => {
  for (const s of SCALARS) {
    const text = `v: ${s}\nlist: [${s}]\n`;
    const fast = readYamlFast(text);
    if (!fast) continue; // js-yaml refused it: the yaml library reads it
    expect(fast.value, JSON.stringify(s)).toEqual(parse(text));
    // Object.is tells -0 from 0 and NaN from NaN-like values, which toEqual may not.
    expect(Object.is((fast.value as { v: unknown }).v, (parse(text) as { v: unknown }).v), JSON.stringify(s)).toBe(true);
  }
});

it("every shipped recipe and test fixture reads the same both ways", () => {
  const files = [
    ...readdirSync(join(ROOT, 'recipes')).map((f) => join(ROOT, 'recipes', f)),
    ...readdirSync(join(ROOT, 'tests/fixtures/bad-recipes')).map((f) => join(ROOT, 'tests/fixtures/bad-recipes', f)),
  ].filter((f) => f.endsWith('.yml'));
  expect(files.length).toBeGreaterThan(20);
  let fastCount = 0;
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const fast = readYamlFast(text);
    if (!fast) continue;
    fastCount++;
    expect(fast.value, f).toEqual(parse(text, { uniqueKeys: false }));
  }
  expect(fastCount).toBeGreaterThan(15);
});

it('block scalars, quoting, escapes, comments and flow style read the same', () => {
  const text = [
    'a: |',
    '  line one',
    '    indented',
    '  ',
    'b: >-',
    '  folded',
    '  text',
    '',
    '  para',
    'c: "tab\\there \\u00e9 \\x41"',
    "d: 'it''s'",
    'e: plain # a comment',
    'f: {x: 1, y: [a, "b", {z: ~}]}',
    'g:',
    '  - multi',
    '    line plain',
    '  -',
    'h: ${params.x}',
    'i: !!str 12',
    '"quoted key": 1',
    '12: twelve',
    'true: yes',
    '',
  ].join('\n');
  const fast = readYamlFast(text);
  expect(fast).toBeDefined();
  expect(fast!.value).toEqual(parse(text));
});

it('leaves to the yaml library what js-yaml refuses, and anything an alias shares', () => {
  expect(readYamlFast('a: 1\na: 2\n')).toBeUndefined(); // duplicate key: yaml places the error
  expect(readYamlFast('a: [1\n')).toBeUndefined(); // syntax
  expect(readYamlFast('a: !custom x\n')).toBeUndefined(); // unknown tag
  expect(readYamlFast('a: &x [1, 2]\nb: *x\n')).toBeUndefined(); // a shared collection: yaml bounds alias expansion
  expect(readYamlFast('a: &x 1\nb: *x\n')).toEqual({ value: { a: 1, b: 1 } }); // a scalar alias is a copy
});

it('leaves to the yaml library the keys the two name differently (null and collection keys)', () => {
  for (const text of ['~: 1\n', 'a:\n  null: 1\n', 'a: {NULL: 1}\n', ': 1\n', '[a, b]: 1\n', 'a:\n  {b: 1}: 2\n', '? x\n: 1\n', '- ? x\n  : 1\n']) {
    expect(readYamlFast(text), JSON.stringify(text)).toBeUndefined();
  }
  // An ordinary recipe still takes the fast path.
  expect(readYamlFast('name: x\nsteps:\n  a: {run: "echo ${params.n} > o", outputs: {o: o}}\n')).toBeDefined();
});
