// The other five seed recipes end to end on the CPU through the real CLI, each on a tiny model of
// its real model's family (see tests/seed-recipes.test.ts for codellama-13b-lora and
// t5-small-qlora, and tests/helpers/tiny-seeds.ts for what is turned down). Each runs its whole
// step graph as written: qwen25-qlora's 4-bit QLoRA, qwen3-lora's LoRA under ZeRO-3 on 2 ranks,
// qwen3-full's ZeRO-2, qwen3-full-tp's ZeRO-2 with AutoTP over 2 ranks, t5-small's full seq2seq
// training. Each asserts that every step finished, that the saved artifact passed its load check
// (reloaded, it reproduces the trained model's logits), and that eval scored the dev set.

import { describe, expect, it } from 'vitest';
import { failures, runSeed, SEEDS, stepLog } from './helpers/tiny-seeds.js';
import { seedFixture, TEST_SIZE } from './helpers/seed-fixture.js';

const size = TEST_SIZE;
const { o, models } = seedFixture('flow-seeds-rest-', ['qwen2', 'qwen3', 't5']);

describe('the other seed recipes on tiny models, end to end', () => {
  it.each(['qwen25-qlora', 'qwen3-lora', 'qwen3-full', 'qwen3-full-tp', 't5-small'])('%s', async (seed) => {
    const r = await runSeed(seed, models[SEEDS[seed]!.arch]!, size, o);
    expect(r.run.code, `${r.run.stderr}\n${failures(r.run.events)}`).toBe(0);
    // train always runs (its key holds the recipe's own settings); data is shared, and the three
    // qwen3 recipes may predict the same text on so short a training, so their eval may be reused.
    expect(r.steps.train).toBe('done');
    for (const s of ['data', 'predict', 'eval']) expect(r.steps[s]).toMatch(/^(done|cached)$/);
    expect(stepLog(r.run.events, 'train')).toMatch(/load check: the saved .* reproduces the trained model's logits/);
    expect(r.eval!.count.all).toBe(75);
  }, 900_000);
});
