// Seed recipes end to end on the CPU through the real CLI, each on a tiny model of its real
// model's family (tests/helpers/tiny-seeds.ts: the recipe as written, size knobs turned down).
// The ones no other test runs whole: codellama-13b-lora (llama2 template, LoRA, merge, sampled
// predict with DB-GPT-Hub's clean-up, EX with plug_value) and t5-small-qlora (4-bit T5, adapter
// predict on the seq2seq base, ROUGE). The training paths of the others (ZeRO-3 LoRA, ZeRO-2,
// AutoTP, QLoRA, full T5) run in tests/python-distributed.test.ts; bench/seeds.ts runs them all.
// Two steps and four dev items each: the point is that every step of the real graph runs and
// its numbers are real, not the model's quality.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { doneStep, failures, runSeed, stepLog, type SeedResult } from './helpers/tiny-seeds.js';
import { seedFixture, TEST_SIZE } from './helpers/seed-fixture.js';

const size = TEST_SIZE;
const { o, models } = seedFixture('flow-seeds-', ['llama', 't5']);

function expectAllDone(r: SeedResult, steps: string[]) {
  expect(r.run.code, `${r.run.stderr}\n${failures(r.run.events)}`).toBe(0);
  // data is the same step in both recipes (same Spider subset, same schema text): the second reuses it.
  expect(r.steps).toEqual({ data: expect.stringMatching(/^(done|cached)$/), ...Object.fromEntries(steps.map((s) => [s, 'done'])) });
}

/** The predictions file has one line per predicted item, and eval scored the whole dev set. */
function expectRealEval(r: SeedResult) {
  const preds = readFileSync(doneStep(r.run.events, 'predict')!.outputs.predictions!, 'utf8');
  expect(preds.split('\n').length - 1).toBe(size.limit);
  expect(r.eval!.count.all).toBe(75);
  for (const v of Object.values(r.eval!.ex)) expect(v).toBeGreaterThanOrEqual(0);
  // Items past the limit are missing predictions: the eval says so and counts them wrong.
  expect(r.eval!.ex.all).toBeLessThanOrEqual(size.limit / 75);
  expect(stepLog(r.run.events, 'eval')).toMatch(/has 4 predictions for 75 gold items/);
}

describe('seed recipes on tiny models, end to end', () => {
  it('codellama-13b-lora: llama2 template, LoRA, merge, sampled predict, EX with plug_value', async () => {
    const r = await runSeed('codellama-13b-lora', models.llama!, size, o);
    expectAllDone(r, ['train', 'merge', 'predict', 'eval']);
    expect(stepLog(r.run.events, 'train')).toMatch(/load check: the saved adapter reproduces the trained model's logits/);
    const train = JSON.parse(readFileSync(doneStep(r.run.events, 'train')!.outputs.metrics!, 'utf8'));
    expect(train.steps).toBe(2);
    // batch 1 x 16 as the recipe says: 2 steps see 32 examples.
    expect(stepLog(r.run.events, 'train')).toMatch(/sft: lora on \d+ examples/);
    const predict = JSON.parse(readFileSync(doneStep(r.run.events, 'predict')!.outputs.metrics!, 'utf8'));
    expect(predict).toMatchObject({ items: 4, settings: { clean: 'dbgpt-hub', decoding: { do_sample: true, temperature: 0.95, top_p: 0.7, top_k: 50 } } });
    expect(r.eval!.plug_value).toBe(true);
    expectRealEval(r);
  }, 900_000);

  it('t5-small-qlora: 4-bit T5 with LoRA, adapter predict on the seq2seq base, ROUGE', async () => {
    const r = await runSeed('t5-small-qlora', models.t5!, size, o);
    expectAllDone(r, ['train', 'predict', 'eval']);
    expect(stepLog(r.run.events, 'train')).toMatch(/sft: qlora on \d+ examples/);
    expect(stepLog(r.run.events, 'train')).toMatch(/load check: the saved adapter reproduces the trained model's logits/);
    const adapter = JSON.parse(readFileSync(join(doneStep(r.run.events, 'train')!.outputs.adapter!, 'adapter_config.json'), 'utf8'));
    expect(adapter).toMatchObject({ task_type: 'SEQ_2_SEQ_LM', r: 16 });
    expect(adapter.target_modules.sort()).toEqual(['q', 'v']);
    expectRealEval(r);
    for (const v of Object.values(r.eval!.rouge)) expect(Number.isFinite(v) && v >= 0 && v <= 1).toBe(true);
  }, 900_000);
});
