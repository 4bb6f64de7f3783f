// A training step killed after a checkpoint resumes from that checkpoint when it
// runs again with the same cache key, instead of starting from step 0; packed too
// (the rows are packed the same way again), with the load check passing after it.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { FIXTURES, makeCtx, stepType, testPython, tmp } from './helpers/python.js';

const train = join(FIXTURES, 'train.json');
let python = '';

// Building the managed env cold takes a minute or more: a hook, with the hook timeout.
beforeAll(async () => {
  python = await testPython();
});

/** Checkpoints the Trainer finished writing (trainer_state.json is its last file). */
function completeCheckpoints(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => /^checkpoint-\d+$/.test(d) && existsSync(join(dir, d, 'trainer_state.json')))
    .map((d) => Number(d.split('-')[1]))
    .sort((a, b) => a - b);
}

it.each([
  { packing: false, steps: 40 },
  { packing: true, steps: 12 },
])('resumes a killed train step from its last checkpoint (packing: $packing)', async ({ packing, steps }) => {
  const init = makeCtx(stepType('python:init-model'), { train_file: train, hidden_size: 32, intermediate_size: 64, vocab_size: 600 }, { python });
  await stepType('python:init-model').run(init.ctx);

  const cacheDir = tmp('cache');
  const stepKey = `resume-test-key-${packing}`;
  const w = {
    model: init.ctx.outputs.model, train_file: train, finetuning: 'lora', template: 'qwen', max_steps: steps,
    batch_size: 2, packing, save_steps: 5, logging_steps: 1, max_source_length: 128, max_target_length: 32,
  };
  const ckptDir = join(cacheDir, 'checkpoints', stepKey);

  // First run: killed (process group, SIGTERM) as soon as its first checkpoint is saved.
  const first = makeCtx(stepType('python:sft'), w, {
    python, cacheDir, stepKey,
    onArtifact: (name, _path, r) => {
      if (name === 'checkpoint') r.controller.abort();
    },
  });
  const err = await stepType('python:sft').run(first.ctx).then(() => null, (e: Error) => e);
  expect(err?.message).toBe('cancelled');
  const saved = completeCheckpoints(ckptDir);
  expect(saved.length).toBeGreaterThan(0);
  const lastSaved = saved.at(-1)!;
  expect(lastSaved).toBeLessThan(steps);
  expect(existsSync(first.ctx.outputs.adapter!)).toBe(false);

  // Second run, fresh work dir, same key: picks up at the checkpoint's step counter.
  const second = makeCtx(stepType('python:sft'), w, { python, cacheDir, stepKey });
  await stepType('python:sft').run(second.ctx);
  expect(second.progress[0]!.current).toBe(lastSaved + 1);
  expect(second.progress.at(-1)!.current).toBe(steps);
  expect(second.logs.some((l) => l.includes(`resumed at step ${lastSaved}`))).toBe(true);
  const metrics = JSON.parse(readFileSync(second.ctx.outputs.metrics!, 'utf8'));
  expect(metrics).toMatchObject({ resumed_from: lastSaved, steps });
  expect(metrics.packed_rows !== undefined).toBe(packing);
  expect(second.logs.some((l) => l.includes('load check: the saved adapter reproduces'))).toBe(true);
  // The loss history spans the whole run, the crashed part included.
  const history = JSON.parse(readFileSync(second.ctx.outputs.loss_history!, 'utf8')) as Array<{ step: number }>;
  expect(history[0]!.step).toBe(1);
  expect(history.at(-1)!.step).toBe(steps);
  expect(existsSync(join(second.ctx.outputs.adapter!, 'adapter_config.json'))).toBe(true);
  // Done: the checkpoints only served the crash.
  expect(existsSync(ckptDir)).toBe(false);
}, 300_000);
