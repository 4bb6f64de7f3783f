// Every shipped recipe is valid, and the GPU-only ones stop at plan time on a
// machine without CUDA with a message naming the step and the option.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sandbox } from './engine/cli.js';

const recipes = readdirSync(join(ROOT, 'recipes')).filter((f) => f.endsWith('.yml'));
const cpuOnly = { FLOW_ASSUME_GPU: '0' };

describe('seed recipes', () => {
  it.each(recipes)('%s validates', async (file) => {
    const r = await sandbox().flow(['validate', join(ROOT, 'recipes', file)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it.each([
    ['qwen25-qlora.yml', 'finetuning: qlora needs a CUDA GPU'],
    ['qwen3-lora.yml', 'deepspeed: zero3 needs a CUDA GPU'],
    ['qwen3-full.yml', 'deepspeed: zero2 needs a CUDA GPU'],
    ['qwen3-full-tp.yml', 'needs a CUDA GPU'],
    ['codellama-13b-lora.yml', 'bf16: true needs a CUDA GPU'],
  ])('%s fails at plan time without CUDA', async (file, message) => {
    const r = await sandbox().flow(['plan', join(ROOT, 'recipes', file)], { env: cpuOnly });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error: .*recipes/${file}:\\d+:\\d+: steps\\.train: python:sft: .*${message}`));
  });
});
