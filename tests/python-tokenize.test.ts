// python:tokenize and sft's packing through the real CLI, on a tiny model built by python:init-model:
// a sweep whose sft legs differ only in training settings (packed or not) tokenizes once and
// trains from the saved ids; a second run reuses everything; another tokenizer re-tokenizes, and an
// sft given ids from another tokenizer refuses them; packing with a seq2seq model is refused at plan
// time naming the field.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow, doneStep } from './helpers/tiny-seeds.js';
import { FIXTURES, makeCtx, stepType, testPython } from './helpers/python.js';

const train = join(FIXTURES, 'train.json');
let python = '';
let dir = '';
let model = '';

const RECIPE = `name: tok-sweep
params:
  model: unset
  packing: false
matrix:
  packing: [false, true]
steps:
  tok:
    uses: python:tokenize
    with:
      model: \${params.model}
      train_file: ${train}
      template: qwen
      max_source_length: 1024
      max_target_length: 128
  train:
    uses: python:sft
    with:
      model: \${params.model}
      tokenized: \${steps.tok.outputs.dataset}
      packing: \${params.packing}
      learning_rate: 0.01
      max_steps: 2
      batch_size: 2
      logging_steps: 1
      save_steps: 100
`;

const run = (...args: string[]) => flow(['run', join(dir, 'sweep.yml'), '--ui', 'json', ...args], { cwd: dir, cache: join(dir, 'cache'), python });
const ran = (events: Array<{ type: string; step?: string }>, prefix: string) =>
  events.filter((e) => e.type === 'step-done' && e.step?.startsWith(prefix)).map((e) => e.step);

beforeAll(async () => {
  python = await testPython();
  dir = mkdtempSync(join(tmpdir(), 'flow-tokenize-'));
  const r = makeCtx(stepType('python:init-model'), { train_file: train, hidden_size: 32, intermediate_size: 64, vocab_size: 400, layers: 1 }, { python });
  await stepType('python:init-model').run(r.ctx);
  model = join(dir, 'model');
  cpSync(r.ctx.outputs.model!, model, { recursive: true });
  writeFileSync(join(dir, 'sweep.yml'), RECIPE);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('python:tokenize', () => {
  it('keys on the template code and the data code that encode the records', () => {
    expect(stepType('python:tokenize').sources).toEqual(expect.arrayContaining(['python-steps/flow_runtime/prompting.py', 'python-steps/flow_runtime/data.py']));
    expect(stepType('python:tokenize').inputs).toEqual(['model', 'train_file', 'eval_file']);
  });

  it('a sweep of a packed and an unpacked leg tokenizes once, and a second run reuses every result', async () => {
    const first = await run('--set', `model=${model}`);
    expect(first.code, first.stderr).toBe(0);
    expect(ran(first.events, 'tok')).toEqual(['tok']);
    expect(ran(first.events, 'train')).toHaveLength(2);
    const metrics = (id: string) => JSON.parse(readFileSync(doneStep(first.events, id)!.outputs.metrics!, 'utf8')) as Record<string, number>;
    const packed = metrics('train[packing=true]');
    const padded = metrics('train[packing=false]');
    expect(packed.steps).toBe(2);
    expect(packed.packed_rows).toBeLessThan(packed.examples);
    expect(padded.packed_rows).toBeUndefined();
    expect(JSON.parse(readFileSync(doneStep(first.events, 'tok')!.outputs.metrics!, 'utf8')).examples).toBe(padded.examples);

    const again = await run('--set', `model=${model}`);
    expect(again.code, again.stderr).toBe(0);
    expect(ran(again.events, '')).toEqual([]);
  });

  it('another tokenizer tokenizes again; ids from one tokenizer do not train another model', async () => {
    const other = join(dir, 'model-b');
    cpSync(model, other, { recursive: true });
    const cfgFile = join(other, 'tokenizer_config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, model_max_length: 4096 }));
    const r = await run('--set', `model=${other}`, '--only', 'tok');
    expect(r.code, r.stderr).toBe(0);
    expect(ran(r.events, 'tok')).toEqual(['tok']);

    // sft on the first model with the second's ids: refused before training.
    const sft = makeCtx(stepType('python:sft'), { model, tokenized: doneStep(r.events, 'tok')!.outputs.dataset!, max_steps: 1 }, { python });
    await expect(stepType('python:sft').run(sft.ctx)).rejects.toThrow(/with.tokenized: .* tokenized with another tokenizer than with.model's/);
  });

  it('refuses packing with a seq2seq model at plan time, naming the field', async () => {
    writeFileSync(join(dir, 'bad.yml'), RECIPE.replace('      packing: ${params.packing}', '      packing: true\n      model_type: seq2seq'));
    const r = await flow(['plan', join(dir, 'bad.yml'), '--set', `model=${model}`], { cwd: dir, cache: join(dir, 'cache'), python });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yml:\d+:\d+: steps\.\w+\.with\.packing: packing lays examples end to end/);
  });
});
