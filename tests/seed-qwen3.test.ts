// recipes/qwen3-seed.yml end to end on the CPU on a tiny Qwen3 (tests/helpers/tiny-seeds.ts: the
// recipe as written, size knobs turned down, vLLM predict on HF generate): the shipped sample in
// the seed dataset's shape goes through the dataset step, whose audit drops the three rows that
// are Spider dev questions word for word, then LoRA under ZeRO-3 with adamw_8bit and
// cosine_with_min_lr, sampled predict with the system prompt and repetition_penalty, and EX with
// plug_value.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { doneStep, failures, flow, ROOT, SPIDER_MINI, stepLog, stepStatuses, tinyVariant } from './helpers/tiny-seeds.js';
import { seedFixture, TEST_SIZE } from './helpers/seed-fixture.js';

const { o, models } = seedFixture('flow-seed-qwen3-', ['qwen3']);

it('qwen3-seed: own data audited, seed settings trained, sampled predict, EX with plug_value', async () => {
  const dir = join(o.dir, 'qwen3-seed');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'qwen3-seed.yml');
  writeFileSync(file, tinyVariant(readFileSync(join(ROOT, 'recipes', 'qwen3-seed.yml'), 'utf8'), TEST_SIZE, 20000 + Math.floor(Math.random() * 20000)));
  const run = await flow(['run', file, '--ui', 'json', '--set', `model=${models.qwen3}`, '--set', `spider=${SPIDER_MINI}`, '--set', 'gpus=1',
    '--set', `train_data=${join(ROOT, 'data', 'text2sql-sample', 'train.jsonl')}`], { cwd: dir, cache: o.cache, python: o.python });
  expect(run.code, `${run.stderr}\n${failures(run.events)}`).toBe(0);
  expect(stepStatuses(run.events)).toEqual({ train_data: 'done', data: 'done', train: 'done', predict: 'done', eval: 'done' });

  const data = doneStep(run.events, 'train_data')!;
  const metrics = JSON.parse(readFileSync(data.outputs.metrics!, 'utf8'));
  expect(metrics).toMatchObject({ records: 24, records_0: 27, audit_question_exact: 3, audit_dropped: 3 });
  const train = JSON.parse(readFileSync(data.outputs.train!, 'utf8')) as Array<Record<string, string>>;
  expect(train[0]!.system).toMatch(/^Given the database schema and the user question/);
  expect(train[0]!.instruction).toMatch(/^\n\[SCHEMA\]\nCREATE TABLE .*INSERT INTO .*\n\[QUESTION\]\n.+\n$/s);

  expect(stepLog(run.events, 'train')).toMatch(/sft: lora on 24 examples/);
  const evalMetrics = JSON.parse(readFileSync(doneStep(run.events, 'eval')!.outputs.metrics!, 'utf8'));
  expect(evalMetrics.plug_value).toBe(true);
  expect(evalMetrics.count.all).toBe(readFileSync(join(SPIDER_MINI, 'dev_gold.sql'), 'utf8').trim().split('\n').length);
});
