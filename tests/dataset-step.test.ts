// python:dataset through the real CLI: a list of data files is the step's input (each file's
// content in its key, a missing one refused at plan time with file:line:col), a registry name
// without its folder is refused at plan time, and a run writes the alpaca records python:sft reads.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { sandbox } from './helpers/cli.js';
import { testPython } from './helpers/python.js';

let python: string;
beforeAll(async () => {
  python = await testPython();
});

const RECIPE = `name: own-data
steps:
  data:
    uses: python:dataset
    with:
      shuffle: false
      datasets:
        - file: a.jsonl
          format: text2sql
          columns: { question: prompt, sql: answer }
        - file: b.json
          weight: 2
`;

it('plan refuses a missing file in the list and a registry name without dataset_dir, with file:line:col', async () => {
  const s = sandbox();
  const recipe = s.write('r.yml', RECIPE);
  s.write('a.jsonl', '{"prompt": "q", "context": "c", "answer": "SELECT 1"}\n');
  const missing = await s.flow(['plan', recipe]);
  expect(missing.code).toBe(2);
  expect(missing.stderr.trim()).toBe(`error: r.yml:11:17: steps.data.with.datasets.1.file: input not found: ${join(s.dir, 'b.json')}`);

  const named = s.write('n.yml', 'name: n\nsteps:\n  data:\n    uses: python:dataset\n    with:\n      datasets:\n        - name: mine\n');
  const r = await s.flow(['plan', named]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^error: n\.yml:\d+:\d+: steps\.data\.with.*dataset_dir/m);
});

it('runs: text2sql rows and alpaca records mixed; a changed second file re-runs the step', async () => {
  const s = sandbox();
  const recipe = s.write('r.yml', RECIPE);
  s.write('a.jsonl', '{"prompt": "How many?", "context": "CREATE TABLE t (a INT);", "answer": "SELECT count(*) FROM t"}\n');
  s.write('b.json', JSON.stringify([{ instruction: 'q', input: '', output: 'SELECT 2' }]));
  const env = { FLOW_PYTHON: python };
  const first = await s.flow(['run', recipe, '--ui', 'json'], { env });
  expect(first.code, first.stderr).toBe(0);
  const done = first.events.find((e) => e.type === 'step-done') as { outputs: Record<string, string>; metrics?: Record<string, number> };
  expect(JSON.parse(readFileSync(done.outputs.train!, 'utf8'))).toEqual([
    { instruction: '\n[SCHEMA]\nCREATE TABLE t (a INT);\n[QUESTION]\nHow many?\n', input: '', output: 'SELECT count(*) FROM t', history: [], question: 'How many?' },
    { instruction: 'q', input: '', output: 'SELECT 2', history: [] },
    { instruction: 'q', input: '', output: 'SELECT 2', history: [] },
  ]);
  expect(done.metrics).toEqual({ records: 3, records_0: 1, records_1: 2 });

  writeFileSync(join(s.dir, 'b.json'), JSON.stringify([{ instruction: 'q2', input: '', output: 'SELECT 3' }]));
  const second = await s.flow(['run', recipe, '--ui', 'json'], { env });
  expect(second.code, second.stderr).toBe(0);
  expect(second.events.some((e) => e.type === 'step-done' && !(e as { cached?: boolean }).cached)).toBe(true);
  const out = (second.events.find((e) => e.type === 'step-done') as { outputs: Record<string, string> }).outputs.train!;
  expect(readFileSync(out, 'utf8')).toContain('q2');
});
