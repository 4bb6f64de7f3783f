// A launched step (torchrun, 2 CPU ranks over gloo): events come through the
// tailed events file, once (rank 0 only), and training ends with a result.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { FIXTURES, makeCtx, stepType, testPython } from './helpers/python.js';

const train = join(FIXTURES, 'train.json');
let python = '';

// Building the managed env cold takes a minute or more: a hook, with the hook timeout.
beforeAll(async () => {
  python = await testPython();
});

it('trains under torchrun with two ranks and reports through the events file', async () => {
  const init = makeCtx(stepType('python:init-model'), { train_file: train, hidden_size: 32, intermediate_size: 64, vocab_size: 600 }, { python });
  await stepType('python:init-model').run(init.ctx);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const sft = makeCtx(stepType('python:sft'), {
    model: init.ctx.outputs.model, train_file: train, finetuning: 'full', template: 'qwen', max_steps: 6,
    batch_size: 2, logging_steps: 2, max_source_length: 128, max_target_length: 32,
    launcher: { type: 'torchrun', nproc_per_node: 2, master_port: port },
  }, { python });
  await stepType('python:sft').run(sft.ctx);
  expect(existsSync(join(sft.ctx.outputs.model!, 'model.safetensors'))).toBe(true);
  expect(existsSync(join(sft.ctx.workDir, 'flow-events.jsonl'))).toBe(true);
  // One progress event per optimizer step: rank 1 stays silent.
  expect(sft.progress.map((p) => p.current)).toEqual([1, 2, 3, 4, 5, 6]);
  const history = JSON.parse(readFileSync(sft.ctx.outputs.loss_history!, 'utf8')) as Array<{ step: number }>;
  expect(history.map((h) => h.step)).toEqual([2, 4, 6]);
  expect(sft.logs.some((l) => /sft: 6 steps/.test(l))).toBe(true);
  expect(sft.logs.filter((l) => /world size 2, device cpu/.test(l))).toHaveLength(1);
}, 300_000);
